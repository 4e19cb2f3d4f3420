"""RLOO (Kool et al. 2019 "Buy 4 REINFORCE samples, get a baseline for free"; Ahmadian et al. 2024): each episode's
baseline is the mean return of the OTHER G - 1 episodes of its group, so the baseline is independent of the
episode it scores and the gradient stays unbiased:

    A_i = R_i - (sum_j R_j - R_i) / (G - 1)  =  G / (G - 1) * (R_i - mean_j R_j)

Same for every turn and token of the episode; no std normalisation (``normalize_std`` is ignored, as in the
references). Deviations from the references (TRL ``RLOOTrainer``, verl ``compute_rloo_outcome_advantage``): the
episode is multi-turn, and the update is agents/algos/group.py's clipped token-level loss (TRL's RLOO also clips;
its REINFORCE form is ``epochs=1`` with on-policy minibatches, where the ratio is 1 on the first step).
"""

from __future__ import annotations

from agents.algos.group import GroupConfig, GroupPolicyGradient, groups_of
from agents.algos.registry import register


def rloo_advantages(returns: list[float]) -> list[float]:
    """One group's episode returns ``[G]`` (G >= 2) -> R_i minus the mean of the others."""
    total, g = sum(returns), len(returns)
    return [r - (total - r) / (g - 1) for r in returns]


# gamma=None: the advantage reads the undiscounted episode return; a preset's per-task gamma does not apply.
@register("rloo", GroupConfig, episode_groups=True, gamma=None, cost=2, compare=True,
          tune=("lr", [3e-5, 1e-4, 3e-4]),
          summary="RLOO: episode return minus the mean of the group's others")
class RLOO(GroupPolicyGradient):
    def advantages(self, episodes):
        out = []
        for group in groups_of(episodes, self.cfg.group_size):
            a = rloo_advantages([ep.ret for ep in group])
            out += [[a_i] * len(ep.transitions) for a_i, ep in zip(a, group)]
        return out
