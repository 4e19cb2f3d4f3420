"""GiGPO (Feng et al. 2025, "Group-in-Group Policy Optimization for LLM Agent Training"): a two-level group
advantage. Episode level: GRPO's trajectory advantage over the group. Step level: within a group, the turns taken
from IDENTICAL observations (anchor states, which episodes from one start revisit) form a step group, and each such
turn's discounted return-to-go is compared with the others of its step group:

    A^E_i   = R_i - mean_j R_j                           (/ std with normalize_std)
    A^S_i,t = G_i,t - mean_{(j,u): s_j,u = s_i,t} G_j,u   (/ std with normalize_std),  G: discounted return-to-go
    A_i,t   = A^E_i + step_weight * A^S_i,t

Read against verl-agent's ``gigpo`` core functions (``episode_norm_reward``, ``build_step_group``,
``step_norm_reward``, ``compute_step_discounted_returns``), written here without copying. Defaults as there:
``normalize_std=False`` ("mean_norm"), ``step_weight=1``. Deviations:
- a step group of one turn gets A^S = 0; verl-agent sets its mean 0 and std 1, so a lone turn's step advantage is
  its raw discounted return (a large uncentred term on a -1-per-turn task);
- anchors are exact string matches of the whole observation (verl-agent: exact, with an optional similarity
  threshold); in these tasks the observation is the full dialogue, so anchors are shared prefixes of play (the
  first turn's state always; later ones when episodes asked the same questions and got the same answers);
- update and loss normaliser: agents/algos/group.py (verl-agent: verl's PPO actor with its own normaliser).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from agents.algos.group import (
    GroupConfig, GroupPolicyGradient, centre, episode_returns, groups_of, step_group_advantages,
)
from agents.algos.registry import register


@dataclass
class GiGPOConfig(GroupConfig):
    normalize_std: bool = False      # verl-agent's default "mean_norm"
    step_weight: float = 1.0         # omega: weight of the step-level advantage


def gigpo_advantages(returns: list[float], observations: list[list[str]], returns_to_go: list[list[float]],
                     normalize_std: bool = False, step_weight: float = 1.0, eps: float = 1e-6) -> list[list[float]]:
    """One group: episode returns ``[G]``, each episode's observations and returns-to-go (ragged ``[G][T_i]``) ->
    per-episode, per-turn A^E + step_weight * A^S."""
    a_ep = centre(torch.tensor(returns, dtype=torch.float64), normalize_std, eps).tolist()
    a_step = step_group_advantages(returns_to_go, observations, normalize_std, eps)  # anchors: identical observations
    return [[a_ep[i] + step_weight * s for s in a_step[i]] for i in range(len(observations))]


@register("gigpo", GiGPOConfig, episode_groups=True, cost=2, compare=True,
          tune=("lr", [3e-5, 1e-4, 3e-4]),
          summary="GiGPO: episode-level group advantage plus step-level groups of identical observations")
class GiGPO(GroupPolicyGradient):
    def advantages(self, episodes):
        out = []
        for group in groups_of(episodes, self.cfg.group_size):
            out += gigpo_advantages([ep.ret for ep in group], [[t.observation for t in ep.transitions] for ep in group],
                                    episode_returns(group, self.cfg.gamma), self.cfg.normalize_std,
                                    self.cfg.step_weight, self.cfg.eps)
        return out
