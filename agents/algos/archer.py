"""ArCHer (Zhou et al. 2024, "ArCHer: Training Language Model Agents via Hierarchical Multi-Turn RL").

High level: an utterance-level double critic trained off-policy from the replay buffer (Sec. 4.2; the learner
ArCHer shares with CHAI, agents/algos/critic_learner.py):

    Q_k(s, a)  <-  r + gamma * (1 - done) * V'_k(s')                        (eq. 2, k = 1, 2)
    V_k(s)     <-  Q'_k(s, a~),   a~ ~ pi(.|s) freshly sampled from the current actor
    V', Q': target copies, Polyak-averaged after every critic step: theta' <- tau theta + (1 - tau) theta'

Low level: a token-level policy gradient whose reward is the critic's utterance advantage (eq. 4), on states
sampled from the replay buffer with utterances freshly sampled from the current actor (the buffer's own
action is not used):

    s ~ replay,  a ~ pi(.|s),  A(s, a) = min(Q_1, Q_2)(s, a) - min(V_1, V_2)(s)
    pg_loss = -mean_i [ A_i * sum_t log pi(a_i,t | s_i, a_i,<t) ]

An actor step costs no environment interaction: that is where ArCHer's sample efficiency comes from, and the
reason its critic must rank utterances. ``token_baseline=True`` is the paper's variant with a token-level
baseline b(s, a_<t) (a value model over token prefixes regressed on A, Sec. 4.3):
pg_loss = -mean_i [ sum_t (A_i - b_i,t) log pi(a_i,t | ...) ].

Checked line by line against the reference (YifeiZhou02/ArCHer, ``archer/algorithms/archer/trainer.py``,
``archer/models/critic.py``): the losses, the per-head TD targets from the target V (no min inside targets),
V regressed on the target Q of fresh actions, the Polyak step after every critic step, the gradient clip of 1.0,
the advantage on replay states with fresh actions, no ratio, clipping or entropy bonus. Deviations, each a
config field:

- ``cap_is_terminal=True`` (as the reference): the turn cap ends the game and the turn count is in the dialogue,
  so no value is bootstrapped after it. ``False`` bootstraps V(s') through truncation (generic Gymnasium).
- ``center_advantage``: subtract the batch mean of A before the policy gradient (not in the paper; default off:
  on seed 0, 512 trajectories, at 6035050 with the 256-token critic, it ended at a sampled -7.51 where the
  uncentred default ended at -6.28).
- ``kl_coef``: a KL penalty to the SFT policy on the fresh utterances (not in the paper; default 0), as
  A - kl_coef * sum_t (log pi - log pi_sft): the score-function gradient of the KL.
- ``samples_per_state`` (default 1, the paper): k > 1 fresh utterances per replay state with a leave-one-out
  baseline, A_i = min Q(s, a_i) - mean_{j != i} min Q(s, a_j), in place of min V(s), so V's level error cannot
  move a state's utterances together. Not adopted: with k = 4 (16 states of 4) the tuned runs of seeds 0 and 1
  (512 trajectories) ended at a sampled -6.05 and -6.13 over 1,000 eval episodes, the paper's form at -6.05 and
  -6.15 (SFT -7.76; ``python -m agents.train --algo archer --trajectories 512 --seed S --algo-arg actor_lr=1e-4
  --algo-arg kl_coef=0.1 [--algo-arg samples_per_state=4]``, then ``python -m agents.evaluate RUN --episodes 1000``).
- ``advantage_clip``: |A| is capped (default 5 return units; the paper has none; it binds only on a young
  critic's outliers).
- Sizes (steps, batches, learning rates, warm-up) are the reference's ratios scaled to a 2-core CPU with the
  tiny models: see ``baselines/presets.py`` (``paper`` carries the reference's own values). 20 critic steps of
  64 per 64 trajectories (20 samples per trajectory; the reference 100) and 8 actor steps of 64 at lr 3e-5: on
  seed 0 at 6035050 these ended at a sampled -6.28 where 4 actor steps of 64 at 1e-4 ended at -7.18 (SFT -7.59).
  The critic budget's effect is in the ablation (``baselines/sweep.py --grid ablation``).
- The critic warm-up: ``critic_warmup_steps`` offline steps on the start data (``TrainConfig.start_episodes``
  of the SFT actor's own episodes), where the reference warms up online with the actor frozen for 10-20
  iterations. The start data are the SFT actor's own episodes, the data those frozen iterations would collect,
  so by default the actor moves from the first online iteration (``warmup_iterations=0``; the ``paper`` preset
  keeps 10). Measured with the tuned setting (actor lr 1e-4, KL 0.1) and the seeded critic, the quick preset's three
  ArCHer runs with 2 critic-only online iterations (the default before) ended at a sampled -6.56, -6.16, -6.22 over
  500 eval episodes, with none at -6.21, -5.52, -5.41: better on every seed (at 7c313c1, their ``launch.json`` with
  ``warmup_iterations`` 0, ``python -m agents.train --config ...`` then ``python -m agents.evaluate RUNS --episodes
  500``); the ablation at lr 3e-5 (``baselines/sweep.py --grid ablation``, seeds 0 1) agreed, -5.51 / -5.61 against
  -6.38 / -6.07. Warmed up on the
  scripted expert mixture instead, the critic valued questions at -2.1 (truth -5.9) and ranked guesses in the
  wrong order.
- ``warmup_target`` (default "td", the paper's target): "mc" regresses Q during the offline warm-up on each start-data
  transition's discounted return in its episode (the SFT actor's own episodes: the on-policy Monte-Carlo target).
  ``python bench/critic_quality.py --algo-arg warmup_target=mc`` at 9fc3814: 0.46 against the TD default's 0.41
  (consistent guesses first in 41 of 57 states against 31); not adopted: under the 0.5 target, with 1,500 steps
  0.26 (Q fits the returns' noise), and its effect on the actor not measured.
- ``warmup_ema`` (default 0, off): the offline warm-up keeps an exponential moving average of the critic's weights
  (decay per step, bias-corrected early on; ``critic_learner.WeightAverage``) and ends by loading it into the critic
  and its target; not in the paper. With the hierarchical critic (``critic_turns``, 4,000 start episodes) the average
  at 0.99 ranked utterances better than the last step's weights at every checkpoint of two initial draws (scratch
  warm-ups on the bench's probe, within-state correlation online / average: 1,500 steps 0.38 / 0.44 and 0.40 / 0.46;
  3,000 steps 0.46 / 0.49 and 0.46 / 0.47; 4,500 steps 0.505 / 0.557 and 0.504 / 0.524); with the default critic it
  did not (500 steps 0.42 / 0.41, 1,000 steps 0.41 / 0.38).
- ``warmup_v_actions`` (default "fresh", the paper): "logged" regresses V in the offline warm-up on Q' of each start-data
  transition's own action instead of a fresh sample; the SFT actor sampled that action, so the target's expectation
  is the same, without an actor call per step. The hierarchical critic's step took 0.14-0.15 CPU s against 0.29-0.31
  (a scratch timing, 40 steps each, twice, alternating, encoder cache filled). ``python bench/critic_quality.py`` with
  the hierarchical critic, 4,500 steps on 4,000 episodes and ``warmup_ema=0.99`` at 6ee61ad: 0.52 (consistent guesses
  first in 41 of 51 states) logged, against 0.56 (48 of 51) fresh, one draw each; default "fresh" (the paper).
- The critic itself (``agents.models.ModelConfig``): a tiny BERT (2 layers, 64 wide, fresh) reading the observation
  and the action apart, as the reference's RoBERTa-base critic does, where the reference's is pretrained and 125M
  parameters. ``python bench/critic_quality.py`` (README, "How well the critic ranks utterances") measures it after
  the warm-up: within-state correlation of min Q - min V with the MDP truth 0.44 against a perfect critic's 0.85;
  the SFT actor's body reading (s, a) in one pass, this project's default before, scored 0.29 on the same probe.
- Ablations, off by default: ``actor_data="rollout"`` trains the actor on the iteration's own rollout
  utterances instead of replay states with fresh actions (this project's flow before issue 20), and
  ``advantage="td"`` (needs ``actor_data="rollout"``, since a fresh utterance has no reply) reads
  A = r + gamma * (1 - done) * min V(s') - min V(s) from the same critic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import Tensor

from agents.algos.base import ActorAlgorithm
from agents.algos.common import Batch, TokenValueModel, adam, clip_step, masked_mean, ref_logp, reference_copy
from agents.algos.critic_learner import CriticConfig, CriticLearner, q_targets
from agents.algos.registry import register
from agents.distributed import shard
from agents.models import ModelConfig


ADVANTAGES = ("q", "td")
ACTOR_DATA = ("replay", "rollout")


@dataclass
class ArcherConfig:
    # The critic's fields (gamma, critic_lr, tau, critic_updates, batch_size, critic_warmup_steps, buffer_capacity,
    # max_grad_norm, cap_is_terminal) sit flat beside the actor's; critic_config() hands them to the CriticLearner.
    gamma: float = 0.95
    critic_lr: float = 1e-3
    actor_lr: float = 3e-5
    baseline_lr: float = 1e-3
    tau: float = 0.1                 # Polyak weight of the online critic, per critic step
    critic_updates: int = 20         # critic gradient steps per iteration: 20 samples per trajectory (the paper: 100)
    actor_updates: int = 8           # actor gradient steps per iteration (the paper: 3 of batch 256)
    batch_size: int = 64             # critic minibatch (transitions sampled uniformly from the replay)
    actor_batch_size: int = 64       # fresh utterances per actor step (on actor_batch_size / samples_per_state states)
    # Fresh utterances per replay state. 1: the paper, A = min Q - min V. k > 1: A_i = min Q(s, a_i) minus the mean
    # min Q of the state's other k - 1 utterances (a leave-one-out baseline in place of V; not in the paper).
    samples_per_state: int = 1
    warmup_iterations: int = 0       # critic-only online iterations before the actor moves (the paper: 10-20)
    critic_warmup_steps: int = 500   # offline critic steps on the start data (the SFT actor's own episodes; cached)
    buffer_capacity: int = 50_000
    max_grad_norm: float = 1.0
    advantage_clip: float = 5.0      # |A| cap: a young critic's outliers must not wreck the actor
    token_baseline: bool = False
    center_advantage: bool = False   # subtract the batch mean of A (not in the paper)
    kl_coef: float = 0.0             # KL penalty to the SFT policy on the fresh utterances (not in the paper)
    cap_is_terminal: bool = True     # the turn cap ends the game: no bootstrap after it (as the reference)
    warmup_target: str = "td"        # the offline warm-up's Q target: "td" (the paper) or "mc" (critic_learner.py)
    warmup_ema: float = 0.0          # > 0: the warm-up ends on an average of its critic's weights (critic_learner.py)
    warmup_v_actions: str = "fresh"  # V's action in the offline warm-up: "fresh" (the paper) or "logged"
    # Where the actor's utterances come from: "replay" (the paper: replay states, fresh actions from the current
    # actor) or "rollout" (ablation: the iteration's own rollout utterances).
    actor_data: str = "replay"
    # How the advantage is read from the critic: "q" (the paper's eq. 4) or "td" (ablation, "rollout" only).
    advantage: str = "q"

    def __post_init__(self):
        if self.advantage not in ADVANTAGES:
            raise ValueError(f"advantage={self.advantage!r}; choose one of {list(ADVANTAGES)}")
        if self.actor_data not in ACTOR_DATA:
            raise ValueError(f"actor_data={self.actor_data!r}; choose one of {list(ACTOR_DATA)}")
        if self.advantage == "td" and self.actor_data != "rollout":
            raise ValueError("advantage='td' needs actor_data='rollout': a fresh utterance on a replay state has no "
                             "reply to read V(s') from")
        if self.kl_coef < 0:
            raise ValueError(f"kl_coef={self.kl_coef} must be >= 0")
        if self.samples_per_state < 1 or self.actor_batch_size % self.samples_per_state:
            raise ValueError(f"samples_per_state={self.samples_per_state} must be >= 1 and divide "
                             f"actor_batch_size={self.actor_batch_size}")
        self.critic_config()  # the critic's own checks (gamma, tau)

    def critic_config(self) -> CriticConfig:
        """The critic's fields of this config (agents.algos.critic_learner)."""
        return CriticConfig(**{f.name: getattr(self, f.name) for f in fields(CriticConfig)})


