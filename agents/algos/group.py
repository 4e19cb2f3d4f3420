"""The part the critic-free group methods share (grpo.py, rloo.py, turn_grpo.py, gigpo.py): each turn's advantage
comes from comparing episodes of one group (G episodes from the same start, collected by the trainer: see
``Trainer.episode_specs``), then a token-level clipped policy-gradient update over the iteration's utterances.

Every token of a turn carries its turn's advantage; the loss is PPO's clipped surrogate (``ppo.clipped_surrogate``
machinery: ratio to the sampled log-probs, ``epochs`` passes over shuffled minibatches, dropout off so the first
ratio is exactly 1), optionally plus ``kl_coef`` times the k3 estimator of KL(pi || pi_sft) per token
(Schulman 2020; as DeepSeekMath's GRPO and TRL put it in the loss rather than in the reward).

The loss normaliser (``loss_norm``, documented because it changes what multi-turn training optimises):

- ``"token"`` (default): sum over the minibatch's tokens / number of tokens (DAPO's token-level mean, TRL's
  ``loss_type="dapo"``). Each token weighs the same whatever its turn's length.
- ``"sequence"``: mean over utterances of each utterance's token mean (the original GRPO's per-sequence mean).
  Every utterance weighs 1, so a token of a long utterance weighs less than a token of a short one (Dr. GRPO's
  length bias). Normalised per *trajectory* (one sequence per episode, as multi-turn GRPO implementations that
  concatenate the turns do), a long failed episode's tokens would each get a smaller push away from failure: the
  bias against long failed episodes. Here a sequence is one turn, which removes the episode-length part.
- ``"constant"``: sum over tokens / (minibatch utterances x ``max_new_tokens``) (Dr. GRPO): unbiased in length,
  the step size independent of how many tokens the minibatch happens to hold.

``update`` returns (means over the iteration's minibatches): ``pg_loss`` (the normalised loss, return units x
log-prob), ``clip_frac`` (fraction of tokens whose ratio left [1 - clip, 1 + clip]), ``approx_kl`` (token mean of
old - new log-prob, nats), ``entropy`` (nats per token), ``kl_sft`` (k3 KL to the SFT policy, nats per token; only
with ``kl_coef > 0``), and over the iteration's utterances ``advantage_mean`` / ``advantage_std`` and
``zero_advantage_frac`` (utterances whose group gave no signal: every member alike).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from agents.algos.base import ActorAlgorithm
from agents.algos.common import adam, clip_step, masked_mean, minibatches, ref_logp, reference_copy, returns_to_go
from agents.models import ModelConfig

LOSS_NORMS = ("token", "sequence", "constant")


@dataclass
class GroupConfig:
    group_size: int = 8              # G episodes from the same start per group (trajectories per iteration / G groups)
    gamma: float = 0.95              # discount between turns (turn-level methods, GiGPO's step returns)
    normalize_std: bool = True       # divide the centred advantage by the group's std (+ eps)
    lr: float = 1e-4
    clip: float = 0.2
    epochs: int = 1                  # passes over the iteration's utterances
    minibatch_size: int = 64         # utterances per gradient step
    kl_coef: float = 0.0             # KL(pi || pi_sft) penalty in the loss (k3 estimator per token); 0: no reference
    loss_norm: str = "token"         # "token" | "sequence" | "constant" (module docstring)
    max_grad_norm: float = 1.0
    eps: float = 1e-6

    def __post_init__(self):
        if self.group_size < 2:
            raise ValueError(f"group_size={self.group_size} must be >= 2 (a group baseline needs two episodes)")
        if not 0.0 < self.clip < 1.0:
            raise ValueError(f"clip={self.clip} must be in (0, 1)")
        if self.loss_norm not in LOSS_NORMS:
            raise ValueError(f"loss_norm={self.loss_norm!r}; choose one of {list(LOSS_NORMS)}")
        if self.kl_coef < 0:
            raise ValueError(f"kl_coef={self.kl_coef} must be >= 0")


def groups_of(episodes: list, g: int) -> list[list]:
    """The trainer's consecutive groups of ``g`` (checked: one start per group)."""
    if len(episodes) % g:
        raise ValueError(f"{len(episodes)} episodes do not split into groups of {g}")
    out = [episodes[i : i + g] for i in range(0, len(episodes), g)]
    for grp in out:
        if len({(ep.seed, ep.target) for ep in grp}) != 1:
            raise ValueError("a group's episodes do not share one start; were they collected with episode groups?")
    return out


def centre(x: Tensor, normalize_std: bool, eps: float) -> Tensor:
    """(x - mean(x)) [/ (std(x) + eps)] over one group ``[n]``; std unbiased (torch default), 0 for n = 1."""
    a = x - x.mean()
    if normalize_std and x.numel() > 1:
        a = a / (x.std() + eps)
    return a


def step_group_advantages(returns_to_go: list[list[float]], keys: list[list], normalize_std: bool,
                          eps: float) -> list[list[float]]:
    """Per episode, per turn: the turn's return-to-go centred (``centre``) among the group's turns with the same key
    (``keys[i][t]``: turn_grpo's turn index, GiGPO's observation); a turn alone with its key gets 0 (no comparison).
    ``returns_to_go`` and ``keys`` are ragged ``[G][T_i]``."""
    members: dict = {}
    for i, ks in enumerate(keys):
        for t, k in enumerate(ks):
            members.setdefault(k, []).append((i, t))
    out = [[0.0] * len(g) for g in returns_to_go]
    for group in members.values():
        if len(group) < 2:
            continue
        a = centre(torch.tensor([returns_to_go[i][t] for i, t in group], dtype=torch.float64), normalize_std, eps)
        for (i, t), a_it in zip(group, a.tolist()):
            out[i][t] = a_it
    return out


