"""The utterance-level critic's learner that ArCHer and CHAI share: its config, its losses, replay sampling with
fresh actions, TD updates, Polyak targets, and the cached offline warm-up (Zhou et al. 2024, Sec. 4.2):

    Q_k(s, a)  <-  r + gamma * (1 - done) * V'_k(s')                        (eq. 2, k = 1, 2)
    V_k(s)     <-  Q'_k(s, a~),   a~ ~ the policy the critic evaluates (ArCHer: its actor; CHAI: its best-of-k pick)
    V', Q': target copies, Polyak-averaged after every critic step: theta' <- tau theta + (1 - tau) theta'

The networks themselves (two Q heads, two V heads over a text encoder) are agents.critic.DoubleCritic, built by
agents.models.make_critic. ArCHer's config carries these fields flat beside its actor's (``--algo-arg
critic_lr=...``) and hands them over with :meth:`ArcherConfig.critic_config`; CHAI's config holds a
:class:`CriticConfig` under ``critic`` (``--algo-arg critic.critic_lr=...``).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_model, save_model
from torch import Tensor
from tqdm import tqdm

from agents.algos.common import Batch, adam, clip_step, returns_to_go
from agents.critic import make_target, polyak_update
from agents.models import ModelConfig, make_critic

#: torch's seed for the offline warm-up's initial critic weights (and any dropout draws during it).
WARMUP_SEED = 0
#: What the offline warm-up regresses Q on: "td", the paper's r + gamma V'(s'); "mc", each transition's discounted
#: return to the end of its episode (the start data are the SFT actor's own whole episodes, so this is the on-policy
#: Monte-Carlo target of the policy the critic evaluates: no bootstrap, no bias from a young V).
WARMUP_TARGETS = ("td", "mc")
#: Where the offline warm-up takes V's action from: "fresh", sampled from the policy the critic evaluates for every
#: minibatch (the paper); "logged", each start-data transition's own action, which that same policy sampled (the start
#: data are the SFT actor's own episodes), so no actor call per step.
WARMUP_V_ACTIONS = ("fresh", "logged")


@dataclass
class CriticConfig:
    gamma: float = 0.95
    critic_lr: float = 1e-3
    tau: float = 0.1                 # Polyak weight of the online critic, per critic step
    critic_updates: int = 20         # critic gradient steps per iteration: 20 samples per trajectory (the paper: 100)
    batch_size: int = 64             # critic minibatch (transitions sampled uniformly from the replay)
    critic_warmup_steps: int = 500   # offline critic steps on the start data (the SFT actor's own episodes; cached)
    buffer_capacity: int = 50_000
    max_grad_norm: float = 1.0
    cap_is_terminal: bool = True     # the turn cap ends the game: no bootstrap after it (as the reference)
    warmup_target: str = "td"        # the offline warm-up's Q target: "td" (the paper) or "mc" (see WARMUP_TARGETS)
    # > 0: the offline warm-up keeps an exponential moving average of the critic's weights with this decay per step
    # (bias-corrected early on) and ends by loading it into the critic and its target (see CriticLearner.warm_start).
    warmup_ema: float = 0.0
    warmup_v_actions: str = "fresh"  # V's action in the offline warm-up: "fresh" (the paper) or "logged" (see above)

    def __post_init__(self):
        if self.warmup_v_actions not in WARMUP_V_ACTIONS:
            raise ValueError(f"warmup_v_actions={self.warmup_v_actions!r}; choose one of {list(WARMUP_V_ACTIONS)}")
        if not 0.0 <= self.warmup_ema < 1.0:
            raise ValueError(f"warmup_ema={self.warmup_ema} must be in [0, 1) (0: off)")
        if self.warmup_target not in WARMUP_TARGETS:
            raise ValueError(f"warmup_target={self.warmup_target!r}; choose one of {list(WARMUP_TARGETS)}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma={self.gamma} must be in (0, 1]")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"tau={self.tau} must be in (0, 1]")


def q_targets(rewards: Tensor, done: Tensor, next_v: Tensor, gamma: float) -> Tensor:
    """r + gamma * (1 - done) * V'(s'), ``done`` 1.0 where no value follows s' (see :meth:`Batch.ends`)."""
    return rewards + gamma * (1.0 - done) * next_v


