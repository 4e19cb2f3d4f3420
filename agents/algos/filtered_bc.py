"""Online filtered behaviour cloning (the ArCHer paper's "Filtered BC" baseline; Chen et al. 2021's %BC, run
online): imitate the trajectories whose return is in the top ``top_fraction`` of ALL trajectories collected so
far, as the reference does (YifeiZhou02/ArCHer ``offpolicy_train_loop.py``: a 0.9-quantile cutoff over every
trajectory, then ``actor_epochs`` steps of ``batch_size`` samples drawn from the kept ones).

``pool="iteration"`` filters only the current iteration's trajectories (this project's version before issue 20).
Deviation: ``updates`` steps of ``batch_size`` utterances per iteration (the reference's ratio: 3 x 256 per 128
trajectories is 6 per trajectory; 6 x 64 per 64 here), cross-entropy token-mean as in SFT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from agents.algos.base import ActorAlgorithm
from agents.algos.common import adam, clip_step
from agents.algos.registry import register
from agents.distributed import shard


@dataclass
class FilteredBCConfig:
    top_fraction: float = 0.1
    lr: float = 3e-4
    updates: int = 6                 # gradient steps per iteration
    batch_size: int = 64             # utterances per step, drawn uniformly from the kept trajectories
    max_grad_norm: float = 1.0
    pool: str = "all"                # "all": every trajectory so far (the reference); "iteration": this one's only
    buffer_capacity: int = 2_000_000  # transitions the trainer's replay keeps: every trajectory of any CPU budget

    def __post_init__(self):
        if not 0.0 < self.top_fraction <= 1.0:
            raise ValueError(f"top_fraction={self.top_fraction} must be in (0, 1]")
        if self.pool not in ("all", "iteration"):
            raise ValueError(f"pool={self.pool!r}; choose 'all' or 'iteration'")


def top_fraction(returns: list[float], fraction: float) -> list[int]:
    """Indices of the episodes whose return reaches the (1 - fraction) quantile of ``returns`` (ties all kept, as
    the reference's ``>= cutoff``), at least one."""
    if not returns:
        raise ValueError("filtered BC has no whole episode to filter (is the replay smaller than one episode?)")
    cutoff = float(np.quantile(np.asarray(returns, dtype=float), 1.0 - fraction))
    return [i for i, r in enumerate(returns) if r >= cutoff]


# uses_buffer: the trainer's replay holds every trajectory so far (and checkpoints it).
@register("filtered_bc", FilteredBCConfig, uses_buffer=True, gamma=None, cost=2, compare=True,
          tune=("lr", [1e-4, 3e-4, 1e-3]),
          summary="online filtered BC: imitate the top 10% of every trajectory so far")
class FilteredBC(ActorAlgorithm):
    name = "filtered_bc"

    def __init__(self, actor, cfg: FilteredBCConfig, model_cfg=None, *, seed: int, temperature: float = 1.0):
        super().__init__(actor, seed=seed, temperature=temperature)
        self.cfg = cfg
        self.opt = adam(actor.model, cfg.lr)

    def update(self, episodes, buffer, iteration: int) -> dict[str, float]:
        pool = buffer.episodes() if self.cfg.pool == "all" else [ep.transitions for ep in episodes]
        returns = [sum(t.reward for t in ep) for ep in pool]
        kept_idx = top_fraction(returns, self.cfg.top_fraction)
        trans = [t for i in kept_idx for t in pool[i]]
        losses = []
        for _ in range(self.cfg.updates):
            idx = shard(torch.randint(len(trans), (self.cfg.batch_size,), generator=self.gen))
            mb = [trans[i] for i in idx.tolist()]
            self.actor.model.train()
            logp, mask = self.actor.log_probs(self.actor.build_prompt_ids([t.observation for t in mb]),
                                              [t.action_ids for t in mb])
            loss = -(logp * mask).sum() / mask.sum()
            clip_step(self.opt, loss, self.actor.model.parameters(), self.cfg.max_grad_norm)
            self.actor.model.eval()
            losses.append(loss.item())
        return {"bc_loss": float(np.mean(losses)), "kept_episodes": float(len(kept_idx)),
                "kept_mean_return": float(np.mean([returns[i] for i in kept_idx])),
                "cutoff_return": float(min(returns[i] for i in kept_idx))}

    def modules(self):
        return {"actor": self.actor.model}

    def optimizers(self):
        return {"actor": self.opt}
