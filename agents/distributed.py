"""Multi-process training through ``accelerate launch`` (torch.distributed underneath): who am I, gather,
broadcast, and the data-parallel hooks the algorithms' updates go through.

    accelerate launch --num_processes 2 --cpu -m agents.train --algo archer ...   # 2 CPU processes, gloo
    accelerate launch --num_processes 8 -m agents.train --device cuda ...          # 8 GPUs, nccl

How a run is split (see agents/trainer.py for the loop):

* **Rollouts.** Each iteration's ``n`` episodes (global episode index ``i`` gets env seed
  ``seed * 10_000_000 + trajectories + i``, exactly as in one process) are dealt round-robin: rank ``r``
  plays the indices ``i % world == r`` with its own envs and its own acting random stream (the algorithm's
  generator re-seeded with a rank offset). ``n`` need not be divisible by the world size: ranks differ by at
  most one episode and the budget is counted globally, so the counts add up to exactly the budget.
* **Exchange.** Episodes (Python objects) are all-gathered in memory through the process group
  (``torch.distributed.all_gather_object``: no files, no sleeps) and put back in global index order, so every
  rank holds the same replay buffer and hands the same episodes to ``algorithm.update``.
* **Updates: data-parallel with manual gradient all-reduce, not a DDP wrapper.** The algorithms call model
  methods that a ``DistributedDataParallel`` wrapper hides (``Actor.score``, ``DoubleCritic.q`` / ``.v``,
  ``TokenValueModel.state_value``), run several forwards per backward, and keep target copies; wrapping would
  mean unwrapping everywhere. Instead, inside :func:`data_parallel` (the trainer enters it around
  ``algorithm.update`` only):

  - every minibatch choice (:func:`shard` in ``ReplayBuffer.sample``, ``algos.common.minibatches`` and
    ArCHer's actor minibatch) is taken from rank 0 (one small broadcast) and split ``[rank::world]``, so the
    ranks together process exactly one global minibatch of the configured size;
  - ``algos.common.clip_step`` calls :func:`all_reduce_grads` after ``backward``: gradients are averaged
    across ranks (one flat all-reduce per step) before clipping and the optimizer step.

  Replicas start identical (:func:`broadcast_module` from rank 0) and stay identical: same averaged
  gradients, same clipping, same optimizer arithmetic. Assumption: every rank's backward reaches the same
  set of parameters (true for these algorithms: same code path, same graph).
* **Main process only** writes ``config.json``, ``metrics.csv``, tensorboard, checkpoints, builds the cached
  SFT actor and critic warm-up (the others wait at a barrier, then read the cache) and shows tqdm.
  Evaluation episodes are split across ranks the same round-robin way and gathered.

With one process (no ``WORLD_SIZE`` > 1 in the environment) nothing here initialises anything and every
helper is the identity: the single-process path runs exactly as before.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Sequence

import torch
from torch import nn

_DP_ACTIVE = False  # True only inside data_parallel(): minibatch sharding and gradient all-reduce


def env_world_size() -> int:
    """World size announced by the launcher (accelerate launch / torchrun set ``WORLD_SIZE``)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def initialized() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def world_size() -> int:
    return torch.distributed.get_world_size() if initialized() else 1


def rank() -> int:
    return torch.distributed.get_rank() if initialized() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init(cpu: bool) -> int:
    """Join the process group the launcher describes (via ``accelerate.PartialState``; gloo on CPU, nccl on
    CUDA). A no-op in a single process. Returns the world size."""
    if env_world_size() <= 1 or initialized():
        return world_size()
    try:
        from accelerate import PartialState
    except ImportError as err:  # pragma: no cover - accelerate is in the dev and scale extras
        raise ImportError("multi-process training needs accelerate: pip install 'archer-gym[scale]'") from err
    PartialState(cpu=cpu)
    if not initialized():
        raise RuntimeError("accelerate did not initialise torch.distributed; launch with "
                           "`accelerate launch --num_processes N [--cpu] -m agents.train ...`")
    return world_size()