def advantage(critic, observations: list[str], actions: list[str]) -> Tensor:
    """A = min(Q1, Q2)(s, a) - min(V1, V2)(s), no grad, ``[B]``."""
    with torch.no_grad():
        q1, q2, v1, v2 = critic(observations, actions)
        return torch.minimum(q1, q2) - torch.minimum(v1, v2)


def loo_advantage(critic, observations: list[str], actions: list[str], k: int) -> Tensor:
    """A_i = min Q(s, a_i) - mean_{j != i} min Q(s, a_j), no grad, ``[B]``: rows come in groups of ``k`` utterances of
    one state (``k >= 2``). V's level error cancels: only the critic's ranking within the state is used."""
    with torch.no_grad():
        q = torch.minimum(*critic.q(observations, actions)).view(-1, k)
        return (q - (q.sum(1, keepdim=True) - q) / (k - 1)).view(-1)


def td_advantage(critic, transitions, gamma: float, cap_is_terminal: bool = True) -> Tensor:
    """A = r + gamma * (1 - done) * min(V1, V2)(s') - min(V1, V2)(s), no grad, ``[B]``."""
    device = next(critic.parameters()).device
    batch = Batch.of(transitions, device)
    with torch.no_grad():
        v = torch.minimum(*critic.v(batch.observations))
        next_v = torch.minimum(*critic.v(batch.next_observations))
    return q_targets(batch.rewards, batch.ends(cap_is_terminal), next_v, gamma) - v


