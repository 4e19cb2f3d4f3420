"""Checkpoints: safetensors weights, optimizer states, JSON counters and RNG states, written atomically.

Layout of a checkpoint directory `ckpt/`:

    <name>.safetensors   one per module (safetensors `save_model`: tied weights such as GPT-2's
                         lm_head / wte are stored once and re-tied on load)
    <name>.optim.pt      one per optimizer, `torch.save(optimizer.state_dict())`; loaded with
                         `weights_only=True` (tensors, numbers, str, lists, dicts only), so no arbitrary
                         object is unpickled, and only after its digest matched
    <extra files>        the caller's own files (the trainer's replay buffer), written by the caller's
                         writer into the checkpoint, so they are swapped in with it, never apart
    meta.json            format version, module / optimizer names, the caller's `state`
                         (counters, config, ...) and the RNG states (python, numpy, torch, cuda)
    manifest.json        written last: the format version and the SHA-256 of every other file. `load_checkpoint`
                         checks every digest before it reads a byte of the files, so a flipped, truncated
                         or swapped file stops the load with a one-line `CheckpointError` naming it.

Atomicity: everything is written into the sibling `ckpt.tmp/` (fsynced), then `ckpt/` is renamed
to `ckpt.old/`, `ckpt.tmp/` to `ckpt/`, and `ckpt.old/` removed. A directory named `ckpt/` is
therefore always complete. A crash before the swap leaves the previous `ckpt/` untouched; a crash
between the two renames leaves the previous checkpoint as `ckpt.old/`, which `load_checkpoint`
falls back to.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import nn
from torch.optim import Optimizer

FORMAT_VERSION = 2  # 2: manifest.json with a digest per file (1 had none and cannot be verified)
MANIFEST = "manifest.json"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded as written: its message is one line naming the file and what is wrong."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The checkpoint a load would read: `directory`, else `directory.old` (a save that crashed between its two
    renames), else None."""
    final, _, old = _paths(directory)
    return final if final.exists() else old if old.exists() else None


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
    files: dict[str, Callable[[Path], None]] | None = None,
) -> Path:
    """Write modules, optimizers, `state` (JSON-able) and RNG states to `directory`, atomically.

    `files` maps an extra file's name to a writer `write(path)` that creates it inside the checkpoint (load it
    back with `load_checkpoint(files=...)`). Returns the checkpoint path. `state` is checked to be JSON-able
    before anything touches disk.
    """
    files = files or {}
    _check_names("module", modules)
    _check_names("optimizer", optimizers)
    _check_names("file", files)
    reserved = {"meta.json", MANIFEST} | {f"{n}.safetensors" for n in modules} | {f"{n}.optim.pt" for n in optimizers}
    if reserved & set(files):
        raise ValueError(f"extra checkpoint files {sorted(reserved & set(files))} clash with the checkpoint's own")
    meta = {
        "format": FORMAT_VERSION,
        "modules": sorted(modules),
        "optimizers": sorted(optimizers),
        "files": sorted(files),
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
    for name, write in files.items():
        write(tmp / name)
    (tmp / "meta.json").write_text(meta_text)
    manifest = {"format": FORMAT_VERSION, "sha256": {p.name: _sha256(p) for p in sorted(tmp.iterdir())}}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
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


def verify_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Check every file of the checkpoint directory `path` against its manifest; return its meta.json.

    Raises `CheckpointError` (one line, naming the file) on a missing or unreadable manifest, a file missing,
    added or with another digest than the one written, or a meta.json that is not the JSON written."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        if (path / "meta.json").exists():
            raise CheckpointError(f"{path} has no {MANIFEST} (written before checkpoint format {FORMAT_VERSION}), so its "
                                  "files cannot be verified; continue it with the version that wrote it, or start a new run")
        raise CheckpointError(f"{manifest_path} is missing: {path} is not a complete checkpoint")
    try:
        manifest = json.loads(manifest_path.read_text())
        digests = manifest["sha256"]
        if not isinstance(digests, dict):
            raise TypeError("sha256 is not an object")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{manifest_path} is corrupt ({type(err).__name__}: {err})") from None
    present = {p.name for p in path.iterdir()} - {MANIFEST}
    for name in sorted(set(digests) | present):
        if name not in digests:
            raise CheckpointError(f"{path / name} is not in {MANIFEST}: the checkpoint holds a file it did not write")
        if name not in present:
            raise CheckpointError(f"{path / name} is missing (listed in {MANIFEST})")
        if _sha256(path / name) != digests[name]:
            raise CheckpointError(f"{path / name} is corrupt: its SHA-256 differs from the one written in {MANIFEST}")
    try:
        return json.loads((path / "meta.json").read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path / 'meta.json'} is corrupt ({err})") from None


def load_checkpoint(
    directory: str | os.PathLike,
    *,
    modules: dict[str, nn.Module],
    optimizers: dict[str, Optimizer],
    restore_rng: bool = True,
    files: dict[str, Callable[[Path], None]] | None = None,
) -> dict[str, Any]:
    """Load what `save_checkpoint` wrote into `modules` / `optimizers` in place; return `state`.

    Every file is checked against the digests of manifest.json first (`verify_checkpoint`); any failure is a
    `CheckpointError` naming the file. `files` maps an extra file's name to a reader `read(path)`. Weights land
    on each module's current device. RNG states are restored when `restore_rng` and they were saved. Falls
    back to `<directory>.old` if a save crashed mid-swap.
    """
    files = files or {}
    final, _, old = _paths(directory)
    path = find_checkpoint(directory)
    if path is None:
        raise FileNotFoundError(f"no checkpoint at {final} (nor {old})")
    meta = verify_checkpoint(path)
    for kind, wanted, saved in (
        ("module", modules, meta["modules"]),
        ("optimizer", optimizers, meta["optimizers"]),
        ("file", files, meta.get("files", [])),
    ):
        missing = sorted(set(wanted) - set(saved))
        if missing:
            raise KeyError(f"{kind}s {missing} not in checkpoint {path}; it holds {saved}")

    def reading(file: Path, load: Callable[[], Any]) -> Any:
        # The digest matched, so these bytes are the ones written: a failure here is a file that did not fit
        # what is loaded into (another model), or one written corrupt; say which file, in one line.
        try:
            return load()
        except Exception as err:  # noqa: BLE001 - re-raised with the file's name
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise CheckpointError(f"{file} cannot be loaded ({type(err).__name__}: {first[:300]})") from err

    for name, module in modules.items():
        # A module may hold only buffers (an algorithm's running statistics): its device is theirs.
        device = next(itertools.chain(module.parameters(), module.buffers()), torch.empty(0)).device
        file = path / f"{name}.safetensors"
        reading(file, lambda: load_model(module, str(file), strict=True, device=str(device)))
    for name, optimizer in optimizers.items():
        file = path / f"{name}.optim.pt"
        state = reading(file, lambda: torch.load(file, map_location="cpu", weights_only=True))
        reading(file, lambda: optimizer.load_state_dict(state))
    for name, read in files.items():
        reading(path / name, lambda: read(path / name))
    if restore_rng and meta["rng"] is not None:
        set_rng_state(meta["rng"])
    return meta["state"]