def critic_losses(critic, target, batch: Batch, fresh_actions: list[str], gamma: float,
                  cap_is_terminal: bool = True, q_target: Tensor | None = None) -> tuple[Tensor, Tensor, dict]:
    """(q_loss, v_loss, stats) of the double critic on one replay batch:
    q_loss = sum_k MSE(Q_k(s, a), r + gamma (1 - done) V'_k(s')), v_loss = sum_k MSE(V_k(s), Q'_k(s, a~)).
    ``q_target`` (``[B]``, e.g. Monte-Carlo returns) replaces both heads' TD targets."""
    with torch.no_grad():
        tq1, tq2 = target.q(batch.observations, fresh_actions)
        if q_target is None:
            tv1, tv2 = target.v(batch.next_observations)
            done = batch.ends(cap_is_terminal)
            y1 = q_targets(batch.rewards, done, tv1, gamma)
            y2 = q_targets(batch.rewards, done, tv2, gamma)
        else:
            y1 = y2 = q_target
    q1, q2, v1, v2 = critic(batch.observations, batch.actions)
    q_loss = F.mse_loss(q1, y1) + F.mse_loss(q2, y2)
    v_loss = F.mse_loss(v1, tq1) + F.mse_loss(v2, tq2)
    return q_loss, v_loss, {"q_mean": torch.minimum(q1, q2).mean().item(), "v_mean": torch.minimum(v1, v2).mean().item()}


