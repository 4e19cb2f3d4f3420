"""Online filtered behaviour cloning: imitate the top fraction of each iteration's trajectories by return
(the paper's "Filtered BC" baseline; Chen et al. 2021's %BC, run online)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from agents.algos.base import ActorAlgorithm
from agents.algos.common import adam, clip_step, minibatches


@dataclass
class FilteredBCConfig:
    top_fraction: float = 0.1
    lr: float = 3e-4
    epochs: int = 2
    batch_size: int = 64
    max_grad_norm: float = 1.0

    def __post_init__(self):
        if not 0.0 < self.top_fraction <= 1.0:
            raise ValueError(f"top_fraction={self.top_fraction} must be in (0, 1]")


def top_fraction(episodes, fraction: float):
    """The ceil(fraction * n) episodes with the highest return (stable: earlier first on ties)."""
    k = max(1, math.ceil(fraction * len(episodes)))
    order = sorted(range(len(episodes)), key=lambda i: (-episodes[i].ret, i))
    return [episodes[i] for i in order[:k]]


class FilteredBC(ActorAlgorithm):
    name = "filtered_bc"
    uses_buffer = False

    def __init__(self, actor, cfg: FilteredBCConfig, *, seed: int, temperature: float = 1.0):
        super().__init__(actor, seed=seed, temperature=temperature)
        self.cfg = cfg
        self.opt = adam(actor.model, cfg.lr)

    def update(self, episodes, buffer, iteration: int) -> dict[str, float]:
        kept = top_fraction(episodes, self.cfg.top_fraction)
        trans = [t for ep in kept for t in ep.transitions]
        losses = []
        for _ in range(self.cfg.epochs):
            for idx in minibatches(len(trans), self.cfg.batch_size, self.gen):
                mb = [trans[i] for i in idx]
                self.actor.model.train()
                logp, mask = self.actor.log_probs(self.actor.build_prompt_ids([t.observation for t in mb]),
                                                  [t.action_ids for t in mb])
                loss = -(logp * mask).sum() / mask.sum()
                clip_step(self.opt, loss, self.actor.model.parameters(), self.cfg.max_grad_norm)
                self.actor.model.eval()
                losses.append(loss.item())
        return {"bc_loss": float(np.mean(losses)), "kept_episodes": float(len(kept)),
                "kept_mean_return": float(np.mean([e.ret for e in kept]))}

    def modules(self):
        return {"actor": self.actor.model}

    def optimizers(self):
        return {"actor": self.opt}
