"""Scaling features on CPU with tiny models: LoRA, frozen critic encoder, gradient checkpointing, bf16 autocast,
chat templates, the multi-process helpers (single process, and 2 gloo processes for the collectives)."""

import json
import os

import pytest
import torch

from agents import distributed as dist
from agents.algos.common import clip_step
from agents.checkpoint import load_checkpoint, save_checkpoint
from agents.models import ModelConfig, autocast, make_actor, make_critic
from agents.policy import Actor
from agents.tiny import build_tiny_actor, train_tokenizer
from tests.loopback import free_port

TEXT = ["Guess my colour.\n\nQ: Is it warm?\nA: Yes.\n", "red", "blue", "Is it warm?", "green orange hello"]
PROMPTS = ["Guess my colour.\n\nQ: Is it warm?\nA: No.\n", "Guess my colour."]


def tiny(seed: int = 0, **cfg):
    torch.manual_seed(seed)
    tok = train_tokenizer(TEXT, vocab_size=300)
    model = build_tiny_actor(tok, n_layer=2, n_head=2, n_embd=32, n_positions=128)
    mcfg = ModelConfig(max_prompt_tokens=64, max_new_tokens=6, **cfg)
    return make_actor(model, tok, mcfg), mcfg


def nll(actor: Actor):
    prompts = actor.build_prompt_ids(PROMPTS)
    actions = [actor.tokenizer.encode("red\n"), actor.tokenizer.encode("Is it warm?\n")]
    logp, mask = actor.log_probs(prompts, actions)
    return -(logp * mask).sum() / mask.sum()


def test_lora_wraps_trains_one_step_and_round_trips(tmp_path):
    peft = pytest.importorskip("peft")
    actor, _ = tiny(lora_r=4, lora_alpha=8)
    assert isinstance(actor.model, peft.PeftModel)
    trainable = {n for n, p in actor.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    base_before = {n: p.detach().clone() for n, p in actor.model.named_parameters() if not p.requires_grad}
    lora_before = {n: p.detach().clone() for n, p in actor.model.named_parameters() if p.requires_grad}
    opt = torch.optim.Adam([p for p in actor.model.parameters() if p.requires_grad], lr=1e-2)
    actor.model.train()
    clip_step(opt, nll(actor), actor.model.parameters(), 1.0)
    actor.model.eval()
    named = dict(actor.model.named_parameters())
    assert all(torch.equal(named[n], p) for n, p in base_before.items())  # base frozen
    assert any(not torch.equal(named[n], p) for n, p in lora_before.items())  # adapters moved
    sample = actor.sample(PROMPTS, greedy=True)  # acting goes through the peft wrapper
    assert len(sample.texts) == 2
    # Checkpoint round trip into a fresh LoRA actor (different init seed): same weights, same log-probs.
    save_checkpoint(tmp_path / "ckpt", modules={"actor": actor.model}, optimizers={"actor": opt}, state={})
    other, _ = tiny(seed=1, lora_r=4, lora_alpha=8)
    opt2 = torch.optim.Adam([p for p in other.model.parameters() if p.requires_grad], lr=1e-2)
    load_checkpoint(tmp_path / "ckpt", modules={"actor": other.model}, optimizers={"actor": opt2})
    with torch.no_grad():
        assert torch.allclose(nll(actor), nll(other))


def test_lora_actor_gives_the_critic_a_plain_trainable_body():
    pytest.importorskip("peft")
    actor, mcfg = tiny(lora_r=4)
    critic = make_critic(ModelConfig(critic="actor", critic_max_length=64, critic_head_hidden=16), actor)
    enc = critic.state_encoder.encoder
    assert not hasattr(enc, "lm_head") and all(p.requires_grad for p in enc.parameters())  # the body, trainable
    assert not any("lora" in n for n, _ in enc.named_parameters())
    q1, q2 = critic.q(PROMPTS, ["red", "blue"])
    assert q1.shape == (2,)


def test_lora_targets_by_model_type_and_override():
    pytest.importorskip("peft")
    from agents.models import lora_config

    actor, _ = tiny()
    assert set(lora_config(actor.model, ModelConfig(lora_r=2)).target_modules) == {"c_attn", "c_proj"}
    assert set(lora_config(actor.model, ModelConfig(lora_r=2, lora_target_modules="c_fc")).target_modules) == {"c_fc"}


def test_frozen_critic_encoder_leaves_the_body_unchanged():
    actor, _ = tiny()
    critic = make_critic(ModelConfig(critic="tiny", tiny_embd=32, critic_max_length=64, critic_head_hidden=16,
                                     freeze_critic_encoder=True), actor)
    body = {n: p.detach().clone() for n, p in critic.state_encoder.named_parameters()}
    heads = {n: p.detach().clone() for n, p in critic.named_parameters() if not n.startswith(("state_", "action_"))}
    opt = torch.optim.Adam([p for p in critic.parameters() if p.requires_grad], lr=1e-2)
    q1, q2, v1, v2 = critic(PROMPTS, ["red", "blue"])
    clip_step(opt, (q1 - 1).pow(2).mean() + (v1 + 1).pow(2).mean() + q2.mean() + v2.mean(), critic.parameters(), 1.0)
    now = dict(critic.state_encoder.named_parameters())
    assert all(torch.equal(now[n], p) for n, p in body.items())
    named = dict(critic.named_parameters())
    assert any(not torch.equal(named[n], p) for n, p in heads.items())


def test_gradient_checkpointing_flag_runs_and_matches():
    plain, _ = tiny()
    ckpt, _ = tiny(gradient_checkpointing=True)
    assert getattr(ckpt.model, "is_activation_checkpointing", None) or ckpt.model.is_gradient_checkpointing
    for a in (plain, ckpt):
        a.model.train()
    loss_plain, loss_ckpt = nll(plain), nll(ckpt)
    loss_ckpt.backward()
    loss_plain.backward()
    assert torch.allclose(loss_plain, loss_ckpt)
    g_plain = [p.grad for p in plain.model.parameters()]
    g_ckpt = [p.grad for p in ckpt.model.parameters()]
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_plain, g_ckpt))