class WeightAverage:
    """An exponential moving average of ``module``'s trainable weights, fed by calling it after each optimiser step
    (``average(step)``, step 0-based): ``avg <- d avg + (1 - d) w`` with ``d = min(decay, (1 + step) / (10 + step))``,
    the bias correction of TensorFlow's ExponentialMovingAverage, so the first steps do not leave the initial weights
    in the average. ``.module`` is the averaged copy (built with make_target: frozen, sharing what the critic shares
    with its target, such as a frozen pretrained encoder); its buffers follow the module's."""

    def __init__(self, module: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay={decay} must be in (0, 1)")
        self.source, self.decay = module, decay
        self.module = make_target(module)

    def __call__(self, step: int) -> None:
        # The Polyak step with the source's weight 1 - d (frozen weights, equal in both, are left alone).
        polyak_update(self.source, self.module, 1.0 - min(self.decay, (1 + step) / (10 + step)))


class CriticLearner:
    """The critic half: replay sampling, fresh actions from ``sample_actions``, TD updates, Polyak targets, and the
    cached offline warm-up. Shared by ArCHer and CHAI."""

    def __init__(self, cfg: CriticConfig, model_cfg: ModelConfig, actor, rng: np.random.Generator):
        self.cfg = cfg
        self._make_critic = lambda: make_critic(model_cfg, actor)
        self.critic = self._make_critic()
        self.target = make_target(self.critic)
        self.opt = adam(self.critic, cfg.critic_lr)
        self.rng = rng

    def update(self, buffer, sample_actions, steps: int | None = None, rng: np.random.Generator | None = None,
               progress: bool = False, returns: dict[int, float] | None = None, on_step=None) -> dict[str, float]:
        """``steps`` (default ``critic_updates``) TD steps on uniform replay batches; mean statistics. ``returns``
        (``id(transition) -> G``): regress Q on these Monte-Carlo returns instead of the TD targets.
        ``sample_actions=None``: V regresses on Q' of each transition's own action instead of a fresh one (only right
        when the replay was collected by the policy the critic evaluates, as the start data are). ``on_step(i)``
        is called after step ``i`` (0-based) and its Polyak update."""
        steps = self.cfg.critic_updates if steps is None else steps
        rng = self.rng if rng is None else rng
        stats = {"q_loss": 0.0, "v_loss": 0.0, "q_mean": 0.0, "v_mean": 0.0}
        device = next(self.critic.parameters()).device
        for i in tqdm(range(steps), desc="critic warm-up", unit="step", disable=not progress, leave=False):
            transitions = buffer.sample(self.cfg.batch_size, rng)
            batch = Batch.of(transitions, device)
            fresh = list(batch.actions) if sample_actions is None else sample_actions(batch.observations)
            q_target = None if returns is None else torch.tensor([returns[id(t)] for t in transitions],
                                                                 dtype=torch.float32, device=device)
            q_loss, v_loss, s = critic_losses(self.critic, self.target, batch, fresh, self.cfg.gamma,
                                              self.cfg.cap_is_terminal, q_target)
            clip_step(self.opt, q_loss + v_loss, self.critic.parameters(), self.cfg.max_grad_norm)
            polyak_update(self.critic, self.target, self.cfg.tau)
            if on_step is not None:
                on_step(i)
            for k, v in (("q_loss", q_loss.item()), ("v_loss", v_loss.item()), *s.items()):
                stats[k] += v / steps
        return stats

    def warm_start(self, data, sample_actions, steps: int, cache: Path, progress: bool = False) -> None:
        """Offline critic warm-up: ``steps`` TD steps on ``data()`` (a replay buffer of the start data) with V's fresh
        actions from ``sample_actions`` (the policy the critic is to evaluate) and fixed seeds, cached at ``cache``
        so every run of every seed starts from the same critic, as every method starts from the same SFT actor.
        With ``warmup_target="mc"`` Q regresses on each transition's discounted return in its episode instead
        (``data()`` must then hold whole episodes).

        On a cache miss the critic starts again from weights drawn with torch seeded ``WARMUP_SEED`` and trains with
        torch's streams forked (its dropout, if any, draws from them too), so the cached critic is the same whichever
        run builds it and the global streams are left as a cache hit leaves them. Before, the critic's initial
        weights came from the building process's global stream: the trainer's seed, or compare.py's unseeded main
        process; ArCHer's quick-preset finals moved with it (seed 2 -7.70 with one cache, -6.40 with another, the
        same code and SFT actor, PPO's finals identical in both)."""
        names = {"critic": self.critic, "critic_target": self.target}
        if (cache / "critic.safetensors").exists():
            for name, module in names.items():
                load_model(module, str(cache / f"{name}.safetensors"))
            return
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(WARMUP_SEED)
            self.critic.load_state_dict(self._make_critic().state_dict())
            self.target.load_state_dict(self.critic.state_dict())
            self.opt = adam(self.critic, self.cfg.critic_lr)
            buffer = data()
            returns = None
            if self.cfg.warmup_target == "mc":
                episodes = buffer.episodes()
                if sum(len(ep) for ep in episodes) != len(buffer):
                    raise ValueError("warmup_target='mc' needs whole episodes in the start data")
                returns = {id(t): g for ep in episodes
                           for t, g in zip(ep, returns_to_go([x.reward for x in ep], self.cfg.gamma))}
            average = WeightAverage(self.critic, self.cfg.warmup_ema) if self.cfg.warmup_ema else None
            if self.cfg.warmup_v_actions == "logged":
                sample_actions = None  # update() then regresses V on Q' of each transition's own action
            stats = self.update(buffer, sample_actions, steps=steps, rng=np.random.default_rng(0), progress=progress,
                                returns=returns, on_step=average)
            if average is not None:
                self.critic.load_state_dict(average.module.state_dict())
                self.target.load_state_dict(average.module.state_dict())
        # Parallel runs (compare.py) may warm up at once: each writes its own temp dir, the first rename wins.
        tmp = cache.with_name(f"{cache.name}.tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        for name, module in names.items():
            save_model(module, str(tmp / f"{name}.safetensors"))
        (tmp / "warmup.json").write_text(json.dumps({"steps": steps, **stats}))
        try:
            os.replace(tmp, cache)
        except OSError:  # another process finished first; its result is identical (same data and seeds)
            shutil.rmtree(tmp, ignore_errors=True)
        self.opt = adam(self.critic, self.cfg.critic_lr)  # the online phase starts with fresh moments
