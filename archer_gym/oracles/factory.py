"""``make_oracle``: the one place a task env turns its ``oracle=`` kwarg into an oracle object.

A task env forwards its oracle kwargs from its ``_make_oracle`` hook::

    def _make_oracle(self, name, **kwargs):
        return make_oracle(name, task="twenty_questions", kb_oracle=KnowledgeBaseOracle(answer), **kwargs)

so that ``gym.make("archer/TwentyQuestions-v0", oracle="openai", oracle_model="m",
oracle_base_url="http://127.0.0.1:8000/v1")`` works. Option names may carry the env's ``oracle_``
prefix or not (``oracle_model=`` and ``model=`` are the same option).
"""

from __future__ import annotations

from typing import Any

from archer_gym.oracles.base import Oracle
from archer_gym.oracles.llm import LLMOracle

#: Backend name -> options it accepts (beyond ``cache``, ``max_reply_chars``, ``redaction``).
BACKEND_OPTIONS: dict[str, tuple[str, ...]] = {
    "kb": (),
    "hf": ("model", "device", "dtype", "max_new_tokens", "batch_size", "gguf_file", "trust_remote_code",
           "chat_template"),
    "openai": ("model", "base_url", "api_key", "timeout", "max_attempts", "backoff_base", "backoff_max",
               "max_retry_after", "concurrency", "max_tokens", "temperature", "seed"),
}
ORACLE_OPTIONS = ("cache", "max_reply_chars", "redaction")
CHOICES = tuple(BACKEND_OPTIONS)


def make_oracle(name: "str | Oracle", *, task: str, kb_oracle: Oracle, **kwargs: Any) -> Oracle:
    """The oracle named ``name`` for ``task``.

    ``"kb"``: ``kb_oracle`` itself (deterministic, offline, free; no options). ``"hf"``: a local
    transformers model (``model=`` required). ``"openai"``: an OpenAI-compatible endpoint (``model=``
    required, ``base_url=`` for anything but api.openai.com). Both LLM backends take ``cache=``
    (``"default"``, a path, or None/"off"). An :class:`Oracle` object passes through unchanged.
    Unknown names raise ``ValueError`` listing the choices; unknown options raise ``TypeError``.
    """
    if not isinstance(name, str):
        if isinstance(name, Oracle):
            return name
        raise TypeError(f"oracle={name!r} is neither a backend name {list(CHOICES)} nor an Oracle object.")
    key = name.strip().lower()
    if key not in BACKEND_OPTIONS:
        raise ValueError(f"oracle={name!r} is not an oracle backend; choose one of {list(CHOICES)} "
                         "('kb' is the deterministic knowledge-base default).")
    opts = {(k[len("oracle_"):] if k.startswith("oracle_") else k): v for k, v in kwargs.items()}
    allowed = BACKEND_OPTIONS[key] + (ORACLE_OPTIONS if key != "kb" else ())
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise TypeError(f"oracle={key!r} got unknown option(s) {unknown}; it accepts "
                        f"{['oracle_' + a for a in allowed] or 'no options'}.")
    if key == "kb":
        return kb_oracle
    oracle_opts = {k: opts.pop(k) for k in ORACLE_OPTIONS if k in opts}
    if not opts.get("model"):
        raise ValueError(f"oracle={key!r} for task {task!r} needs oracle_model=<"
                         + ("hub name or local folder" if key == "hf" else "model name the endpoint serves") + ">.")
    model = opts.pop("model")
    if key == "hf":
        from archer_gym.oracles.hf import HFBackend
        backend = HFBackend(model, **opts)
    else:
        from archer_gym.oracles.openai_backend import OpenAIBackend
        backend = OpenAIBackend(model, **opts)
    return LLMOracle(backend, **oracle_opts)


def env_oracle(oracle: "str | Oracle | None", *, task: str, kb_answer, **oracle_kwargs: Any) -> Oracle:
    """What a task env's ``oracle=`` kwarg (None, a backend name, or an Oracle) and its ``oracle_*``
    kwargs become. ``kb_answer(secret, question) -> reply`` is the task's knowledge base."""
    from archer_gym.oracles.base import KnowledgeBaseOracle

    bad = [k for k in oracle_kwargs if not k.startswith("oracle_")]
    if bad:
        raise TypeError(f"unexpected keyword argument(s) {bad}; oracle options are spelled oracle_<name>, "
                        f"e.g. oracle_model=, oracle_base_url=")
    if oracle is not None and not isinstance(oracle, (str, Oracle)):
        raise TypeError(f"oracle must be None, a backend name {list(CHOICES)} or an Oracle, got {type(oracle).__name__}")
    if isinstance(oracle, Oracle) and not isinstance(oracle, str):
        if oracle_kwargs:
            raise TypeError(f"oracle options {sorted(oracle_kwargs)} need a backend name, not an Oracle object")
        return oracle
    return make_oracle(oracle or "kb", task=task, kb_oracle=KnowledgeBaseOracle(kb_answer, name=task), **oracle_kwargs)
