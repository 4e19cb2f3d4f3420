"""Supervised fine-tuning of the actor on scripted-policy episodes: the starting point of every method.

    python -m agents.sft --env archer/TwentyQuestionsSubset-v0 --out runs/sft

1. Play episodes with a per-turn mixture of the task's ``expert`` and ``random`` scripted policies
   (``expert_prob`` of turns by the expert), so the SFT policy is competent but clearly below the
   expert, as the paper's SFT checkpoints were. Recorded and written by the code of ``python -m archer_gym dataset``
   (:mod:`archer_gym.dataset`: one row per episode, with its chat messages and replies), as JSON Lines (``rows.jsonl``,
   which needs no ``datasets``), and read back from there for training.
2. For the embedded default, train a BPE tokenizer on that text and build a tiny GPT-2.
3. Fine-tune the actor on every (observation -> utterance + "\\n") pair, token-mean cross-entropy.

Results are cached under ``$ARCHER_GYM_CACHE`` (default ``~/.cache/archer_gym``), keyed by a hash of
the config, so the second run of anything starts in seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from tqdm import tqdm

import archer_gym
from archer_gym.dataset import load_episodes, record_episode, write_rows_jsonl
from archer_gym.evaluation import scripted_policy
from archer_gym.records import Episode, read_jsonl
from agents.models import ModelConfig, load_causal_lm, make_actor, plain_model
from agents.policy import Actor
from agents.tiny import build_tiny_actor, load_pretrained_bundle, save_pretrained_bundle, train_tokenizer

SFT_VERSION = 4  # bump when the recipe or its data change, so caches rebuild (3: length-sorted micro-batches,
# agents.batching; 4: Guess My City's knowledge base no longer names Shanghai in "Shanghainese", so its scripted
# episodes changed, issue 15)
#: The bundle's data: its scripted episodes as archer_gym.dataset rows (the columns of ``python -m archer_gym
#: dataset``), JSON Lines. Bundles built before held the same episodes, in the same order, as Episode records in
#: ``data.jsonl``: only the storage changed, the episodes and so the actor did not (tests/test_agents.py checks the
#: rows give back exactly the episodes the old writer wrote), so SFT_VERSION stayed and those cached bundles are
#: still valid; :func:`sft_episodes` reads either.
DATA_FILE = "rows.jsonl"
LEGACY_DATA_FILE = "data.jsonl"


@dataclass
class SFTConfig:
    env_id: str = "archer/TwentyQuestionsSubset-v0"
    episodes: int = 2000
    expert_prob: float = 0.75
    epochs: int = 4
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)

    def __post_init__(self):
        archer_gym.get_spec(self.env_id)  # clear error listing the ids
        if not 0.0 <= self.expert_prob <= 1.0:
            raise ValueError(f"expert_prob={self.expert_prob} must be in [0, 1]")
        if self.episodes < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError("episodes, epochs and batch_size must be >= 1")

    #: ModelConfig fields that shape the SFT actor (critic and device settings do not).
    ACTOR_FIELDS = ("actor", "tiny_layers", "tiny_heads", "tiny_embd", "vocab_size", "max_prompt_tokens",
                    "max_new_tokens", "chat_template", "dtype")

    def key(self) -> str:
        d = asdict(self)
        model = self.model.cache_dict()
        d["model"] = {k: model[k] for k in self.ACTOR_FIELDS}
        if self.model.lora_r > 0:  # SFT with LoRA adapters (merged into the saved actor) is another actor
            lora = ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules")
            d["model"].update({k: getattr(self.model, k) for k in lora})
        d["version"] = SFT_VERSION
        if d["model"]["chat_template"] is not False:  # issue 16: chat prompts carry the instruction as a system message
            d["chat_prompt"] = "observation_messages"
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def cache_root() -> Path:
    return Path(os.environ.get("ARCHER_GYM_CACHE", Path.home() / ".cache" / "archer_gym"))


class MixturePolicy:
    """Each turn: the expert with probability ``expert_prob``, else the random policy."""

    def __init__(self, expert, rand, expert_prob: float, rng: np.random.Generator):
        self.expert, self.rand, self.p, self.rng = expert, rand, expert_prob, rng

    def __call__(self, observation: str) -> str:
        return self.expert(observation) if self.rng.random() < self.p else self.rand(observation)


def generate_rows(env_id: str, episodes: int, expert_prob: float, seed: int, progress: bool = True) -> list[dict]:
    """Scripted episodes on the train split, episode i seeded ``seed * 1_000_003 + i``, as dataset rows
    (:func:`archer_gym.dataset.record_episode`); the mixture's random choices from one generator seeded ``seed``."""
    env = gym.make(env_id, split="train")
    rng = np.random.default_rng(seed)
    rows = []
    for i in tqdm(range(episodes), desc="SFT data", unit="ep", disable=not progress, leave=False):
        pol = MixturePolicy(scripted_policy(env, "expert", rng), scripted_policy(env, "random", rng), expert_prob, rng)
        rows.append(record_episode(env, pol, seed=seed * 1_000_003 + i, env_id=env_id,
                                   policy_name=f"mix{expert_prob}", split="train"))
    env.close()
    return rows


