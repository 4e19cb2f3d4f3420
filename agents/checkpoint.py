"""Checkpoints: safetensors weights, optimizer states, JSON counters and RNG states, written atomically.

Layout of a checkpoint directory `ckpt/`:

    <name>.safetensors   one per module (safetensors `save_model`: tied weights such as GPT-2's
                         lm_head / wte are stored once and re-tied on load)
    <name>.optim.pt      one per optimizer, `torch.save(optimizer.state_dict())`; loaded with
                         `weights_only=True`, so no arbitrary object is unpickled
    meta.json            format version, module / optimizer names, the caller's `state`
                         (counters, config, ...) and the RNG states (python, numpy, torch, cuda)

Atomicity: everything is written into the sibling `ckpt.tmp/` (fsynced), then `ckpt/` is renamed
to `ckpt.old/`, `ckpt.tmp/` to `ckpt/`, and `ckpt.old/` removed. A directory named `ckpt/` is
therefore always complete. A crash before the swap leaves the previous `ckpt/` untouched; a crash
between the two renames leaves the previous checkpoint as `ckpt.old/`, which `load_checkpoint`
falls back to.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import nn
from torch.optim import Optimizer

FORMAT_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _rename(src: Path, dst: Path) -> None:
    """One atomic rename (a separate function so tests can simulate a crash between renames)."""
    os.replace(src, dst)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _paths(directory: str | os.PathLike) -> tuple[Path, Path, Path]:
    final = Path(directory)
    return final, final.with_name(final.name + ".tmp"), final.with_name(final.name + ".old")


def _check_names(kind: str, names) -> None:
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"{kind} name {name!r} must match {_NAME.pattern} (it becomes a file name)")


def get_rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU, and CUDA when available) RNG states as JSON-able lists."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state().tolist(),
    }
    if torch.cuda.is_available():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of `get_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def save_checkpoint(
    directory: str | os.PathLike,
    *,
    modules: dict[str, nn.Module],
    optimizers: dict[str, Optimizer],
    state: dict[str, Any],
    rng: bool = True,
) -> Path:
    """Write modules, optimizers, `state` (JSON-able) and RNG states to `directory`, atomically.

    Returns the checkpoint path. `state` is checked to be JSON-able before anything touches disk.
    """
    _check_names("module", modules)
    _check_names("optimizer", optimizers)
    meta = {
        "format": FORMAT_VERSION,
        "modules": sorted(modules),
        "optimizers": sorted(optimizers),
        "state": state,
        "rng": get_rng_state() if rng else None,
    }
    try:
        meta_text = json.dumps(meta)
    except TypeError as err:
        raise TypeError(f"checkpoint state must be JSON-able (numbers, str, lists, dicts): {err}") from err

    final, tmp, old = _paths(directory)
    if tmp.exists():  # left over by an earlier crash: never complete, never loaded
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name, module in modules.items():
        save_model(module, str(tmp / f"{name}.safetensors"))
    for name, optimizer in optimizers.items():
        torch.save(optimizer.state_dict(), tmp / f"{name}.optim.pt")
    (tmp / "meta.json").write_text(meta_text)
    for file in tmp.iterdir():
        _fsync(file)
    _fsync(tmp)

    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        _rename(final, old)
    _rename(tmp, final)
    _fsync(final.parent)
    if old.exists():
        shutil.rmtree(old)
    return final


def load_checkpoint(
    directory: str | os.PathLike,
    *,
    modules: dict[str, nn.Module],
    optimizers: dict[str, Optimizer],
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Load what `save_checkpoint` wrote into `modules` / `optimizers` in place; return `state`.

    Weights land on each module's current device. RNG states are restored when `restore_rng` and
    they were saved. Falls back to `<directory>.old` if a save crashed mid-swap.
    """
    final, _, old = _paths(directory)
    path = final if final.exists() else old
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {final} (nor {old})")
    meta = json.loads((path / "meta.json").read_text())
    for kind, wanted, saved in (
        ("module", modules, meta["modules"]),
        ("optimizer", optimizers, meta["optimizers"]),
    ):
        missing = sorted(set(wanted) - set(saved))
        if missing:
            raise KeyError(f"{kind}s {missing} not in checkpoint {path}; it holds {saved}")
    for name, module in modules.items():
        # A module may hold only buffers (an algorithm's running statistics): its device is theirs.
        device = next(itertools.chain(module.parameters(), module.buffers()), torch.empty(0)).device
        load_model(module, str(path / f"{name}.safetensors"), strict=True, device=str(device))
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(
            torch.load(path / f"{name}.optim.pt", map_location="cpu", weights_only=True)
        )
    if restore_rng and meta["rng"] is not None:
        set_rng_state(meta["rng"])
    return meta["state"]
