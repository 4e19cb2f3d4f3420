"""ArCHer (Zhou et al. 2024, "ArCHer: Training Language Model Agents via Hierarchical Multi-Turn RL").

High level: an utterance-level double critic trained off-policy from the replay buffer (Sec. 4.2):

    Q_k(s, a)  <-  r + gamma * (1 - terminated) * V'_k(s')                 (eq. 2, k = 1, 2)
    V_k(s)     <-  Q'_k(s, a~),   a~ ~ pi(.|s) freshly sampled from the current actor
    V', Q': target copies, Polyak-averaged: theta' <- tau theta + (1 - tau) theta'

Low level: a token-level policy gradient whose reward is the critic's utterance advantage (eq. 4)

    A(s, a) = min(Q_1, Q_2)(s, a) - min(V_1, V_2)(s)
    pg_loss = -mean_i [ A_i * sum_t log pi(a_i,t | s_i, a_i,<t) ]

on the freshest on-policy utterances.

Default deviation, measured (``advantage="td"``; ``advantage="q"`` is the paper's eq. 4 exactly): the
advantage of an on-policy utterance is read from the same critic as the one-step TD advantage

    A(s, a) = r + gamma * (1 - terminated) * min(V_1, V_2)(s') - min(V_1, V_2)(s)

whose expectation over the reply s' is eq. 4 when Q and V agree. Q(s, a) must *predict* the
reply (is this guess right? does this question split the candidates?); the TD form reads the reply
the env actually gave. On 496 (state, utterance) pairs of the SFT policy on TwentyQuestionsSubset
with Monte-Carlo ground truth (bench/critic_quality.py), the warm-up critic's Q - V correlates 0.10 with
the true advantage within a state, the TD form 0.75 (0.23 and 0.73 before the fused-GELU tiny model);
with "q" the tiny-model actor drifts to guessing (docs/results).
The critic itself (both Q and V, targets, fresh actor samples) is trained exactly as above.

``token_baseline=True`` is the paper's variant with a
token-level baseline b(s, a_<t) (a value model over token prefixes regressed on A, Sec. 4.3):
pg_loss = -mean_i [ sum_t (A_i - b_i,t) log pi(a_i,t | ...) ]. Truncation bootstraps through V'(s');
termination does not.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_model, save_model
from torch import Tensor
from tqdm import tqdm

from agents.algos.base import ActorAlgorithm
from agents.algos.common import Batch, TokenValueModel, adam, clip_step, masked_mean
from agents.critic import make_target, polyak_update
from agents.distributed import shard
from agents.models import ModelConfig, make_critic


ADVANTAGES = ("q", "td")


@dataclass
class ArcherConfig:
    gamma: float = 0.95
    critic_lr: float = 1e-3
    actor_lr: float = 1e-4
    baseline_lr: float = 1e-3
    tau: float = 0.1                 # Polyak weight of the online critic, per critic step
    critic_updates: int = 10         # critic gradient steps per iteration
    actor_updates: int = 8           # actor gradient steps per iteration (the paper: 3 of batch 256)
    batch_size: int = 64
    actor_batch_size: int = 128      # 8 x 128: each fresh utterance of a 64-episode iteration is used about twice
    warmup_iterations: int = 2       # critic-only iterations before the actor moves (after the offline warm-up)
    critic_warmup_steps: int = 500   # offline TD steps on the SFT data set before the first iteration (cached)
    buffer_capacity: int = 50_000
    max_grad_norm: float = 1.0
    advantage_clip: float = 5.0      # |A| cap: a young critic's outliers must not wreck the actor
    token_baseline: bool = False
    # Centre the iteration's advantages before the policy gradient. Not in the paper: a young
    # critic's V lags its Q (both chase targets), which offsets every advantage the same way;
    # centring removes that offset so early actor steps do not push down every sampled utterance.
    # (No scaling: an uninformative critic then gives small steps rather than unit-size noise.)
    center_advantage: bool = True
    # How the utterance advantage of an on-policy transition (s, a, r, s') is read from the critic:
    #   "q":  min(Q1,Q2)(s, a) - min(V1,V2)(s)                      (the paper's eq. 4)
    #   "td": r + gamma * (1 - terminated) * min(V1,V2)(s') - min(V1,V2)(s)   (one-step TD advantage)
    # "td" uses the reply the env actually gave, so the critic need not predict it (see module docstring).
    advantage: str = "td"

    def __post_init__(self):
        if self.advantage not in ADVANTAGES:
            raise ValueError(f"advantage={self.advantage!r}; choose one of {list(ADVANTAGES)}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma={self.gamma} must be in (0, 1]")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"tau={self.tau} must be in (0, 1]")


def q_targets(rewards: Tensor, terminated: Tensor, next_v: Tensor, gamma: float) -> Tensor:
    """r + gamma * (1 - terminated) * V'(s'): bootstraps through truncation, not termination."""
    return rewards + gamma * (1.0 - terminated) * next_v


def critic_losses(critic, target, batch: Batch, fresh_actions: list[str], gamma: float) -> tuple[Tensor, Tensor, dict]:
    """(q_loss, v_loss, stats) of the double critic on one replay batch."""
    with torch.no_grad():
        tv1, tv2 = target.v(batch.next_observations)
        tq1, tq2 = target.q(batch.observations, fresh_actions)
        y1 = q_targets(batch.rewards, batch.terminated, tv1, gamma)
        y2 = q_targets(batch.rewards, batch.terminated, tv2, gamma)
    q1, q2, v1, v2 = critic(batch.observations, batch.actions)
    q_loss = F.mse_loss(q1, y1) + F.mse_loss(q2, y2)
    v_loss = F.mse_loss(v1, tq1) + F.mse_loss(v2, tq2)
    return q_loss, v_loss, {"q_mean": torch.minimum(q1, q2).mean().item(), "v_mean": torch.minimum(v1, v2).mean().item()}


def advantage(critic, observations: list[str], actions: list[str]) -> Tensor:
    """A = min(Q1, Q2)(s, a) - min(V1, V2)(s), no grad, ``[B]``."""
    with torch.no_grad():
        q1, q2, v1, v2 = critic(observations, actions)
        return torch.minimum(q1, q2) - torch.minimum(v1, v2)


def td_advantage(critic, transitions, gamma: float) -> Tensor:
    """A = r + gamma * (1 - terminated) * min(V1, V2)(s') - min(V1, V2)(s), no grad, ``[B]``.
    Truncation bootstraps through V(s'); termination does not."""
    device = next(critic.parameters()).device
    rewards = torch.tensor([t.reward for t in transitions], dtype=torch.float32, device=device)
    terminated = torch.tensor([float(t.terminated) for t in transitions], device=device)
    with torch.no_grad():
        v = torch.minimum(*critic.v([t.observation for t in transitions]))
        next_v = torch.minimum(*critic.v([t.next_observation for t in transitions]))
    return q_targets(rewards, terminated, next_v, gamma) - v


def utterance_advantages(critic, transitions, cfg: "ArcherConfig", chunk: int = 256) -> Tensor:
    """The advantage of each transition's utterance, by ``cfg.advantage``, clipped to ``cfg.advantage_clip``."""
    parts = []
    for i in range(0, len(transitions), chunk):
        part = transitions[i : i + chunk]
        if cfg.advantage == "td":
            parts.append(td_advantage(critic, part, cfg.gamma))
        else:
            parts.append(advantage(critic, [t.observation for t in part], [t.action for t in part]))
    return torch.cat(parts).clamp(-cfg.advantage_clip, cfg.advantage_clip)


def pg_loss(logp: Tensor, mask: Tensor, adv: Tensor) -> Tensor:
    """-mean_i sum_t adv_i,t log pi(a_i,t): ``logp``, ``mask`` ``[B, T]``, ``adv`` ``[B]`` or ``[B, T]``."""
    if adv.dim() == 1:
        adv = adv[:, None]
    return -((adv * logp) * mask).sum(1).mean()


class CriticLearner:
    """ArCHer's critic half: replay sampling, fresh actor actions, TD updates, Polyak targets.
    Shared by ArCHer and CHAI."""

    def __init__(self, cfg: ArcherConfig, model_cfg: ModelConfig, actor, rng: np.random.Generator):
        self.cfg = cfg
        self.critic = make_critic(model_cfg, actor)
        self.target = make_target(self.critic)
        self.opt = adam(self.critic, cfg.critic_lr)
        self.rng = rng

    def update(self, buffer, sample_actions, steps: int | None = None, rng: np.random.Generator | None = None,
               progress: bool = False) -> dict[str, float]:
        """``steps`` (default ``critic_updates``) TD steps on uniform replay batches; mean statistics."""
        steps = self.cfg.critic_updates if steps is None else steps
        rng = self.rng if rng is None else rng
        stats = {"q_loss": 0.0, "v_loss": 0.0, "q_mean": 0.0, "v_mean": 0.0}
        device = next(self.critic.parameters()).device
        for _ in tqdm(range(steps), desc="critic warm-up", unit="step", disable=not progress, leave=False):
            batch = Batch.of(buffer.sample(self.cfg.batch_size, rng), device)
            fresh = sample_actions(batch.observations)
            q_loss, v_loss, s = critic_losses(self.critic, self.target, batch, fresh, self.cfg.gamma)
            clip_step(self.opt, q_loss + v_loss, self.critic.parameters(), self.cfg.max_grad_norm)
            polyak_update(self.critic, self.target, self.cfg.tau)
            for k, v in (("q_loss", q_loss.item()), ("v_loss", v_loss.item()), *s.items()):
                stats[k] += v / steps
        return stats

    def warm_start(self, data, actor, steps: int, cache: Path, progress: bool = False) -> None:
        """Offline critic warm-up: ``steps`` TD steps on ``data()`` (a replay of the SFT data set) with the SFT actor's
        fresh samples and fixed seeds, cached at ``cache`` so every run of every seed starts from the
        same critic, as every method starts from the same SFT actor."""
        names = {"critic": self.critic, "critic_target": self.target}
        if (cache / "critic.safetensors").exists():
            for name, module in names.items():
                load_model(module, str(cache / f"{name}.safetensors"))
            return
        gen = torch.Generator(device=actor.device).manual_seed(0)
        stats = self.update(data(), lambda obs: actor.sample(obs, generator=gen).texts, steps=steps,
                            rng=np.random.default_rng(0), progress=progress)
        # Parallel runs (compare.py) may warm up at once: each writes its own temp dir, the first rename wins.
        tmp = cache.with_name(f"{cache.name}.tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        for name, module in names.items():
            save_model(module, str(tmp / f"{name}.safetensors"))
        (tmp / "warmup.json").write_text(json.dumps({"steps": steps, **stats}))
        try:
            os.replace(tmp, cache)
        except OSError:  # another process finished first; its result is identical (same data and seeds)
            shutil.rmtree(tmp, ignore_errors=True)
        self.opt = adam(self.critic, self.cfg.critic_lr)  # the online phase starts with fresh moments


class Archer(ActorAlgorithm):
    name = "archer"
    uses_buffer = True

    def __init__(self, actor, cfg: ArcherConfig, model_cfg: ModelConfig, *, seed: int, temperature: float = 1.0):
        super().__init__(actor, seed=seed, temperature=temperature)
        self.cfg = cfg
        self.learner = CriticLearner(cfg, model_cfg, actor, self.np_rng)
        self.critic_learner = self.learner
        self.actor_opt = adam(actor.model, cfg.actor_lr)
        self.baseline = TokenValueModel(actor) if cfg.token_baseline else None
        self.baseline_opt = adam(self.baseline, cfg.baseline_lr) if self.baseline is not None else None

    def update(self, episodes, buffer, iteration: int) -> dict[str, float]:
        stats = self.learner.update(buffer, self.fresh_actions)
        stats.update(pg_loss=float("nan"), advantage_mean=float("nan"), advantage_std=float("nan"),
                     entropy=float("nan"), baseline_loss=float("nan"))
        if iteration < self.cfg.warmup_iterations:
            return stats
        trans = [t for ep in episodes for t in ep.transitions]
        device = self.actor.device
        # Advantages of this iteration's fresh utterances under the current critic, computed once.
        adv_all = utterance_advantages(self.learner.critic, trans, self.cfg)
        raw_mean, raw_std = adv_all.mean().item(), adv_all.std().item() if adv_all.numel() > 1 else 0.0
        if self.cfg.center_advantage:
            adv_all = adv_all - adv_all.mean()
        acc = {"pg_loss": [], "entropy": [], "baseline_loss": []}
        for _ in range(self.cfg.actor_updates):
            # One gradient step on a random minibatch of the fresh utterances.
            idx = shard(torch.randperm(len(trans), generator=self.gen)[: self.cfg.actor_batch_size])
            batch = Batch.of([trans[i] for i in idx], device)
            adv = adv_all[idx.to(adv_all.device)]
            prompts = self.actor.build_prompt_ids(batch.observations)
            self.actor.model.train()
            scores = self.actor.score(prompts, batch.action_ids)
            token_adv = adv
            if self.baseline is not None:
                b = self.baseline(prompts, batch.action_ids)  # [B, T]
                b_loss = masked_mean((b - adv[:, None]) ** 2, scores.mask)
                clip_step(self.baseline_opt, b_loss, self.baseline.parameters(), self.cfg.max_grad_norm)
                token_adv = adv[:, None] - b.detach()
                acc["baseline_loss"].append(b_loss.item())
            loss = pg_loss(scores.logp, scores.mask, token_adv)
            clip_step(self.actor_opt, loss, self.actor.model.parameters(), self.cfg.max_grad_norm)
            self.actor.model.eval()
            acc["pg_loss"].append(loss.item())
            acc["entropy"].append(masked_mean(scores.entropy, scores.mask).item())
        stats.update(advantage_mean=raw_mean, advantage_std=raw_std)
        stats.update({k: float(np.mean(v)) for k, v in acc.items() if v})
        return stats

    def modules(self):
        m = {"actor": self.actor.model, "critic": self.learner.critic, "critic_target": self.learner.target}
        if self.baseline is not None:
            m["baseline"] = self.baseline
        return m

    def optimizers(self):
        o = {"actor": self.actor_opt, "critic": self.learner.opt}
        if self.baseline_opt is not None:
            o["baseline"] = self.baseline_opt
        return o
