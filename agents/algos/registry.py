"""The one table of algorithms: each name with its config dataclass, its class and what it asks of the trainer.

Everything that lists algorithms reads it: ``agents.algos.ALGOS`` / ``build_algorithm``, the ``--algo`` choices of
``python -m agents.train``, ``baselines/presets.py`` (``METHODS``, ``GAMMA_FIELD``, the default comparison),
``baselines/compare.py`` (``--methods``, which runs wait for the critic warm-up, the order runs start in) and
``baselines/sweep.py`` (each method's tuning grid). A built-in algorithm registers with :func:`register` beside
its class; a user's algorithm does the same from its own file, loaded with ``--plugin path/to/file.py`` (or a
module name), see :func:`load_plugins` and docs/add_an_algorithm.md.

Every algorithm class is built the same way::

    cls(actor, cfg, model_cfg, *, seed: int, temperature: float) -> Algorithm   (agents.algos.common.Algorithm)

``model_cfg`` (agents.models.ModelConfig) is what an algorithm needs to build models beside the actor (ArCHer's
and CHAI's critic); the others ignore it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class AlgoSpec:
    """One row of the table."""

    name: str
    cls: type                       # built as cls(actor, cfg, model_cfg, seed=..., temperature=...)
    config: type                    # a dataclass; every field is settable with --algo-arg KEY=VALUE
    #: Config fields set differently from the dataclass's defaults (``archer_baseline``: ``token_baseline=True``).
    defaults: dict = field(default_factory=dict)
    #: The trainer keeps a replay buffer of every transition (capacity: the config's ``buffer_capacity``, or its
    #: ``critic.buffer_capacity``), checkpoints it, and hands it to ``update``.
    uses_buffer: bool = False
    #: The algorithm's utterance-level critic (``algorithm.critic_learner``) starts from the cached offline warm-up
    #: (agents.start.warm_start_critic); compare.py builds that warm-up before such runs start.
    critic_warmup: bool = False
    #: The trainer collects each iteration as groups of ``cfg.group_size`` episodes from the same start (same env
    #: seed, same target); the config must have a ``group_size`` field.
    episode_groups: bool = False
    #: Dotted path of the discount factor in the config (``"gamma"``, CHAI's ``"critic.gamma"``), or None when the
    #: method has none: presets set a task's gamma through it.
    gamma: str | None = "gamma"
    #: Relative cost of one run (higher: slower): compare.py starts the slowest runs first.
    cost: int = 3
    #: In the ``quick`` and ``paper`` comparisons by default (``--methods`` can name any registered algorithm).
    compare: bool = False
    #: The tuning sweep's grid: (config field, three values, the middle one the default), ``("", [None])`` for a
    #: method with nothing to tune, None to leave the method out of ``baselines/sweep.py``.
    tune: tuple[str, list] | None = None
    summary: str = ""               # one line for tables and --help

    def default_config(self):
        return self.config(**self.defaults)


_SPECS: dict[str, AlgoSpec] = {}


def register(name: str, config: type, **props: Any):
    """Class decorator: add ``name`` to the table (``props``: the fields of :class:`AlgoSpec`). Stack it to register
    one class under several names with different ``defaults``."""

    def wrap(cls: type) -> type:
        spec = AlgoSpec(name=name, cls=cls, config=config, **props)
        _check(spec)
        old = _SPECS.get(name)
        if old is not None and (old.cls.__module__, old.cls.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"algorithm {name!r} is already registered by {old.cls.__module__}.{old.cls.__qualname__}; "
                             "choose another name")
        _SPECS[name] = spec
        return cls

    return wrap


def _check(spec: AlgoSpec) -> None:
    if not spec.name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"algorithm name {spec.name!r}: use letters, digits, '_' and '-' (it names run directories)")
    if not dataclasses.is_dataclass(spec.config):
        raise TypeError(f"algorithm {spec.name!r}: config {spec.config!r} must be a dataclass")
    names = {f.name for f in dataclasses.fields(spec.config)}
    unknown = sorted(set(spec.defaults) - names)
    if unknown:
        raise ValueError(f"algorithm {spec.name!r}: defaults {unknown} are not fields of {spec.config.__name__}")
    if spec.episode_groups and "group_size" not in names:
        raise TypeError(f"algorithm {spec.name!r} asks for episode groups, so {spec.config.__name__} needs a "
                        "group_size field")
    if spec.gamma is not None:
        obj = spec.config()
        for part in spec.gamma.split("."):
            if not dataclasses.is_dataclass(obj) or part not in {f.name for f in dataclasses.fields(obj)}:
                raise ValueError(f"algorithm {spec.name!r}: gamma={spec.gamma!r} is not a field path of "
                                 f"{spec.config.__name__} (None if the method has no discount)")
            obj = getattr(obj, part)


def names() -> tuple[str, ...]:
    """Every registered algorithm, in registration order."""
    return tuple(_SPECS)


def spec(name: str) -> AlgoSpec:
    if name not in _SPECS:
        raise ValueError(f"unknown algorithm {name!r}; choose one of {', '.join(_SPECS)} "
                         "(or load your own with --plugin path/to/file.py)")
    return _SPECS[name]


def specs() -> dict[str, AlgoSpec]:
    return dict(_SPECS)


def load_plugins(plugins) -> None:
    """Import each plugin so its :func:`register` calls run: a ``.py`` file path or an importable module name.
    Each file is imported once per process (a second call is a no-op)."""
    for plugin in plugins:
        if plugin.endswith(".py") or "/" in plugin or "\\" in plugin:
            path = Path(plugin).expanduser().resolve()
            if not path.is_file():
                raise ValueError(f"plugin file {plugin!r} does not exist (pass a .py file or an importable module)")
            module_name = f"archer_gym_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
            if module_name in sys.modules:
                continue
            loader_spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[module_name] = module
            try:
                loader_spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[module_name]
                raise
        else:
            try:
                importlib.import_module(plugin)
            except ModuleNotFoundError as err:
                raise ValueError(f"plugin {plugin!r}: no such module ({err}); pass a .py file or an importable "
                                 "module name") from err
