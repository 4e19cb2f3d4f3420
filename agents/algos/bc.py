"""BC: the SFT policy evaluated as is, on the same budget and evaluation as every method (the starting line)."""

from __future__ import annotations

from dataclasses import dataclass

from agents.algos.base import ActorAlgorithm
from agents.algos.registry import register


@dataclass
class BCConfig:
    pass


@register("bc", BCConfig, gamma=None, cost=1, compare=True, tune=("", [None]),
          summary="the SFT policy evaluated as is (the starting line)")
class BC(ActorAlgorithm):
    name = "bc"

    def __init__(self, actor, cfg: BCConfig, model_cfg=None, *, seed: int, temperature: float = 1.0):
        super().__init__(actor, seed=seed, temperature=temperature)
        self.cfg = cfg

    def update(self, episodes, buffer, iteration: int) -> dict[str, float]:
        return {}

    def modules(self):
        return {"actor": self.actor.model}

    def optimizers(self):
        return {}
