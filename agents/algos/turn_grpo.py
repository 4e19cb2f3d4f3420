"""Turn-level GRPO (as MT-GRPO, Zeng et al. 2025, and turn-wise credit in multi-turn agent RL): each turn t of
episode i is scored by its discounted return-to-go, compared with the other episodes of its group AT THE SAME
TURN INDEX:

    G_i,t = sum_k gamma^k r_i,t+k
    A_i,t = (G_i,t - mean_j G_j,t) / (std_j G_j,t + eps),   j over the group's episodes still running at turn t

A turn only one episode of its group reached gets 0 (no comparison). So an early turn is credited with what
followed it, not with the whole episode's return, and late turns compete only with late turns.

Deviations: MT-GRPO adds turn-level verifiable rewards to an outcome reward; here the env's own per-turn rewards
(-1 per question in Twenty Questions) give the return-to-go, and groups are by turn index alone (GiGPO, gigpo.py,
groups by identical state instead). Update and loss normaliser: agents/algos/group.py.
"""

from __future__ import annotations

from agents.algos.group import (
    GroupConfig, GroupPolicyGradient, episode_returns, groups_of, step_group_advantages,
)
from agents.algos.registry import register


def turn_advantages(returns_to_go: list[list[float]], normalize_std: bool = True, eps: float = 1e-6) -> list[list[float]]:
    """One group's per-episode returns-to-go (ragged ``[G][T_i]``) -> per-episode, per-turn advantages."""
    return step_group_advantages(returns_to_go, [list(range(len(g))) for g in returns_to_go], normalize_std, eps)


@register("turn_grpo", GroupConfig, episode_groups=True, cost=2, compare=True,
          tune=("lr", [3e-5, 1e-4, 3e-4]),
          summary="turn-level GRPO: each turn's return-to-go normalised within its group at the same turn index")
class TurnGRPO(GroupPolicyGradient):
    def advantages(self, episodes):
        out = []
        for group in groups_of(episodes, self.cfg.group_size):
            out += turn_advantages(episode_returns(group, self.cfg.gamma), self.cfg.normalize_std, self.cfg.eps)
        return out
