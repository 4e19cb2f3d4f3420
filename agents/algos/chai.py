"""CHAI (Verma et al. 2022) as the ArCHer paper runs it: the SFT actor stays frozen; to act, sample k
utterances and take the one with the highest min(Q1, Q2) of the TARGET critic, trained as ArCHer's.

As in the reference (YifeiZhou02/ArCHer ``archer/models/chai_agent.py``): the pick reads the target critic,
and the critic's V is regressed on Q' of CHAI's own pick (its best-of-k), so the critic evaluates the CHAI
policy rather than the SFT actor. Deviation: the critic starts from ArCHer's cached offline warm-up (the SFT
policy's values on the start data, agents.start.warm_start_critic) instead of from scratch, so CHAI's
first picks already mean something; the budget and the start data are the same as ArCHer's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from agents.algos.critic_learner import CriticConfig, CriticLearner
from agents.algos.base import ActorAlgorithm
from agents.algos.registry import register
from agents.policy import SampleOutput


@dataclass
class CHAIConfig:
    k: int = 5
    critic: CriticConfig = field(default_factory=CriticConfig)  # the critic ArCHer trains (critic_learner.py)

    def __post_init__(self):
        if self.k < 1:
            raise ValueError(f"k={self.k} must be >= 1")


def best_of_k(scores: Tensor, k: int) -> Tensor:
    """``scores`` ``[B * k]`` (candidates of row b at b*k .. b*k+k-1) -> chosen flat index per row ``[B]``."""
    return scores.view(-1, k).argmax(1) + torch.arange(scores.numel() // k, device=scores.device) * k


@register("chai", CHAIConfig, uses_buffer=True, critic_warmup=True, gamma="critic.gamma", cost=6, compare=True,
          tune=("k", [3, 5, 10]), summary="CHAI: the frozen SFT actor picks the best of k samples by the critic's Q")
class CHAI(ActorAlgorithm):
    name = "chai"
    greedy_differs = False

    def __init__(self, actor, cfg: CHAIConfig, model_cfg, *, seed: int, temperature: float = 1.0):
        super().__init__(actor, seed=seed, temperature=temperature)
        self.cfg = cfg
        actor.model.requires_grad_(False)
        self.learner = CriticLearner(cfg.critic, model_cfg, actor, self.np_rng)
        self.critic_learner = self.learner

    def _pick(self, observations: list[str], gen: torch.Generator) -> SampleOutput:
        k = self.cfg.k
        rep = [o for o in observations for _ in range(k)]
        cand = self.actor.sample(rep, temperature=self.temperature, generator=gen)
        with torch.no_grad():
            q1, q2 = self.learner.target.q(rep, cand.texts)
        idx = best_of_k(torch.minimum(q1, q2), k).tolist()
        return SampleOutput([cand.texts[i] for i in idx], [cand.action_ids[i] for i in idx],
                            [cand.log_probs[i] for i in idx], [cand.prompt_ids[i] for i in idx])

    def act(self, observations):
        return self._pick(observations, self.gen)

    def eval_act(self, observations, greedy: bool):
        return self._pick(observations, self.eval_gen)

    def update(self, episodes, buffer, iteration: int) -> dict[str, float]:
        # V's fresh action is CHAI's own pick: the critic evaluates the best-of-k policy it acts with.
        return self.learner.update(buffer, lambda obs: self._pick(obs, self.gen).texts)

    def modules(self):
        return {"actor": self.actor.model, "critic": self.learner.critic, "critic_target": self.learner.target}

    def optimizers(self):
        return {"critic": self.learner.opt}
