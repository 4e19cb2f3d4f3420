"""A training run's configuration: :class:`TrainConfig` (with its :class:`~agents.models.ModelConfig` and
:class:`~agents.sft.SFTConfig`), the ``--algo-arg KEY=VALUE`` overrides of an algorithm's config, and the
``config.json`` a run writes (:func:`run_config_json`: the config as given plus the algorithm's resolved one)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field

import archer_gym
from agents.algos import check_algo, default_config, load_plugins, spec
from agents.models import ModelConfig
from agents.sft import SFTConfig


@dataclass
class TrainConfig:
    algo: str = "archer"
    env_id: str = "archer/TwentyQuestionsSubset-v0"
    trajectories: int = 3000          # budget, counted in trajectories
    rollout_trajectories: int = 64    # episodes collected per iteration
    num_envs: int = 32                # envs stepped in lockstep
    eval_every: int = 256             # trajectories between evaluations
    eval_episodes: int = 100
    eval_sampled: bool = True
    # At each evaluation, the first this many eval episodes of each acting mode go to <out>/episodes/ as the episode
    # viewer shows them (agents.view: dialogue, rewards, the critic's Q, V, A), so the page shows every checkpoint's.
    view_episodes: int = 3
    # Off-policy methods also keep the SFT data set in their replay. Off by default, measured: ArCHer's critic
    # then fits the scripted (mostly expert) episodes rather than the actor's own states, and ArCHer's
    # sampled eval return after 512 trajectories was -7.04 / -5.56 (seeds 0, 1) with it, -6.17 / -6.23 /
    # -6.45 / -6.05 (seeds 0-3) without it, from -7.59 (measured at e15d4a0, before the fused-GELU tiny
    # model). The critic's offline warm-up uses the SFT data either way.
    seed_buffer: bool = False
    # The start data: this many episodes of the SFT actor itself (sampling at temperature 1, train split, seeds
    # apart from training's), collected once and cached. A critic is warmed up on them, so it starts by evaluating
    # the policy it is to improve (issue 20: warmed up on the scripted SFT data instead, the critic valued
    # questions at -2.1 where the SFT actor's truth is -5.9). Not counted in any method's budget.
    start_episodes: int = 1000
    seed: int = 0
    temperature: float = 1.0
    threads: int = 0                  # torch intra-op threads (0: torch's default; N processes on CPU: cores / N)
    rollout_backend: str = "hf"       # "hf" (the actor's own sampler) or "vllm" (agents/vllm_backend.py, optional)
    out: str = "runs/archer"
    model: ModelConfig = field(default_factory=ModelConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    algo_config: dict = field(default_factory=dict)  # overrides of the algorithm's config fields
    # Files (or module names) imported before the algorithm is looked up: where a user's algorithm registers itself
    # (agents.algos.registry.load_plugins; docs/add_an_algorithm.md).
    plugins: list = field(default_factory=list)

    def __post_init__(self):
        load_plugins(self.plugins)
        check_algo(self.algo)
        archer_gym.get_spec(self.env_id)
        if self.rollout_trajectories < 1 or self.num_envs < 1 or self.eval_every < 1:
            raise ValueError("rollout_trajectories, num_envs and eval_every must be >= 1")
        if self.view_episodes < 0:
            raise ValueError(f"view_episodes={self.view_episodes} must be >= 0 (0: keep no eval episodes)")
        if self.rollout_backend not in ("hf", "vllm"):
            raise ValueError(f"rollout_backend={self.rollout_backend!r}; choose 'hf' or 'vllm'")
        if self.trajectories < self.rollout_trajectories:
            raise ValueError(f"trajectories={self.trajectories} is less than one iteration "
                             f"(rollout_trajectories={self.rollout_trajectories})")
        self.sft.env_id = self.env_id
        self.sft.model = self.model
        acfg = self.algorithm_config()  # validate overrides now, where they enter
        g = group_size(self.algo, acfg)
        if self.rollout_trajectories % g or self.trajectories % g:
            raise ValueError(f"{self.algo} collects groups of group_size={g} episodes: rollout_trajectories="
                             f"{self.rollout_trajectories} and trajectories={self.trajectories} must be multiples of it")

    def algorithm_config(self):
        cfg = default_config(self.algo)
        return apply_overrides(cfg, self.algo_config, f"--algo-arg for {self.algo}")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d.pop("algorithm", None)  # the resolved config written beside it (run_config_json), derived from the rest
        model = ModelConfig(**d.pop("model", {}))
        sft = d.pop("sft", {})
        sft.pop("model", None)
        return cls(model=model, sft=SFTConfig(model=model, **sft), **d)


def group_size(algo: str, acfg) -> int:
    """Episodes per group from one start: the config's ``group_size`` for algorithms registered with
    ``episode_groups=True``, else 1."""
    return acfg.group_size if spec(algo).episode_groups else 1


def apply_overrides(cfg, overrides: dict, where: str):
    """Set dataclass fields from ``{"a.b": value}`` (nested with dots), converting strings by field type."""
    for key, value in overrides.items():
        obj, parts = cfg, key.split(".")
        for i, p in enumerate(parts):
            if not dataclasses.is_dataclass(obj):
                raise ValueError(f"{where}: {'.'.join(parts[:i])} is not a config with fields, so {key!r} names nothing")
            names = {f.name: f for f in dataclasses.fields(obj)}
            if p not in names:
                raise ValueError(f"{where}: {type(obj).__name__} has no field {p!r}; fields: {sorted(names)}")
            if i < len(parts) - 1:
                obj = getattr(obj, p)
        current = getattr(obj, parts[-1])
        if isinstance(value, str) and not isinstance(current, str):
            value = parse_value(key, value, current, where)
        setattr(obj, parts[-1], value)
    if hasattr(cfg, "__post_init__"):
        try:
            cfg.__post_init__()
        except (ValueError, TypeError) as err:
            raise ValueError(f"{where}: {err}") from None
    return cfg


def parse_value(key: str, value: str, current, where: str):
    """``value`` (a string from the command line) as the type of the field's current value, or an error naming
    the key, the value and the type wanted."""
    if isinstance(current, bool):
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
        raise ValueError(f"{where}: {key}={value!r} is not a boolean; give true or false")
    kind = type(current) if current is not None else str
    if kind in (int, float):
        try:
            parsed = kind(value)
        except ValueError:
            raise ValueError(f"{where}: {key}={value!r} is not {'an integer' if kind is int else 'a number'}") from None
        if parsed != parsed or parsed in (float("inf"), float("-inf")):
            raise ValueError(f"{where}: {key}={value!r} must be a finite number")
        return parsed
    if kind in (list, tuple, dict):
        raise ValueError(f"{where}: {key} holds a {kind.__name__}, which --algo-arg cannot set")
    return kind(value)


def jsonable(cfg: TrainConfig) -> dict:
    return json.loads(json.dumps(asdict(cfg)))


def run_config_json(cfg: TrainConfig) -> dict:
    """A run's ``config.json``: the TrainConfig as given (``algo_config`` holds only the overrides) and, under
    ``"algorithm"``, the algorithm's whole resolved config (every hyper-parameter the run used, defaults included),
    so a reader of published results sees what made them. ``TrainConfig.from_dict`` ignores the latter."""
    return {**jsonable(cfg), "algorithm": json.loads(json.dumps(asdict(cfg.algorithm_config())))}