def utterance_advantages(critic, transitions, cfg: "ArcherConfig", chunk: int = 256) -> Tensor:
    """The advantage of each transition's own utterance, by ``cfg.advantage``, clipped to ``cfg.advantage_clip``."""
    parts = []
    for i in range(0, len(transitions), chunk):
        part = transitions[i : i + chunk]
        if cfg.advantage == "td":
            parts.append(td_advantage(critic, part, cfg.gamma, cfg.cap_is_terminal))
        else:
            parts.append(advantage(critic, [t.observation for t in part], [t.action for t in part]))
    return torch.cat(parts).clamp(-cfg.advantage_clip, cfg.advantage_clip)


def pg_loss(logp: Tensor, mask: Tensor, adv: Tensor) -> Tensor:
    """-mean_i sum_t adv_i,t log pi(a_i,t): ``logp``, ``mask`` ``[B, T]``, ``adv`` ``[B]`` or ``[B, T]``."""
    if adv.dim() == 1:
        adv = adv[:, None]
    return -((adv * logp) * mask).sum(1).mean()


# archer_baseline is ArCHer's own variant, not a baseline: it is out of the default comparison (compare=False), which
# kept the quick preset about 5 minutes over its 30-minute target (3 runs of about 220 s); --methods still takes it.
@register("archer_baseline", ArcherConfig, defaults={"token_baseline": True}, uses_buffer=True, critic_warmup=True,
          cost=5, compare=False, tune=("actor_lr", [1e-5, 3e-5, 1e-4]),
          summary="ArCHer with the token-level baseline b(s, a_<t) (Sec. 4.3)")
