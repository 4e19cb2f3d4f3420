"""Token-level PPO (Schulman et al. 2017) as the ArCHer paper's baseline: every token is an action.

The utterance reward sits on the utterance's last token, optionally minus a per-token KL penalty to
the SFT policy, ``-kl_coef * (log pi(a_t) - log pi_sft(a_t))``. GAE runs over the tokens of the whole
episode: discount 1 between tokens of one utterance and ``gamma`` between utterances, 0 after
termination and (``cap_is_terminal``, as ArCHer's critic) after the turn cap, else a bootstrap V(s') after
truncation. Then ``epochs`` passes of the clipped surrogate and the value loss over minibatches of the fresh
on-policy utterances, advantages normalised over the batch.

As a PPO user would set it up for this reward scale (issue 20 found the old defaults crippled it):
- the value loss is unclipped by default (``value_clip=0``): clipping at 0.2 in raw return units (returns of
  -3 to -20 here) let V move 0.2 per iteration, so PPO ran as high-variance REINFORCE and diverged on one seed;
  CleanRL and TRL clip at 0.2 only on normalised or small rewards.
- the value head starts at the first batch's mean return (``value_init="returns"``), not at 0: a zero-init
  bias moves about lr per Adam step, about 0.01 per iteration.
- dropout is off in the actor (agents.algos.base), so the first ratio of every update is exactly 1.
- a KL penalty to the SFT policy is available (``kl_coef``) and off by default, as in the ArCHer paper's PPO.
The ArCHer reference has no PPO; the paper ran it with 1,024-2,048 trajectories per update on GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from agents.algos.base import ActorAlgorithm
from agents.algos.common import TokenValueModel, adam, clip_step, gae, masked_mean, minibatches, ref_logp, reference_copy
from agents.algos.registry import register


@dataclass
class PPOConfig:
    gamma: float = 0.95
    lam: float = 0.95
    lr: float = 3e-4
    value_lr: float = 1e-3
    clip: float = 0.2
    value_clip: float = 0.0          # clip range of the value loss in return units; 0: unclipped
    value_init: str = "returns"      # "returns": the value head's bias starts at the first batch's mean return
    epochs: int = 2
    minibatch_size: int = 64
    kl_coef: float = 0.0
    max_grad_norm: float = 1.0
    cap_is_terminal: bool = True     # the turn cap ends the game: no bootstrap after it (as ArCHer's critic)

    def __post_init__(self):
        if not 0.0 < self.clip < 1.0:
            raise ValueError(f"clip={self.clip} must be in (0, 1)")
        if self.value_clip < 0:
            raise ValueError(f"value_clip={self.value_clip} must be >= 0 (0: unclipped)")
        if self.value_init not in ("returns", "zero"):
            raise ValueError(f"value_init={self.value_init!r}; choose 'returns' or 'zero'")


def clipped_surrogate(logp: Tensor, old_logp: Tensor, adv: Tensor, mask: Tensor, clip: float) -> Tensor:
    """PPO-clip policy loss, token mean: -min(r A, clip(r, 1-eps, 1+eps) A), r = exp(logp - old_logp)."""
    ratio = torch.exp(logp - old_logp)
    surr = torch.minimum(ratio * adv, ratio.clamp(1.0 - clip, 1.0 + clip) * adv)
    return -masked_mean(surr, mask)


def clipped_value_loss(v: Tensor, old_v: Tensor, returns: Tensor, mask: Tensor, clip: float) -> Tensor:
    """0.5 * max((v - R)^2, (old_v + clip(v - old_v, -eps, eps) - R)^2), token mean; ``clip=0``: 0.5 (v - R)^2."""
    if clip <= 0:
        return 0.5 * masked_mean((v - returns) ** 2, mask)
    v_clipped = old_v + (v - old_v).clamp(-clip, clip)
    return 0.5 * masked_mean(torch.maximum((v - returns) ** 2, (v_clipped - returns) ** 2), mask)


def episode_token_targets(rewards: list[float], lengths: list[int], values: list[Tensor], bootstrap: float,
                          terminated: bool, gamma: float, lam: float, kl: list[Tensor] | None = None) -> Tensor:
    """GAE advantages for the tokens of one episode, concatenated ``[sum(lengths)]``.

    rewards: per utterance; lengths: tokens per utterance; values: per utterance ``[len]``;
    bootstrap: V of the state after the last utterance (used only when not ``terminated``).
    """
    r_tok, d_tok, v_tok, nv_tok = [], [], [], []
    n = len(lengths)
    for i, (r, L, v) in enumerate(zip(rewards, lengths, values)):
        rt = torch.zeros(L)
        rt[-1] = r
        if kl is not None:
            rt = rt + kl[i]
        dt = torch.ones(L)
        last = i == n - 1
        dt[-1] = 0.0 if (last and terminated) else gamma
        nxt_first = (torch.tensor(bootstrap) if last else values[i + 1][0]).reshape(1)
        nv = torch.cat([v[1:], nxt_first])
        r_tok.append(rt), d_tok.append(dt), v_tok.append(v), nv_tok.append(nv)
    return gae(torch.cat(r_tok), torch.cat(v_tok), torch.cat(nv_tok), torch.cat(d_tok), lam)


@register("ppo", PPOConfig, cost=3, compare=True, tune=("lr", [1e-4, 3e-4, 1e-3]),
          summary="token-level PPO with GAE over the episode's tokens and a token value model")
class PPO(ActorAlgorithm):
    name = "ppo"

    def __init__(self, actor, cfg: PPOConfig, model_cfg=None, *, seed: int, temperature: float = 1.0):
        super().__init__(actor, seed=seed, temperature=temperature)
        self.cfg = cfg
        self.value = TokenValueModel(actor)
        self.opt = adam(actor.model, cfg.lr)
        self.value_opt = adam(self.value, cfg.value_lr)
        self.ref = None
        if cfg.kl_coef > 0:
            self.ref = reference_copy(actor)

    @torch.no_grad()
    def _prepare(self, episodes):
        """Flatten utterances with their old log-probs, token advantages and returns."""
        rows = []
        for ep in episodes:
            obs = [t.observation for t in ep.transitions]
            acts = [t.action_ids for t in ep.transitions]
            prompts = self.actor.build_prompt_ids(obs)
            vals = self.value(prompts, acts)  # [n, T]
            lengths = [len(a) for a in acts]
            v_list = [vals[i, :L].float().cpu() for i, L in enumerate(lengths)]
            last = ep.transitions[-1]
            ends = last.terminated or (last.truncated and self.cfg.cap_is_terminal)
            boot = 0.0
            if not ends:
                boot = float(self.value.state_value(self.actor.build_prompt_ids([last.next_observation]))[0])
            old = [torch.tensor(t.log_probs) for t in ep.transitions]
            kl = None
            if self.ref is not None:
                ref_lp = ref_logp(self.actor, self.ref, prompts, acts)
                kl = [-self.cfg.kl_coef * (old[i] - ref_lp[i, :L].cpu()) for i, L in enumerate(lengths)]
            adv = episode_token_targets([t.reward for t in ep.transitions], lengths, v_list, boot,
                                        ends, self.cfg.gamma, self.cfg.lam, kl)
            off = 0
            for i, L in enumerate(lengths):
                a = adv[off : off + L]
                rows.append((prompts[i], acts[i], old[i], a, a + v_list[i], v_list[i]))
                off += L
        return rows

    def update(self, episodes, buffer, iteration: int) -> dict[str, float]:
        rows = self._prepare(episodes)
        if iteration == 0 and self.cfg.value_init == "returns":
            # Start V at the batch's mean return (returns = advantages + values of the zero-bias head), then redo GAE.
            with torch.no_grad():
                self.value.head.bias += torch.cat([r[4] for r in rows]).mean().to(self.value.head.bias.device)
            rows = self._prepare(episodes)
        all_adv = torch.cat([r[3] for r in rows])
        mu, sd = all_adv.mean(), all_adv.std().clamp(min=1e-6)
        device = self.actor.device
        acc = {"pg_loss": [], "value_loss": [], "clip_frac": [], "approx_kl": [], "entropy": []}
        for _ in range(self.cfg.epochs):
            for idx in minibatches(len(rows), self.cfg.minibatch_size, self.gen):
                mb = [rows[i] for i in idx]
                prompts, acts = [r[0] for r in mb], [r[1] for r in mb]
                pad = lambda xs: torch.nn.utils.rnn.pad_sequence(xs, batch_first=True).to(device)  # noqa: E731
                old_lp, adv = pad([r[2] for r in mb]), pad([(r[3] - mu) / sd for r in mb])
                ret, old_v = pad([r[4] for r in mb]), pad([r[5] for r in mb])
                self.actor.model.train()
                s = self.actor.score(prompts, acts)
                loss = clipped_surrogate(s.logp, old_lp, adv, s.mask, self.cfg.clip)
                clip_step(self.opt, loss, self.actor.model.parameters(), self.cfg.max_grad_norm)
                self.actor.model.eval()
                v = self.value(prompts, acts)
                v_loss = clipped_value_loss(v, old_v, ret, s.mask, self.cfg.value_clip)
                clip_step(self.value_opt, v_loss, self.value.parameters(), self.cfg.max_grad_norm)
                with torch.no_grad():
                    ratio = torch.exp(s.logp - old_lp)
                    acc["clip_frac"].append(masked_mean(((ratio - 1).abs() > self.cfg.clip).float(), s.mask).item())
                    acc["approx_kl"].append(masked_mean(old_lp - s.logp, s.mask).item())
                acc["pg_loss"].append(loss.item())
                acc["value_loss"].append(v_loss.item())
                acc["entropy"].append(masked_mean(s.entropy, s.mask).item())
        return {k: float(np.mean(v)) for k, v in acc.items()}

    def modules(self):
        m = {"actor": self.actor.model, "value": self.value}
        if self.ref is not None:
            m["ref"] = self.ref
        return m

    def optimizers(self):
        return {"actor": self.opt, "value": self.value_opt}
