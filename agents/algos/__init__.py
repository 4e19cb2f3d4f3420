"""Each algorithm is its losses and its update rule; the one outer loop lives in :mod:`agents.trainer`.

The table of algorithms is :mod:`agents.algos.registry`: each module below registers its class with
``@register(name, Config, ...)``, and everything that lists algorithms (the CLI, compare.py, the presets, the sweep)
reads the table. A user's algorithm registers the same way from its own file (docs/add_an_algorithm.md).

| name                | module                              | config           | replay | critic warm-up |
|---------------------|-------------------------------------|------------------|--------|----------------|
| ``archer``          | archer.py                           | ArcherConfig     | yes    | yes            |
| ``archer_baseline`` | archer.py (``token_baseline=True``) | ArcherConfig     | yes    | yes            |
| ``ppo``             | ppo.py                              | PPOConfig        | no     | no             |
| ``filtered_bc``     | filtered_bc.py                      | FilteredBCConfig | yes    | no             |
| ``chai``            | chai.py                             | CHAIConfig       | yes    | yes            |
| ``bc``              | bc.py                               | BCConfig         | no     | no             |
| ``grpo``            | grpo.py (+ group.py)                | GroupConfig      | no     | no (groups)    |
| ``rloo``            | rloo.py (+ group.py)                | GroupConfig      | no     | no (groups)    |
| ``turn_grpo``       | turn_grpo.py (+ group.py)           | GroupConfig      | no     | no (groups)    |
| ``gigpo``           | gigpo.py (+ group.py)               | GiGPOConfig      | no     | no (groups)    |

"(groups)": the trainer collects each iteration as groups of ``group_size`` episodes from the same start.
ArCHer and CHAI share one critic learner (critic_learner.py: ``CriticConfig``, the double critic's losses, its
updates and the cached offline warm-up); CHAI's config holds a ``CriticConfig`` under ``critic``.
"""

from __future__ import annotations

# Imported in this order, so the table (and the CLI choices, the comparison's method order) keeps it.
from agents.algos import archer, ppo, filtered_bc, chai, bc  # noqa: F401,E401  (each registers itself)
from agents.algos import grpo, rloo, turn_grpo, gigpo  # noqa: F401,E401  (critic-free group methods)
from agents.algos.registry import AlgoSpec, load_plugins, names, register, spec, specs  # noqa: F401


def __getattr__(attr: str):
    # ALGOS and CONFIGS are read when asked, so a plugin registered after this import is in them.
    if attr == "ALGOS":
        return names()
    if attr == "CONFIGS":
        return {n: s.config for n, s in specs().items()}
    raise AttributeError(f"module 'agents.algos' has no attribute {attr!r}")


def default_config(algo: str):
    """A fresh config of ``algo`` with its registered defaults."""
    return spec(algo).default_config()


def check_algo(algo: str) -> None:
    spec(algo)


def build_algorithm(algo: str, actor, cfg, model_cfg, *, seed: int, temperature: float = 1.0):
    """The one constructor signature of every algorithm (agents.algos.registry)."""
    return spec(algo).cls(actor, cfg, model_cfg, seed=seed, temperature=temperature)
