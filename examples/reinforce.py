"""REINFORCE with a moving-average baseline (Williams 1992), as a plug-in: nothing in archer-gym is edited.

    python -m agents.train --plugin examples/reinforce.py --algo reinforce --trajectories 512 --out runs/rf
    python baselines/compare.py --plugin examples/reinforce.py --methods ppo reinforce bc

Each turn t of an episode is one action; its return-to-go G_t = sum_k gamma^k r_{t+k} minus a baseline b (an
exponential moving average of the returns-to-go seen so far) weights the sum of its tokens' log-probs:

    loss = -mean_i (G_i - b) * sum_t log pi(a_i,t | s_i, a_i,<t)

See docs/add_an_algorithm.md for what each method must do and what the trainer guarantees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from agents.algos import register
from agents.algos.base import ActorAlgorithm
from agents.algos.common import adam, clip_step, minibatches, returns_to_go


@dataclass
class ReinforceConfig:
    gamma: float = 0.95
    lr: float = 1e-4
    baseline_decay: float = 0.9      # b <- decay * b + (1 - decay) * mean G of this iteration
    minibatch_size: int = 64         # utterances per gradient step, one pass per iteration
    max_grad_norm: float = 1.0


@register("reinforce", ReinforceConfig, summary="REINFORCE with a moving-average baseline (examples/reinforce.py)")
class Reinforce(ActorAlgorithm):
    def __init__(self, actor, cfg: ReinforceConfig, model_cfg, *, seed: int, temperature: float = 1.0):
        super().__init__(actor, seed=seed, temperature=temperature)
        self.cfg = cfg
        self.opt = adam(actor.model, cfg.lr)
        # The baseline lives in a module's buffers, so the checkpoint saves it and a resumed run continues exactly.
        self.stats = nn.Module()
        self.stats.register_buffer("baseline", torch.zeros(()))
        self.stats.register_buffer("seen", torch.zeros(()))
        self.stats.to(actor.device)

    def update(self, episodes, buffer, iteration: int) -> dict[str, float]:
        rows = []  # (prompt ids, action ids, G) per utterance
        for ep in episodes:
            g = returns_to_go([t.reward for t in ep.transitions], self.cfg.gamma)
            prompts = self.actor.build_prompt_ids([t.observation for t in ep.transitions])
            rows += [(p, t.action_ids, g_t) for p, t, g_t in zip(prompts, ep.transitions, g)]
        mean_g = float(np.mean([r[2] for r in rows]))
        b = float(self.stats.baseline) if self.stats.seen > 0 else mean_g  # first iteration: start at the mean
        losses = []
        for idx in minibatches(len(rows), self.cfg.minibatch_size, self.gen):  # sharded across processes
            mb = [rows[i] for i in idx.tolist()]
            adv = torch.tensor([r[2] - b for r in mb], device=self.actor.device)
            self.actor.model.train()
            logp, mask = self.actor.log_probs([r[0] for r in mb], [r[1] for r in mb])
            loss = -(adv * (logp * mask).sum(1)).mean()
            clip_step(self.opt, loss, self.actor.model.parameters(), self.cfg.max_grad_norm)
            self.actor.model.eval()
            losses.append(loss.item())
        d = self.cfg.baseline_decay
        self.stats.baseline.fill_(d * b + (1 - d) * mean_g)
        self.stats.seen += 1
        return {"pg_loss": float(np.mean(losses)), "baseline": b, "return_to_go": mean_g}

    def modules(self):
        return {"actor": self.actor.model, "reinforce_stats": self.stats}

    def optimizers(self):
        return {"actor": self.opt}