@register("archer", ArcherConfig, uses_buffer=True, critic_warmup=True, cost=4, compare=True,
          tune=("actor_lr", [1e-5, 3e-5, 1e-4]),
          summary="ArCHer: off-policy utterance-level double critic, token-level policy gradient on replay states")
class Archer(ActorAlgorithm):
    name = "archer"

    def __init__(self, actor, cfg: ArcherConfig, model_cfg: ModelConfig, *, seed: int, temperature: float = 1.0):
        super().__init__(actor, seed=seed, temperature=temperature)
        self.cfg = cfg
        self.learner = CriticLearner(cfg.critic_config(), model_cfg, actor, self.np_rng)
        self.critic_learner = self.learner
        self.actor_opt = adam(actor.model, cfg.actor_lr)
        self.baseline = TokenValueModel(actor) if cfg.token_baseline else None
        self.baseline_opt = adam(self.baseline, cfg.baseline_lr) if self.baseline is not None else None
        self.ref = reference_copy(actor) if cfg.kl_coef > 0 else None

    def actor_batch(self, buffer, episodes) -> tuple[list[list[int]], list[list[int]], Tensor]:
        """(prompt ids, utterance ids, advantage ``[B]``) of one actor step. ``actor_data="replay"``: replay states,
        each with an utterance freshly sampled from the current actor; ``"rollout"``: a minibatch of this
        iteration's own rollout utterances."""
        cfg = self.cfg
        if cfg.actor_data == "replay":
            k = cfg.samples_per_state
            states = [t.observation for t in buffer.sample(cfg.actor_batch_size // k, self.np_rng) for _ in range(k)]
            fresh = self.actor.sample(states, temperature=self.temperature, generator=self.gen)
            adv = (advantage(self.learner.critic, states, fresh.texts) if k == 1
                   else loo_advantage(self.learner.critic, states, fresh.texts, k))
            adv = adv.clamp(-cfg.advantage_clip, cfg.advantage_clip)
            return fresh.prompt_ids, fresh.action_ids, adv
        trans = [t for ep in episodes for t in ep.transitions]
        idx = shard(torch.randperm(len(trans), generator=self.gen)[: cfg.actor_batch_size]).tolist()
        picked = [trans[i] for i in idx]
        adv = utterance_advantages(self.learner.critic, picked, cfg)
        return self.actor.build_prompt_ids([t.observation for t in picked]), [t.action_ids for t in picked], adv

    def update(self, episodes, buffer, iteration: int) -> dict[str, float]:
        started = time.perf_counter()
        stats = self.learner.update(buffer, self.fresh_actions)
        stats.update(pg_loss=float("nan"), advantage_mean=float("nan"), advantage_std=float("nan"),
                     entropy=float("nan"), baseline_loss=float("nan"), kl_sft=float("nan"),
                     critic_seconds=time.perf_counter() - started, actor_seconds=0.0)
        if iteration < self.cfg.warmup_iterations:
            return stats
        started = time.perf_counter()
        acc = {k: [] for k in ("pg_loss", "entropy", "baseline_loss", "advantage_mean", "advantage_std", "kl_sft")}
        for _ in range(self.cfg.actor_updates):
            prompts, action_ids, adv = self.actor_batch(buffer, episodes)
            acc["advantage_mean"].append(adv.mean().item())
            acc["advantage_std"].append(adv.std().item() if adv.numel() > 1 else 0.0)
            if self.cfg.center_advantage:
                adv = adv - adv.mean()
            self.actor.model.train()
            scores = self.actor.score(prompts, action_ids)
            if self.ref is not None:
                with torch.no_grad():
                    kl = ((scores.logp - ref_logp(self.actor, self.ref, prompts, action_ids)) * scores.mask).sum(1)
                adv = adv - self.cfg.kl_coef * kl  # the score-function gradient of KL(pi || pi_sft)
                acc["kl_sft"].append(kl.mean().item())
            token_adv = adv
            if self.baseline is not None:
                b = self.baseline(prompts, action_ids)  # [B, T]
                b_loss = masked_mean((b - adv[:, None]) ** 2, scores.mask)
                clip_step(self.baseline_opt, b_loss, self.baseline.parameters(), self.cfg.max_grad_norm)
                token_adv = adv[:, None] - b.detach()
                acc["baseline_loss"].append(b_loss.item())
            loss = pg_loss(scores.logp, scores.mask, token_adv)
            clip_step(self.actor_opt, loss, self.actor.model.parameters(), self.cfg.max_grad_norm)
            self.actor.model.eval()
            acc["pg_loss"].append(loss.item())
            acc["entropy"].append(masked_mean(scores.entropy, scores.mask).item())
        stats.update({k: float(np.mean(v)) for k, v in acc.items() if v})
        stats["actor_seconds"] = time.perf_counter() - started  # (its fresh samples and their critic scores included)
        return stats

    def modules(self):
        m = {"actor": self.actor.model, "critic": self.learner.critic, "critic_target": self.learner.target}
        if self.baseline is not None:
            m["baseline"] = self.baseline
        if self.ref is not None:
            m["ref"] = self.ref
        return m

    def optimizers(self):
        o = {"actor": self.actor_opt, "critic": self.learner.opt}
        if self.baseline_opt is not None:
            o["baseline"] = self.baseline_opt
        return o
