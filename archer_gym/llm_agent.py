"""Any LLM behind an OpenAI-compatible endpoint as the agent (issue 16, item 1).

    python -m archer_gym evaluate archer/TwentyQuestionsSubset-v0 --policy openai --model M \\
        --base-url http://127.0.0.1:8000/v1 --episodes 20 --split eval --json

**Prompt** (the same for every task): the env's own chat messages (:mod:`archer_gym.chat`: system = the task's
instruction, assistant = the agent's earlier utterances, user = the replies and, for Detective and WebShop, the
room or page), with :data:`FORMAT_HINT` appended to the system message. The agent's utterance is the first non-empty
line of the completion (an env reads one line per turn).

**Requests** go through the oracle client, :class:`archer_gym.oracles.openai_backend.OpenAIBackend`: the same
per-attempt deadline (``--timeout``), retries with backoff and ``Retry-After`` (``--max-attempts``), and one-line
errors naming the endpoint. Episodes run concurrently, ``--concurrency`` at a time, each in its own env; the episodes
and their targets are those of ``evaluate --policy expert`` with the same ``--seed`` and ``--split``, so the summary
(mean return, 95% CI, success rate, per-target returns) is comparable row for row.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym

from archer_gym.chat import chat_messages
from archer_gym.evaluation import EVAL_SEED, eval_starts, run_episode, summarize
from archer_gym.records import Episode

#: Appended to the system message: an env reads one utterance per turn.
FORMAT_HINT = "Reply with your next utterance only, on one line, with no explanation."


@dataclass
class AgentConfig:
    """How the LLM agent is called; recorded in the summary (``sampling``) so a figure can be rerun.

    ``model``: the name the endpoint serves; ``base_url``: e.g. ``http://127.0.0.1:8000/v1`` (None: the openai
    client's default); ``api_key_env``: the environment variable holding the key (None: ``$OPENAI_API_KEY`` or a
    dummy that local servers accept); ``temperature`` (0: greedy), ``max_tokens`` per utterance, ``seed`` (sent
    when not None); ``timeout`` (s, a deadline per attempt), ``max_attempts`` (first included), ``concurrency``
    (episodes in flight).
    """

    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    temperature: float = 0.0
    max_tokens: int = 64
    seed: int | None = None
    timeout: float = 60.0
    max_attempts: int = 5
    concurrency: int = 4

    def __post_init__(self):
        if not self.model:
            raise ValueError("--policy openai needs --model <the model name the endpoint serves>")
        if self.api_key_env is not None and not os.environ.get(self.api_key_env):
            raise ValueError(f"--api-key-env {self.api_key_env}: that environment variable is not set")
        if self.temperature < 0 or self.max_tokens < 1 or self.timeout <= 0 or self.max_attempts < 1 \
                or self.concurrency < 1:
            raise ValueError(f"temperature={self.temperature} must be >= 0; max_tokens={self.max_tokens}, "
                             f"max_attempts={self.max_attempts} and concurrency={self.concurrency} >= 1; "
                             f"timeout={self.timeout} > 0")

    def sampling(self) -> dict[str, Any]:
        """What the summary records (never the key)."""
        d = asdict(self)
        d.pop("api_key_env")
        return d


def agent_messages(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The request for the next utterance: the env's chat messages with :data:`FORMAT_HINT` on the system message."""
    out = [dict(m) for m in messages]
    out[0]["content"] = out[0]["content"] + "\n\n" + FORMAT_HINT
    return out


def utterance(completion: str) -> str:
    """The first non-empty line of a completion, stripped (``""`` if there is none: an empty, costly turn)."""
    return next((line.strip() for line in completion.splitlines() if line.strip()), "")


class OpenAIAgent:
    """Plays episodes with an LLM behind an OpenAI-compatible endpoint, through the oracle's client."""

    def __init__(self, cfg: AgentConfig):
        from archer_gym.oracles.openai_backend import DUMMY_API_KEY, OpenAIBackend

        self.cfg = cfg
        # Not the oracle's $ARCHER_ORACLE_API_KEY: the agent's key is --api-key-env's variable, else $OPENAI_API_KEY.
        api_key = os.environ[cfg.api_key_env] if cfg.api_key_env else os.environ.get("OPENAI_API_KEY") or DUMMY_API_KEY
        # concurrency=1 inside: one request per episode at a time; the episodes are the parallel axis.
        self.backend = OpenAIBackend(cfg.model, base_url=cfg.base_url, api_key=api_key, timeout=cfg.timeout,
                                     max_attempts=cfg.max_attempts, concurrency=1, max_tokens=cfg.max_tokens,
                                     temperature=cfg.temperature, seed=cfg.seed, label="agent endpoint")
        self.usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self._lock = threading.Lock()

    def act(self, messages: list[dict[str, str]]) -> str:
        c = self.backend.complete_one(agent_messages(messages))
        with self._lock:  # episodes run in several threads
            self.usage["requests"] += 1
            self.usage["prompt_tokens"] += c.prompt_tokens
            self.usage["completion_tokens"] += c.completion_tokens
        return utterance(c.text)

    def play(self, env: gym.Env, *, seed: int | None, target: str, env_id: str) -> Episode:
        """One episode, each turn prompted with the episode so far as chat messages (``info["messages"]``)."""
        return run_episode(env, lambda obs: self.act(chat_messages(env)), seed=seed, options={"target": target},
                           env_id=env_id, policy_name=f"openai:{self.cfg.model}")

    def close(self) -> None:
        self.backend.close()


def evaluate_openai(env_id: str, cfg: AgentConfig, *, episodes: int = 20, split: str = "eval", seed: int = EVAL_SEED,
                    progress: bool = False, **env_kwargs: Any) -> tuple[dict, list[Episode]]:
    """Summary (as ``evaluate_scripted``'s, plus ``sampling``, ``prompt`` and ``usage``) and the episodes, on the
    starts every policy is evaluated on (:func:`archer_gym.evaluation.eval_starts`)."""
    starts = eval_starts(env_id, episodes, seed, split, **env_kwargs)
    agent = OpenAIAgent(cfg)
    envs = [gym.make(env_id, split=split, **env_kwargs) for _ in range(min(cfg.concurrency, episodes))]
    free = list(envs)

    def one(i: int) -> Episode:
        env = free.pop()  # list.pop/append are atomic; the pool never runs more tasks than envs
        try:
            return agent.play(env, seed=starts[i][0], target=starts[i][1]["target"], env_id=env_id)
        finally:
            free.append(env)

    try:
        with ThreadPoolExecutor(len(envs), thread_name_prefix="archer-agent") as pool:
            it = pool.map(one, range(episodes))
            if progress:
                from tqdm import tqdm
                it = tqdm(it, total=episodes, desc=f"openai:{cfg.model} on {env_id}", unit="ep")
            eps = list(it)
    finally:
        agent.close()
        for env in envs:
            env.close()
    out = summarize(eps)
    out.update(env_id=env_id, policy=f"openai:{cfg.model}", split=split, seed=seed, sampling=cfg.sampling(),
               prompt=f"archer_gym.chat messages + system hint {FORMAT_HINT!r}", usage=dict(agent.usage))
    return out, eps
