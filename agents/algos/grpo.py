"""GRPO (Shao et al. 2024, DeepSeekMath, Sec. 4.1) for multi-turn episodes: trajectory-level group-relative
advantage, the same for every turn and token of an episode:

    A_i = (R_i - mean_j R_j) / (std_j R_j + eps)       R_i: episode i's undiscounted return, j over its group

(``normalize_std=False``: R_i - mean, Dr. GRPO). Loss: the token-level clipped surrogate of agents/algos/group.py,
optional KL to the SFT policy in the loss, ``loss_norm`` documented there.

Deviations from the reference trainers (TRL ``GRPOTrainer``, verl ``compute_grpo_outcome_advantage``), which score
one prompt -> one completion: here a "completion" is a whole multi-turn episode, played by the trainer; the
ratio is per turn's tokens against the log-probs sampled in that turn; ``loss_norm="token"`` by default (TRL's
current default family, "dapo"), not the original per-sequence mean; KL off by default (as TRL's ``beta=0``).
"""

from __future__ import annotations

import torch

from agents.algos.group import GroupConfig, GroupPolicyGradient, centre, groups_of
from agents.algos.registry import register


def grpo_advantages(returns: list[float], normalize_std: bool = True, eps: float = 1e-6) -> list[float]:
    """One group's episode returns ``[G]`` -> each episode's advantage."""
    return centre(torch.tensor(returns, dtype=torch.float64), normalize_std, eps).tolist()


# gamma=None: the advantage reads the undiscounted episode return; a preset's per-task gamma does not apply.
@register("grpo", GroupConfig, episode_groups=True, gamma=None, cost=2, compare=True,
          tune=("lr", [3e-5, 1e-4, 3e-4]),
          summary="GRPO: episode return minus its group's mean (/ std)")
class GRPO(GroupPolicyGradient):
    def advantages(self, episodes):
        out = []
        for group in groups_of(episodes, self.cfg.group_size):
            a = grpo_advantages([ep.ret for ep in group], self.cfg.normalize_std, self.cfg.eps)
            out += [[a_i] * len(ep.transitions) for a_i, ep in zip(a, group)]
        return out
