"""Each algorithm is its losses and its update rule; the one outer loop lives in :mod:`agents.trainer`.

| name              | module          | config             |
|-------------------|-----------------|--------------------|
| ``archer``        | archer.py       | ArcherConfig       |
| ``archer_baseline`` | archer.py (token_baseline=True) | ArcherConfig |
| ``ppo``           | ppo.py          | PPOConfig          |
| ``filtered_bc``   | filtered_bc.py  | FilteredBCConfig   |
| ``chai``          | chai.py         | CHAIConfig         |
| ``bc``            | bc.py           | BCConfig           |
"""

from __future__ import annotations

from agents.algos.archer import Archer, ArcherConfig
from agents.algos.bc import BC, BCConfig
from agents.algos.chai import CHAI, CHAIConfig
from agents.algos.filtered_bc import FilteredBC, FilteredBCConfig
from agents.algos.ppo import PPO, PPOConfig

ALGOS = ("archer", "archer_baseline", "ppo", "filtered_bc", "chai", "bc")

CONFIGS = {
    "archer": ArcherConfig, "archer_baseline": ArcherConfig, "ppo": PPOConfig,
    "filtered_bc": FilteredBCConfig, "chai": CHAIConfig, "bc": BCConfig,
}


def default_config(algo: str):
    check_algo(algo)
    cfg = CONFIGS[algo]()
    if algo == "archer_baseline":
        cfg.token_baseline = True
    return cfg


def check_algo(algo: str) -> None:
    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; choose one of {', '.join(ALGOS)}")


def build_algorithm(algo: str, actor, cfg, model_cfg, *, seed: int, temperature: float = 1.0):
    check_algo(algo)
    if algo in ("archer", "archer_baseline"):
        return Archer(actor, cfg, model_cfg, seed=seed, temperature=temperature)
    if algo == "chai":
        return CHAI(actor, cfg, model_cfg, seed=seed, temperature=temperature)
    cls = {"ppo": PPO, "filtered_bc": FilteredBC, "bc": BC}[algo]
    return cls(actor, cfg, seed=seed, temperature=temperature)
