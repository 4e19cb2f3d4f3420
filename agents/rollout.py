"""Batched rollouts: N envs in lockstep, ONE batched generate per turn over all unfinished envs.

The collector knows nothing of any task: it sees a :class:`archer_gym.TextVectorEnv` and an ``act``
function ``act(observations: list[str]) -> ActOutput`` (the actor's sampler, a greedy decoder, or
CHAI's best-of-k). It records utterance-level transitions with the exact token ids and log-probs of
each action and counts trajectories, environment steps and generated tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

from tqdm import tqdm

from archer_gym import Episode, TextVectorEnv, Transition


class ActOutput(Protocol):
    texts: list[str]
    action_ids: list[list[int]]
    log_probs: list  # per-utterance 1-D tensors or lists of floats


ActFn = Callable[[list[str]], ActOutput]


@dataclass
class EpisodeSpec:
    """How to start one episode: ``reset(seed=seed, options=options)``."""

    seed: int | None = None
    options: dict | None = None


@dataclass
class Counts:
    """Budgets are counted in these units, never in iterations alone."""

    trajectories: int = 0
    env_steps: int = 0
    tokens: int = 0

    def add(self, other: "Counts") -> None:
        self.trajectories += other.trajectories
        self.env_steps += other.env_steps
        self.tokens += other.tokens


@dataclass
class RolloutResult:
    episodes: list[Episode]
    counts: Counts = field(default_factory=Counts)


def _floats(x) -> list[float]:
    return [float(v) for v in (x.tolist() if hasattr(x, "tolist") else x)]


def collect(venv: TextVectorEnv, act: ActFn, specs: Sequence[EpisodeSpec], *, env_id: str = "",
            policy_name: str = "", progress: bool = False) -> RolloutResult:
    """Play one episode per spec, ``venv.num_envs`` at a time in lockstep; episodes come back in spec order.

    Each turn calls ``act`` once on the observations of every env whose episode is still running, and
    the vector env answers all their oracle requests in one batched call.
    """
    n_envs = venv.num_envs
    queue = list(enumerate(specs))
    episodes: list[Episode | None] = [None] * len(specs)
    slot_ep: list[int | None] = [None] * n_envs     # which spec index each env slot is playing
    obs: list[str | None] = [None] * n_envs
    counts = Counts()
    bar = tqdm(total=len(specs), desc=f"episodes ({policy_name or 'policy'})", unit="ep", disable=not progress,
               leave=False)

    def start(slot: int) -> None:
        if not queue:
            slot_ep[slot] = None
            return
        k, spec = queue.pop(0)
        o, _ = venv.reset_one(slot, seed=spec.seed, options=spec.options)
        env = venv.envs[slot]
        episodes[k] = Episode(env_id=env_id, target=str(env.target), seed=spec.seed, policy=policy_name)
        slot_ep[slot], obs[slot] = k, o

    for slot in range(n_envs):
        start(slot)
    while any(k is not None for k in slot_ep):
        active = [i for i in range(n_envs) if slot_ep[i] is not None]
        out = act([obs[i] for i in active])
        actions: list[str | None] = [None] * n_envs
        for j, i in enumerate(active):
            actions[i] = out.texts[j]
        results = venv.step(actions)
        for j, i in enumerate(active):
            nxt, r, term, trunc, info = results[i]
            ids = list(map(int, out.action_ids[j])) if out.action_ids is not None else None
            lps = _floats(out.log_probs[j]) if out.log_probs is not None else None
            ep = episodes[slot_ep[i]]
            ep.transitions.append(Transition(obs[i], out.texts[j], float(r), nxt, bool(term), bool(trunc), ids, lps))
            counts.env_steps += 1
            counts.tokens += len(ids) if ids is not None else 0
            obs[i] = nxt
            if term or trunc:
                ep.success = bool(info["episode"]["success"])
                counts.trajectories += 1
                bar.update(1)
                start(i)
    bar.close()
    return RolloutResult([e for e in episodes if e is not None], counts)