def sft_episodes(directory: str | os.PathLike) -> list[Episode]:
    """The scripted episodes an SFT bundle's actor was trained on, in training order: its ``rows.jsonl``, or the
    ``data.jsonl`` of a bundle built before the rows (the same episodes as Episode records)."""
    directory = Path(directory)
    if (directory / DATA_FILE).exists():
        return load_episodes(directory / DATA_FILE)
    if (directory / LEGACY_DATA_FILE).exists():
        return list(read_jsonl(directory / LEGACY_DATA_FILE))
    raise FileNotFoundError(f"no SFT data at {directory} ({DATA_FILE}, or {LEGACY_DATA_FILE} of an older bundle); "
                            f"run `python -m agents.sft --out {directory}` first")


def stop_suffix(tokenizer) -> list[int]:
    """Token ids of the utterance terminator ("\\n") as the tokenizer writes it after an utterance."""
    return tokenizer.encode("\n", add_special_tokens=False)[-1:]


def utterance_pairs(actor: Actor, episodes: list[Episode]) -> tuple[list[list[int]], list[list[int]]]:
    """(prompt ids, action ids + stop) for every transition."""
    obs = [t.observation for ep in episodes for t in ep.transitions]
    acts = [t.action for ep in episodes for t in ep.transitions]
    prompts = actor.build_prompt_ids(obs)
    stop = stop_suffix(actor.tokenizer)
    actions = [actor.tokenizer.encode(a, add_special_tokens=False) + stop for a in acts]
    return prompts, actions


def supervised_epochs(actor: Actor, prompts, actions, *, epochs: int, batch_size: int, lr: float, seed: int,
                      progress: bool = True, weights: list[float] | None = None) -> list[float]:
    """Token-mean cross-entropy on (prompt, action) pairs; returns the loss per epoch. Shared by SFT and BC."""
    opt = torch.optim.AdamW(actor.model.parameters(), lr=lr, weight_decay=0.0)
    g = np.random.default_rng(seed)
    losses = []
    actor.model.train()
    for epoch in range(epochs):
        order = g.permutation(len(prompts))
        total, n = 0.0, 0
        bar = tqdm(range(0, len(order), batch_size), desc=f"SFT epoch {epoch + 1}/{epochs}", unit="batch",
                   disable=not progress, leave=False)
        for start in bar:
            idx = order[start : start + batch_size]
            logp, mask = actor.log_probs([prompts[i] for i in idx], [actions[i] for i in idx])
            loss = -(logp * mask).sum() / mask.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(actor.model.parameters(), 1.0)
            opt.step()
            total, n = total + loss.item(), n + 1
            bar.set_postfix(loss=f"{total / n:.3f}")
        losses.append(total / max(n, 1))
    actor.model.eval()
    return losses