def test_bf16_autocast_is_a_no_op_on_cpu():
    actor, mcfg = tiny(bf16=True)
    with torch.no_grad():
        ref = nll(actor)
        with autocast(mcfg):
            again = nll(actor)
    assert again.dtype == torch.float32 and torch.equal(ref, again)
    with autocast(mcfg):
        assert not torch.is_autocast_enabled("cpu") and not torch.is_autocast_enabled("cuda")


def test_chat_template_auto_uses_the_tokenizers_template():
    actor, _ = tiny()
    assert not actor.chat_template  # the tiny tokenizer has none: plain observation text
    tok = actor.tokenizer
    tok.chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>"
    templated = Actor(actor.model, tok, max_prompt_tokens=64, max_new_tokens=4, chat_template="auto")
    assert templated.chat_template
    text = tok.decode(templated.build_prompt_ids(["Guess my colour."])[0])
    assert text == "<system>Guess my colour.<assistant>"  # an observation with no history: the instruction alone
    text = tok.decode(templated.build_prompt_ids(["Guess my colour.\n\nQ: Red?\nA: No.\n"])[0])
    assert text == "<system>Guess my colour.<user>Q: Red?\nA: No.\n<assistant>"
    with pytest.raises(ValueError, match="chat_template"):
        ModelConfig(chat_template="yes")


def test_distributed_helpers_are_identities_in_one_process():
    assert dist.world_size() == 1 and dist.rank() == 0 and dist.is_main()
    assert dist.gather_object({"a": 1}) == [{"a": 1}]
    assert dist.broadcast_object([3]) == [3]
    idx = torch.tensor([4, 2, 7])
    with dist.data_parallel():
        assert not dist.dp_active()  # world size 1: nothing to shard or reduce
        assert dist.shard(idx) is idx
    # The round-robin deal and its inverse (uneven shares).
    items = list(range(7))
    per_rank = [items[r::3] for r in range(3)]
    assert dist.interleave(per_rank) == items
    assert dist.my_share(items) == items


