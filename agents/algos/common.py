"""Small shared pieces of every algorithm, written once: masked mean, GAE, the token value model,
batching of transitions, and the Algorithm interface the trainer drives."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Protocol, Sequence

import torch
from torch import Tensor, nn

from archer_gym import Transition
from agents.batching import join_runs, length_chunks
from agents.critic import hidden_size_of
from agents.distributed import all_reduce_grads, shard
from agents.policy import Actor, body_copy, left_pad, positions_from_mask


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` over positions where ``mask`` is True (0 if none)."""
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def gae(rewards: Tensor, values: Tensor, next_values: Tensor, discounts: Tensor, lam: float) -> Tensor:
    """Generalised advantage estimation over one sequence of steps (here: the tokens of an episode).

    rewards, values, next_values, discounts: ``[T]``. ``discounts[t]`` is the factor applied to
    ``next_values[t]``: gamma (or 1 inside an utterance), and 0 after termination, so truncation
    bootstraps and termination does not. delta_t = r_t + d_t V(s_{t+1}) - V(s_t);
    A_t = delta_t + d_t lam A_{t+1}  (Schulman et al. 2016, eq. 16).
    """
    adv = torch.zeros_like(rewards)
    running = torch.zeros((), dtype=rewards.dtype, device=rewards.device)
    for t in range(rewards.shape[0] - 1, -1, -1):
        delta = rewards[t] + discounts[t] * next_values[t] - values[t]
        running = delta + discounts[t] * lam * running
        adv[t] = running
    return adv


def returns_to_go(rewards: Sequence[float], gamma: float) -> list[float]:
    """G_t = r_t + gamma * G_{t+1} over one episode's turns (G after the last turn is 0: no bootstrap)."""
    out, running = [0.0] * len(rewards), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


class TokenValueModel(nn.Module):
    """V over token prefixes: the actor's transformer body (a copy) + a linear head.

    ``forward(prompt_ids, action_ids) -> [B, T]``: value of the state before action token t (read at
    the position that predicts it), left-aligned like :meth:`Actor.score`. ``state_value(prompt_ids)
    -> [B]``: value before the first action token. Used by PPO's critic and ArCHer's token baseline.
    """

    def __init__(self, actor: Actor):
        super().__init__()
        self.body = body_copy(actor.model)
        self.head = nn.Linear(hidden_size_of(self.body.config), 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.pad_id = actor.tokenizer.pad_token_id
        # Length-sorted runs, as the actor's own passes (agents.batching).
        self.micro_batch = getattr(actor, "micro_batch", 0)

    def _hidden(self, seqs: list[list[int]]) -> Tensor:
        device = self.head.weight.device
        ids, mask = left_pad(seqs, self.pad_id, device)
        return self.body(input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask)).last_hidden_state

    def forward(self, prompt_ids: list[list[int]], action_ids: list[list[int]]) -> Tensor:
        runs = length_chunks([len(p) + len(a) for p, a in zip(prompt_ids, action_ids)], self.micro_batch)
        if len(runs) > 1:
            return join_runs([self([prompt_ids[i] for i in r], [action_ids[i] for i in r]) for r in runs], runs)
        n_act = torch.tensor([len(a) for a in action_ids], device=self.head.weight.device)
        width = int(n_act.max())
        hidden = self._hidden([list(p) + list(a) for p, a in zip(prompt_ids, action_ids)])  # [B, L, H]
        total = hidden.shape[1]
        vals = self.head(hidden[:, total - width - 1 : total - 1]).squeeze(-1)  # [B, T] right-aligned
        cols = torch.arange(width, device=vals.device)[None]
        index = (cols + width - n_act[:, None]).clamp(max=width - 1)
        return vals.gather(1, index).masked_fill(cols >= n_act[:, None], 0.0)

    def state_value(self, prompt_ids: list[list[int]]) -> Tensor:
        runs = length_chunks([len(p) for p in prompt_ids], self.micro_batch)
        if len(runs) > 1:
            return join_runs([self.state_value([prompt_ids[i] for i in r]) for r in runs], runs)
        return self.head(self._hidden([list(p) for p in prompt_ids])[:, -1]).squeeze(-1)


@dataclass
class Batch:
    """Utterance-level transitions as lists + tensors (``[B]``)."""

    observations: list[str]
    actions: list[str]
    next_observations: list[str]
    action_ids: list[list[int]]
    rewards: Tensor
    terminated: Tensor
    truncated: Tensor

    @classmethod
    def of(cls, transitions: Sequence[Transition], device: torch.device) -> "Batch":
        return cls(
            observations=[t.observation for t in transitions],
            actions=[t.action for t in transitions],
            next_observations=[t.next_observation for t in transitions],
            action_ids=[t.action_ids or [] for t in transitions],
            rewards=torch.tensor([t.reward for t in transitions], dtype=torch.float32, device=device),
            terminated=torch.tensor([float(t.terminated) for t in transitions], dtype=torch.float32, device=device),
            truncated=torch.tensor([float(t.truncated) for t in transitions], dtype=torch.float32, device=device),
        )

    def ends(self, cap_is_terminal: bool) -> Tensor:
        """``[B]`` 1.0 where no value follows s': termination, and the turn cap too when ``cap_is_terminal``."""
        return torch.maximum(self.terminated, self.truncated) if cap_is_terminal else self.terminated


def minibatches(n: int, size: int, gen: torch.Generator) -> list[Tensor]:
    """Index chunks of one shuffled pass; under multi-process data parallelism each rank gets its slice of
    rank 0's chunks (agents.distributed.shard), so the ranks together take each global minibatch once."""
    order = torch.randperm(n, generator=gen)
    return [shard(order[i : i + size]) for i in range(0, n, size)]


def reference_copy(actor: Actor) -> nn.Module:
    """A frozen copy of the actor's model as it is now (the SFT policy, at construction): KL penalties' reference."""
    return copy.deepcopy(actor.model).requires_grad_(False).eval()


def ref_logp(actor: Actor, ref_model: nn.Module, prompts, acts) -> Tensor:
    """``[B, T]`` log pi_ref of ``acts`` after ``prompts``, scored by ``actor`` with ``ref_model`` in its place."""
    live = actor.model
    actor.model = ref_model
    try:
        return actor.score(prompts, acts).logp
    finally:
        actor.model = live


def adam(module: nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=lr)


def clip_step(opt: torch.optim.Optimizer, loss: Tensor, params, max_norm: float) -> float:
    """One optimizer step: backward, (multi-process: average gradients across ranks), clip, step."""
    params = list(params)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    all_reduce_grads(params)  # identity unless inside agents.distributed.data_parallel with world size > 1
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    opt.step()
    return float(norm)


class Algorithm(Protocol):
    """What the trainer needs from an algorithm: acting, one update per iteration, its state."""

    name: str

    def act(self, observations: list[str]): ...                      # training-time acting
    def eval_act(self, observations: list[str], greedy: bool): ...   # evaluation acting
    def update(self, episodes, buffer, iteration: int) -> dict[str, float]: ...
    def modules(self) -> dict[str, nn.Module]: ...
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...
