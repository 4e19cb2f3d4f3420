"""The Oracle protocol: ``answer_batch(requests) -> list[str]``, one reply per request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class OracleRequest:
    """One question for an oracle.

    ``task``: the task's short name (selects an LLM oracle's prompt template);
    ``secret``: the hidden target (word, city, ...), which the oracle must never say;
    ``question``: the agent's utterance; ``history``: earlier (question, answer) pairs;
    ``aliases``: other names of the secret, which the oracle must never say either;
    ``context``: what else the oracle plays from, in the task's prompt (CarDealer's buyer: its persona);
    "" for the guessing games.
    """

    task: str
    secret: str
    question: str
    history: tuple[tuple[str, str], ...] = ()
    aliases: tuple[str, ...] = field(default=())
    context: str = ""


@runtime_checkable
class Oracle(Protocol):
    """Anything that answers a batch of :class:`OracleRequest` with one string each, in order."""

    def answer_batch(self, requests: Sequence[OracleRequest]) -> list[str]: ...


class KnowledgeBaseOracle:
    """Deterministic oracle from a task's knowledge base: ``answer_fn(secret, question) -> reply``.

    Offline and free; the same question about the same secret always gets the same reply, so
    seeded episodes replay exactly.
    """

    def __init__(self, answer_fn: Callable[[str, str], str], name: str = "kb"):
        self.answer_fn = answer_fn
        self.name = name
        self.calls = 0  # batched calls served (the vector helper's one-call-per-step is tested on it)

    def answer_batch(self, requests: Sequence[OracleRequest]) -> list[str]:
        self.calls += 1
        return [self.answer_fn(r.secret, r.question) for r in requests]

    def __repr__(self) -> str:
        return f"KnowledgeBaseOracle({self.name})"