def test_old_config_json_without_new_fields_still_resumes():
    from dataclasses import asdict

    from agents.config import TrainConfig, jsonable

    cfg = TrainConfig()
    saved = jsonable(cfg)
    for k in ("lora_r", "bf16", "gradient_checkpointing"):
        saved["model"].pop(k)
        saved["sft"]["model"].pop(k)
    saved.pop("rollout_backend")
    assert jsonable(TrainConfig.from_dict(saved)) == jsonable(cfg)
    assert asdict(cfg)["model"]["chat_template"] == "auto"


def test_config_json_holds_the_resolved_algorithm_config_and_reads_back():
    from agents.config import TrainConfig, jsonable, run_config_json

    cfg = TrainConfig(algo="archer", algo_config={"actor_lr": "1e-4", "kl_coef": 0.1})
    written = json.loads(json.dumps(run_config_json(cfg)))
    assert written["algo_config"] == {"actor_lr": "1e-4", "kl_coef": 0.1}  # the overrides as given
    resolved = written["algorithm"]  # every field, defaults included, as the run used them
    assert resolved["actor_lr"] == 1e-4 and resolved["kl_coef"] == 0.1 and resolved["critic_updates"] == 20
    assert resolved["gamma"] == 0.95 and resolved["actor_data"] == "replay"
    assert jsonable(TrainConfig.from_dict(written)) == jsonable(cfg)  # --resume compares without it
    chai = run_config_json(TrainConfig(algo="chai"))["algorithm"]
    assert chai["k"] == 5 and chai["critic"]["critic_updates"] == 20  # nested configs resolve too


def test_vllm_backend_is_optional_with_a_clear_error():
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    from agents.vllm_backend import VLLMRollout

    with pytest.raises(ImportError, match="pip install vllm"):
        VLLMRollout(None, None)


# ------------------------------------------------------------------ two real gloo processes, in-memory collectives

def _worker(rank: int, world: int, port: int, out: dict):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init(cpu=True)
    try:
        got = {"gather": dist.gather_object(("rank", rank)), "world": dist.world_size()}
        # Data-parallel step == one full-batch step: shards of rank 0's minibatch, averaged gradients.
        torch.manual_seed(rank)  # different inits: broadcast_module makes them equal
        model = torch.nn.Linear(3, 1)
        dist.broadcast_module(model)
        x = torch.arange(24, dtype=torch.float32).view(8, 3) / 10
        y = x.sum(1, keepdim=True)
        idx = torch.randperm(8, generator=torch.Generator().manual_seed(100 + rank))  # ranks disagree
        with dist.data_parallel():
            mine = dist.shard(idx)
            loss = (model(x[mine]) - y[mine]).pow(2).mean()
            model.zero_grad()
            loss.backward()
            dist.all_reduce_grads(list(model.parameters()))
        got["shard"] = mine.tolist()
        got["grad"] = model.weight.grad.clone()
        got["weight"] = model.weight.detach().clone()
        dist.check_replicas({"m": model})
        out[rank] = got
    finally:
        torch.distributed.destroy_process_group()


def test_two_gloo_processes_gather_shard_and_average_gradients():
    import torch.multiprocessing as mp

    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(2, free_port(), out), nprocs=2, join=True)
        res = dict(out)
    assert res[0]["gather"] == res[1]["gather"] == [("rank", 0), ("rank", 1)]
    assert res[0]["world"] == 2
    s0, s1 = res[0]["shard"], res[1]["shard"]
    assert sorted(s0 + s1) == list(range(8)) and len(s0) == len(s1) == 4  # one minibatch, split
    assert torch.equal(res[0]["grad"], res[1]["grad"]) and torch.equal(res[0]["weight"], res[1]["weight"])
    # The averaged gradient equals the full-batch gradient of rank 0's module (seed 0 init, broadcast to all).
    torch.manual_seed(0)
    full = torch.nn.Linear(3, 1)
    assert torch.equal(full.weight.detach(), res[0]["weight"])
    x = torch.arange(24, dtype=torch.float32).view(8, 3) / 10
    (full(x) - x.sum(1, keepdim=True)).pow(2).mean().backward()
    assert torch.allclose(full.weight.grad, res[0]["grad"], atol=1e-6)