def episode_returns(group: list, gamma: float) -> list[list[float]]:
    """Per episode of a group, each turn's discounted return-to-go."""
    return [returns_to_go([t.reward for t in ep.transitions], gamma) for ep in group]


def policy_loss(logp: Tensor, old_logp: Tensor, adv: Tensor, mask: Tensor, clip: float, loss_norm: str,
                max_tokens: int, kl: Tensor | None = None, kl_coef: float = 0.0) -> Tensor:
    """Token-level clipped surrogate, normalised by ``loss_norm``. ``logp``, ``old_logp``, ``mask``: ``[B, T]``;
    ``adv``: ``[B]`` (a turn's advantage on each of its tokens); ``kl``: ``[B, T]`` per-token KL estimate or None.
    per-token term: -min(r A, clip(r, 1-eps, 1+eps) A) + kl_coef * kl, r = exp(logp - old_logp)."""
    ratio = torch.exp(logp - old_logp)
    a = adv[:, None]
    term = -torch.minimum(ratio * a, ratio.clamp(1.0 - clip, 1.0 + clip) * a)
    if kl is not None:
        term = term + kl_coef * kl
    m = mask.to(term.dtype)
    if loss_norm == "token":
        return (term * m).sum() / m.sum().clamp(min=1.0)
    if loss_norm == "sequence":
        return ((term * m).sum(1) / m.sum(1).clamp(min=1.0)).mean()
    return (term * m).sum() / (m.shape[0] * max_tokens)


def k3_kl(logp: Tensor, ref: Tensor) -> Tensor:
    """Per-token k3 estimate of KL(pi || pi_ref): exp(ref - logp) - (ref - logp) - 1 (>= 0, unbiased)."""
    d = ref - logp
    return torch.exp(d) - d - 1.0


class GroupPolicyGradient(ActorAlgorithm):
    """The shared update; a subclass gives ``advantages(episodes) -> per episode, per turn advantage``."""

    def __init__(self, actor, cfg: GroupConfig, model_cfg=None, *, seed: int, temperature: float = 1.0):
        super().__init__(actor, seed=seed, temperature=temperature)
        self.cfg = cfg
        self.opt = adam(actor.model, cfg.lr)
        self.ref = reference_copy(actor) if cfg.kl_coef > 0 else None
        self.max_tokens = (model_cfg or ModelConfig()).max_new_tokens  # the "constant" normaliser

    def advantages(self, episodes: list) -> list[list[float]]:
        raise NotImplementedError

    def update(self, episodes, buffer, iteration: int) -> dict[str, float]:
        cfg = self.cfg
        adv_per_ep = self.advantages(episodes)
        rows = []  # (prompt ids, action ids, sampled log-probs, advantage) per utterance
        for ep, advs in zip(episodes, adv_per_ep):
            prompts = self.actor.build_prompt_ids([t.observation for t in ep.transitions])
            rows += [(p, t.action_ids, torch.tensor(t.log_probs), a) for p, t, a in zip(prompts, ep.transitions, advs)]
        device = self.actor.device
        pad = lambda xs: torch.nn.utils.rnn.pad_sequence(xs, batch_first=True).to(device)  # noqa: E731
        acc = {"pg_loss": [], "clip_frac": [], "approx_kl": [], "entropy": [], "kl_sft": []}
        for _ in range(cfg.epochs):
            for idx in minibatches(len(rows), cfg.minibatch_size, self.gen):
                mb = [rows[i] for i in idx.tolist()]
                prompts, acts = [r[0] for r in mb], [r[1] for r in mb]
                old = pad([r[2] for r in mb])
                adv = torch.tensor([r[3] for r in mb], dtype=torch.float32, device=device)
                kl = None
                self.actor.model.train()
                s = self.actor.score(prompts, acts)
                if self.ref is not None:
                    with torch.no_grad():
                        ref = ref_logp(self.actor, self.ref, prompts, acts)
                    kl = k3_kl(s.logp, ref)
                loss = policy_loss(s.logp, old, adv, s.mask, cfg.clip, cfg.loss_norm, self.max_tokens, kl, cfg.kl_coef)
                clip_step(self.opt, loss, self.actor.model.parameters(), cfg.max_grad_norm)
                self.actor.model.eval()
                with torch.no_grad():
                    ratio = torch.exp(s.logp - old)
                    acc["clip_frac"].append(masked_mean(((ratio - 1).abs() > cfg.clip).float(), s.mask).item())
                    acc["approx_kl"].append(masked_mean(old - s.logp, s.mask).item())
                    if kl is not None:
                        acc["kl_sft"].append(masked_mean(kl, s.mask).item())
                acc["pg_loss"].append(loss.item())
                acc["entropy"].append(masked_mean(s.entropy, s.mask).item())
        flat = [a for advs in adv_per_ep for a in advs]
        stats = {k: float(np.mean(v)) for k, v in acc.items() if v}
        stats.update(advantage_mean=float(np.mean(flat)), advantage_std=float(np.std(flat)),
                     zero_advantage_frac=float(np.mean([abs(a) < 1e-8 for a in flat])))
        return stats

    def modules(self):
        m = {"actor": self.actor.model}
        if self.ref is not None:
            m["ref"] = self.ref
        return m

    def optimizers(self):
        return {"actor": self.opt}