def run_sft(cfg: SFTConfig, out: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Build (or fetch from cache) the SFT actor for ``cfg``; returns the directory holding it.

    The directory has ``actor/`` (model + tokenizer, safetensors), ``rows.jsonl`` (the data, :data:`DATA_FILE`) and
    ``sft.json``.
    """
    cached = cache_root() / "sft" / cfg.key()
    if (cached / "sft.json").exists():
        if out is not None and Path(out).resolve() != cached.resolve():
            shutil.copytree(cached, out, dirs_exist_ok=True)
            return Path(out)
        return cached
    t0 = time.time()
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    rows = generate_rows(cfg.env_id, cfg.episodes, cfg.expert_prob, cfg.seed, progress)
    # Processes may build the same SFT actor at once (pytest -n 2, compare.py's parallel runs): each writes its own
    # temp dir and the first rename wins; the builds are identical (same data and seeds).
    tmp = cached.with_name(f"{cached.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write_rows_jsonl(rows, tmp / DATA_FILE)
        # The actor learns from the data as stored, so the bundle's rows are what it was trained on.
        episodes = load_episodes(tmp / DATA_FILE)
        losses, utterances = train_actor(cfg, episodes, tmp / "actor", progress)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    info = {"config": asdict(cfg), "losses": losses, "utterances": utterances, "seconds": time.time() - t0,
            "data_mean_return": float(np.mean([e.ret for e in episodes])), "data": DATA_FILE}
    (tmp / "sft.json").write_text(json.dumps(info, indent=2))
    if cached.exists() and not (cached / "sft.json").exists():
        shutil.rmtree(cached)  # an incomplete bundle of an older version
    try:
        os.replace(tmp, cached)
    except OSError:  # another process finished the same build first
        shutil.rmtree(tmp, ignore_errors=True)
    return run_sft(cfg, out, progress)


def train_actor(cfg: SFTConfig, episodes: list[Episode], actor_dir: Path, progress: bool) -> tuple[list[float], int]:
    """Steps 2 and 3 of the module docstring on ``episodes``; the actor saved to ``actor_dir``. Returns the loss per
    epoch and the number of utterances trained on."""
    if cfg.model.actor == "tiny":
        corpus = [ep.transitions[-1].next_observation for ep in episodes]
        corpus += [t.action for ep in episodes for t in ep.transitions]
        tokenizer = train_tokenizer(corpus, vocab_size=cfg.model.vocab_size)
        model = build_tiny_actor(tokenizer, n_layer=cfg.model.tiny_layers, n_head=cfg.model.tiny_heads,
                                 n_embd=cfg.model.tiny_embd, n_positions=cfg.model.max_prompt_tokens + cfg.model.max_new_tokens + 8)
    else:
        model, tokenizer = load_causal_lm(cfg.model.actor, cfg.model.dtype)
    actor = make_actor(model, tokenizer, cfg.model)
    prompts, actions = utterance_pairs(actor, episodes)
    losses = supervised_epochs(actor, prompts, actions, epochs=cfg.epochs, batch_size=cfg.batch_size,
                               lr=cfg.lr, seed=cfg.seed, progress=progress)
    # With LoRA the adapters are merged: the SFT actor is a plain model; RL adds fresh adapters on top.
    save_pretrained_bundle(actor_dir, plain_model(actor.model), actor.tokenizer)
    return losses, len(prompts)


def load_sft_actor(directory: str | os.PathLike, model_cfg: ModelConfig) -> Actor:
    path = Path(directory) / "actor"
    if not path.exists():
        raise FileNotFoundError(f"no SFT actor at {path}; run `python -m agents.sft --out {directory}` first")
    model, tokenizer = load_pretrained_bundle(path)
    return make_actor(model, tokenizer, model_cfg)


def main(argv=None) -> int:
    from archer_gym.cli import ArgumentParser, nonnegative_int, positive_int

    p = ArgumentParser(prog="python -m agents.sft", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default=SFTConfig.env_id, help="env id, e.g. archer/TwentyQuestionsSubset-v0")
    p.add_argument("--out", default=None, help="copy the SFT bundle here (it is cached either way)")
    p.add_argument("--episodes", type=positive_int, default=SFTConfig.episodes)
    p.add_argument("--expert-prob", type=float, default=SFTConfig.expert_prob)
    p.add_argument("--epochs", type=positive_int, default=SFTConfig.epochs)
    p.add_argument("--actor", default="tiny", help="'tiny', 'smollm2', or a Hugging Face causal LM name/path")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-episodes", type=nonnegative_int, default=100, help="greedy eval episodes after training (0: skip)")
    a = p.parse_args(argv)
    try:
        cfg = SFTConfig(env_id=a.env, episodes=a.episodes, expert_prob=a.expert_prob, epochs=a.epochs, seed=a.seed,
                        model=ModelConfig(actor=a.actor))
        if a.out is not None and Path(a.out).exists() and not Path(a.out).is_dir():
            raise ValueError(f"--out {a.out} is a file, not a directory")
        looks_local = a.actor.startswith((".", "/", "~")) or a.actor.endswith(".gguf")
        if a.actor not in ("tiny", "smollm2") and looks_local and not Path(a.actor).expanduser().exists():
            raise ValueError(f"--actor {a.actor}: no such file or directory (or give 'tiny', 'smollm2' or a hub name)")
    except ValueError as e:
        p.error(e)
    path = run_sft(cfg, a.out)
    print(f"SFT actor: {path / 'actor'}")
    if a.eval_episodes:
        from agents.evaluate import evaluate_actor
        actor = load_sft_actor(path, cfg.model)
        res = evaluate_actor(actor, cfg.env_id, episodes=a.eval_episodes, greedy=True)
        print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
