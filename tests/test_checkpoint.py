"""Checkpoint round-trip (tied GPT-2 + Adam), RNG restore, and atomic writes under a crash."""

import random

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

import agents.checkpoint as checkpoint
from agents.checkpoint import load_checkpoint, save_checkpoint


def tiny_gpt2(seed):
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=50, n_layer=1, n_head=2, n_embd=16, n_positions=32, bos_token_id=0, eos_token_id=0,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,  # the step-after-load check is exact
    )
    return GPT2LMHeadModel(config)


def trained(seed=0):
    model = tiny_gpt2(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    ids = torch.randint(0, 50, (2, 8))
    model(ids, labels=ids).loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return model, optimizer


def assert_same_optimizer(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for key in sa["state"]:
        for name, value in sa["state"][key].items():
            assert torch.equal(value, sb["state"][key][name]), name


def test_round_trip(tmp_path):
    model, optimizer = trained()
    state = {"env_steps": 123, "trajectories": 7, "tokens": 4567, "config": {"lr": 1e-2}}
    save_checkpoint(tmp_path / "ckpt", modules={"actor": model}, optimizers={"actor": optimizer}, state=state)
    expected = (torch.rand(4), random.random(), np.random.rand())

    fresh = tiny_gpt2(seed=1)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=1e-2)
    assert not torch.equal(fresh.lm_head.weight, model.lm_head.weight)
    loaded = load_checkpoint(tmp_path / "ckpt", modules={"actor": fresh}, optimizers={"actor": fresh_opt})

    assert loaded == state
    after = (torch.rand(4), random.random(), np.random.rand())
    assert torch.equal(after[0], expected[0]) and after[1:] == expected[1:]
    for (name, p), q in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(p, q), name
    # The tie survives: one tensor for the embedding and the output head.
    assert fresh.lm_head.weight.data_ptr() == fresh.transformer.wte.weight.data_ptr()
    assert_same_optimizer(optimizer, fresh_opt)

    # The next step from the loaded copy equals the next step from the original.
    ids = torch.randint(0, 50, (2, 8))
    for m, opt in ((model, optimizer), (fresh, fresh_opt)):
        m(ids, labels=ids).loss.backward()
        opt.step()
    assert torch.equal(model.transformer.h[0].mlp.c_fc.weight, fresh.transformer.h[0].mlp.c_fc.weight)


def test_rng_not_restored_when_not_asked(tmp_path):
    model = tiny_gpt2(0)
    save_checkpoint(tmp_path / "ckpt", modules={"m": model}, optimizers={}, state={}, rng=False)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    load_checkpoint(tmp_path / "ckpt", modules={"m": model}, optimizers={})
    assert torch.equal(torch.rand(3), expected)


def test_rejects_non_json_state_before_writing(tmp_path):
    with pytest.raises(TypeError, match="JSON-able"):
        save_checkpoint(tmp_path / "ckpt", modules={}, optimizers={}, state={"x": object()})
    assert not any(tmp_path.iterdir())


def test_missing_module_named(tmp_path):
    save_checkpoint(tmp_path / "ckpt", modules={"actor": tiny_gpt2(0)}, optimizers={}, state={})
    with pytest.raises(KeyError, match="critic"):
        load_checkpoint(tmp_path / "ckpt", modules={"critic": tiny_gpt2(0)}, optimizers={})


def test_crash_while_writing_keeps_previous(tmp_path, monkeypatch):
    model, optimizer = trained()
    ckpt = tmp_path / "ckpt"
    save_checkpoint(ckpt, modules={"actor": model}, optimizers={"actor": optimizer}, state={"step": 1})
    before = {k: v.clone() for k, v in model.state_dict().items()}

    with torch.no_grad():
        model.lm_head.weight.add_(1.0)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", crash)  # weights written, optimizer not
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(ckpt, modules={"actor": model}, optimizers={"actor": optimizer}, state={"step": 2})
    monkeypatch.undo()

    fresh = tiny_gpt2(1)
    state = load_checkpoint(ckpt, modules={"actor": fresh}, optimizers={})
    assert state == {"step": 1}
    assert torch.equal(fresh.lm_head.weight, before["lm_head.weight"])

    # The next save cleans the half-written temp dir and succeeds.
    save_checkpoint(ckpt, modules={"actor": model}, optimizers={"actor": optimizer}, state={"step": 3})
    assert load_checkpoint(ckpt, modules={"actor": fresh}, optimizers={}) == {"step": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_crash_between_renames_falls_back_to_old(tmp_path, monkeypatch):
    ckpt = tmp_path / "ckpt"
    model = tiny_gpt2(0)
    save_checkpoint(ckpt, modules={"m": model}, optimizers={}, state={"step": 1})

    real_rename = checkpoint._rename
    calls = []

    def rename_then_crash(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # ckpt -> ckpt.old done, ckpt.tmp -> ckpt not yet
            raise OSError("power cut")
        real_rename(src, dst)

    monkeypatch.setattr(checkpoint, "_rename", rename_then_crash)
    with pytest.raises(OSError, match="power cut"):
        save_checkpoint(ckpt, modules={"m": model}, optimizers={}, state={"step": 2})
    monkeypatch.undo()

    assert not ckpt.exists()
    assert load_checkpoint(ckpt, modules={"m": model}, optimizers={}) == {"step": 1}
    save_checkpoint(ckpt, modules={"m": model}, optimizers={}, state={"step": 3})
    assert load_checkpoint(ckpt, modules={"m": model}, optimizers={}) == {"step": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_a_module_with_only_buffers_round_trips(tmp_path):
    """An algorithm's running statistics (examples/reinforce.py's baseline) can live in a parameterless module."""
    stats = torch.nn.Module()
    stats.register_buffer("baseline", torch.tensor(-4.5))
    save_checkpoint(tmp_path / "ckpt", modules={"stats": stats}, optimizers={}, state={})
    fresh = torch.nn.Module()
    fresh.register_buffer("baseline", torch.zeros(()))
    load_checkpoint(tmp_path / "ckpt", modules={"stats": fresh}, optimizers={})
    assert float(fresh.baseline) == -4.5


# ----------------------------------------------------------------- integrity (issue 15, items 2 and 4)
def _saved(tmp_path):
    """A checkpoint with every kind of file: weights, optimizer state, an extra file, meta.json."""
    model, optimizer = trained()
    ckpt = tmp_path / "ckpt"
    lines = "".join(f'{{"i": {i}}}\n' for i in range(50))
    save_checkpoint(ckpt, modules={"actor": model}, optimizers={"actor": optimizer}, state={"step": 1},
                    files={"buffer.jsonl": lambda p: p.write_text(lines)})
    return ckpt, lines


def _load(ckpt, out=None):
    fresh = tiny_gpt2(1)
    return load_checkpoint(ckpt, modules={"actor": fresh}, optimizers={"actor": torch.optim.Adam(fresh.parameters())},
                           files={"buffer.jsonl": lambda p: (out if out is not None else []).append(p.read_text())})


def _flip(data: bytes) -> bytes:  # one bit in the middle: same size, and for safetensors a valid header
    i = len(data) // 2 + 3
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


CORRUPTIONS = {
    "bit_flip": _flip,
    "truncated": lambda d: d[: len(d) // 2],
    "empty": lambda d: b"",
    "appended": lambda d: d + b"\n",
    "zeroed": lambda d: bytes(len(d)),
}
FILES = ["actor.safetensors", "actor.optim.pt", "meta.json", "buffer.jsonl"]


@pytest.mark.parametrize("corrupt", sorted(CORRUPTIONS))
@pytest.mark.parametrize("name", FILES)
def test_any_changed_file_stops_the_load_with_one_line_naming_it(tmp_path, name, corrupt):
    ckpt, _ = _saved(tmp_path)
    path = ckpt / name
    path.write_bytes(CORRUPTIONS[corrupt](path.read_bytes()))
    with pytest.raises(checkpoint.CheckpointError) as err:
        _load(ckpt)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "corrupt" in message


@pytest.mark.parametrize("change", ["missing", "added", "manifest_truncated", "manifest_missing"])
def test_missing_extra_or_unlisted_files_stop_the_load(tmp_path, change):
    ckpt, _ = _saved(tmp_path)
    named = {"missing": "actor.optim.pt", "added": "stray.bin", "manifest_truncated": "manifest.json",
             "manifest_missing": "manifest.json"}[change]
    if change == "missing":
        (ckpt / named).unlink()
    elif change == "added":
        (ckpt / named).write_bytes(b"x")
    elif change == "manifest_truncated":
        (ckpt / named).write_text((ckpt / named).read_text()[:20])
    else:
        (ckpt / named).unlink()
    with pytest.raises(checkpoint.CheckpointError, match=named) as err:
        _load(ckpt)
    assert "\n" not in str(err.value)


def test_extra_files_round_trip_and_fall_back_to_old(tmp_path, monkeypatch):
    ckpt, lines = _saved(tmp_path)
    read = []
    assert _load(ckpt, read) == {"step": 1} and read == [lines]
    ckpt.rename(tmp_path / "ckpt.old")  # what a crash between the two renames leaves
    assert checkpoint.find_checkpoint(ckpt) == tmp_path / "ckpt.old"
    read.clear()
    assert _load(ckpt, read) == {"step": 1} and read == [lines]


def test_optimizer_file_is_never_unpickled_beyond_tensors(tmp_path):
    """Even a pickle whose digest was rewritten to match (someone who edits the manifest) runs no code."""
    import hashlib
    import json
    import pickle

    ckpt, _ = _saved(tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = ckpt / "actor.optim.pt"
    torch.save({"state": {}, "param_groups": [], "x": Evil()}, path, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    manifest = json.loads((ckpt / "manifest.json").read_text())
    manifest["sha256"][path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    (ckpt / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(checkpoint.CheckpointError, match="actor.optim.pt") as err:
        _load(ckpt)
    assert "\n" not in str(err.value)
    assert not marker.exists()


def test_checkpoint_without_digests_is_refused_clearly(tmp_path):
    ckpt, _ = _saved(tmp_path)
    (ckpt / "manifest.json").unlink()  # what format 1 wrote: no digests to check
    with pytest.raises(checkpoint.CheckpointError, match="cannot be verified"):
        _load(ckpt)