def shutdown() -> None:
    """Leave the process group (end of a multi-process run); a no-op otherwise."""
    if initialized():
        torch.distributed.destroy_process_group()


def barrier() -> None:
    if initialized() and world_size() > 1:
        torch.distributed.barrier()


def gather_object(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (``[obj]`` in one process). Any picklable object."""
    if not initialized() or world_size() == 1:
        return [obj]
    out: list[Any] = [None] * world_size()
    torch.distributed.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if not initialized() or world_size() == 1:
        return obj
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=src)
    return box[0]


def interleave(per_rank: Sequence[Sequence[Any]]) -> list[Any]:
    """Undo a round-robin deal: rank r held global items r, r + W, r + 2W, ...; returns them in global order."""
    world = len(per_rank)
    total = sum(len(p) for p in per_rank)
    return [per_rank[i % world][i // world] for i in range(total)]


def my_share(items: Sequence[Any]) -> list[Any]:
    """This rank's round-robin share of ``items`` (all of them in one process)."""
    return list(items[rank()::world_size()])


@torch.no_grad()
def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers into every rank's ``module`` (replicas start identical)."""
    if not initialized() or world_size() == 1:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        torch.distributed.broadcast(t.data, src=src)


@torch.no_grad()
def check_replicas(modules: dict[str, nn.Module]) -> None:
    """Raise if any module's weights differ across ranks (they must not: same start, same averaged steps).
    One small gather of per-module checksums."""
    if not initialized() or world_size() == 1:
        return
    sums = {name: float(sum(p.double().sum() for p in m.parameters())) for name, m in modules.items()}
    every = gather_object(sums)
    bad = [name for name in sums if any(abs(other[name] - sums[name]) > 1e-6 * (1 + abs(sums[name]))
                                        for other in every)]
    if bad:
        raise RuntimeError(f"model replicas diverged across ranks: {bad} (checksums {every})")


# ---------------------------------------------------------------- data-parallel hooks (used inside updates)

@contextlib.contextmanager
def data_parallel(enabled: bool = True) -> Iterator[None]:
    """Within this block (and with world size > 1) minibatches are sharded and gradients all-reduced."""
    global _DP_ACTIVE
    old = _DP_ACTIVE
    _DP_ACTIVE = bool(enabled) and world_size() > 1
    try:
        yield
    finally:
        _DP_ACTIVE = old


def dp_active() -> bool:
    return _DP_ACTIVE


def shard(indices):
    """Inside :func:`data_parallel`: rank 0's ``indices`` (a 1-D tensor, numpy array or list), this rank's
    slice ``[rank::world]`` (a rank left empty by a minibatch shorter than the world size reuses one item).
    Elsewhere: ``indices`` unchanged. Every rank must call it the same number of
    times (it broadcasts)."""
    if not _DP_ACTIVE:
        return indices
    chosen = broadcast_object(indices.tolist() if hasattr(indices, "tolist") else list(indices))
    mine = chosen[rank()::world_size()]
    if not mine and chosen:  # fewer items than ranks (a short last minibatch): reuse one, never an empty batch
        mine = [chosen[rank() % len(chosen)]]
    if isinstance(indices, torch.Tensor):
        return torch.tensor(mine, dtype=indices.dtype, device=indices.device)
    if hasattr(indices, "dtype"):  # numpy
        import numpy as np
        return np.asarray(mine, dtype=indices.dtype)
    return mine


def all_reduce_grads(params) -> None:
    """Average ``.grad`` of ``params`` over ranks in one flat all-reduce (inside :func:`data_parallel` only).

    Chosen over a DDP wrapper: see the module docstring. Parameters without a gradient are skipped; every
    rank must have gradients on the same parameters."""
    if not _DP_ACTIVE:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1).float() for g in grads])
    torch.distributed.all_reduce(flat, op=torch.distributed.ReduceOp.SUM)
    flat /= world_size()
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset: offset + n].view_as(g).to(g.dtype))
        offset += n
