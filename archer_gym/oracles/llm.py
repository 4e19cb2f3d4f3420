"""What every language-model oracle shares, whatever runs the model.

* **Prompts**: one template per task (:data:`TEMPLATES`) states the game's rules and the secret. The
  chat messages (:func:`build_messages`) are: a system message (rules, then a machine-readable block
  ``Secret: ...`` / ``Aliases: ...`` / ``Task: ...``), the earlier turns as user/assistant pairs, and
  the question as the last user message. :func:`parse_messages` inverts it, which is how
  ``archer_gym.oracles.server`` answers an OpenAI-style request with a task's knowledge-base oracle.
* **Yes/no normalisation** (:func:`normalize_reply`): the FIRST word decides (``"Yes, it is"`` ->
  ``"Yes."``, ``"Nope"`` -> ``"No."``); other replies are kept, cleaned and cut short.
* **No-leak guard** (:func:`redact`): whole-word, case-insensitive occurrences of the secret and its
  aliases become ``"that"`` (not for CarDealer's buyer, whose env reads the deal price first and guards the
  budget itself: see its template).
* **Cache and usage**: :class:`LLMOracle` looks every prompt up in an :class:`OracleCache` before it
  asks the backend, and counts ``usage = {prompt_tokens, completion_tokens, requests, cache_hits}``.

A backend (``archer_gym.oracles.hf.HFBackend``, ``archer_gym.oracles.openai_backend.OpenAIBackend``)
only turns a batch of chat prompts into completions; :class:`LLMOracle` does the rest.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, Sequence

from archer_gym.oracles.base import OracleRequest
from archer_gym.oracles.cache import OracleCache, cache_key, resolve_cache

Messages = list[dict[str, str]]


class OracleError(RuntimeError):
    """An LLM oracle could not answer: the endpoint, the last HTTP status (``None`` for timeouts,
    connection errors and malformed replies) and the number of attempts are attributes and in the
    message. Raised instead of ever returning a made-up default answer."""

    def __init__(self, message: str, *, endpoint: str | None = None, status: int | None = None,
                 attempts: int = 0):
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status
        self.attempts = attempts


# --------------------------------------------------------------------------- prompt templates
@dataclass(frozen=True)
class PromptTemplate:
    """A task's oracle instructions. ``rules`` is formatted with ``secret``, ``never_say``
    (the secret and its aliases, quoted) and ``context`` (:attr:`OracleRequest.context`). ``yes_no_only``:
    every reply whose first word is a yes/no word collapses to ``"Yes."``/``"No."`` (Twenty Questions);
    otherwise only bare yes/no replies collapse and informative answers are kept (Guess My City's open
    questions). ``first_line_only``: keep only the reply's first line (else its lines are joined).
    ``redact_secret``: replace the secret's whole-word mentions with the redaction word; off where the env
    must read the reply unaltered and guards it itself."""

    rules: str
    yes_no_only: bool = True
    first_line_only: bool = True
    redact_secret: bool = True


TEMPLATES: dict[str, PromptTemplate] = {
    "twenty_questions": PromptTemplate(
        rules=(
            "You are the oracle in a game of Twenty Questions. The hidden object is {secret}. "
            "The player asks yes/no questions to find it. Answer every question truthfully about "
            "{secret}, with only \"Yes.\" or \"No.\". If the player names the object, answer \"Yes.\". "
            "Never say {never_say}."
        ),
        yes_no_only=True,
    ),
    "guess_my_city": PromptTemplate(
        rules=(
            "You live in the city {secret}. The player is trying to guess your city by asking you "
            "questions. Answer truthfully about {secret} in one short sentence; answer yes/no questions "
            "with \"Yes.\" or \"No.\". If the player names the city, answer \"Yes.\". "
            "Never say {never_say}."
        ),
        yes_no_only=False,
    ),
    # The buyer of archer/CarDealer-v0 (tasks/car_dealer/llm_buyer.py writes the persona, the env judges the
    # reply). Its "secret" is the budget. Not redacted here: a deal at exactly the budget ("DEAL at $30,000"
    # after the seller asked $30,000) is legal, so the env reads the deal first and then replaces any other
    # reply that states the budget (archer_gym.oracles.guard.mentions_amount). All lines are kept: chat models
    # often put the deal phrase on a line of its own.
    "car_dealer": PromptTemplate(
        rules=(
            "You are a customer at a car dealership, talking with a salesperson. {context} Your budget is "
            "{secret}: you will not pay more than that. Never state your budget or any figure for it, in digits "
            "or in words, even if asked. Reply as the customer, in one or two short sentences. Ask about the car, "
            "turn down prices that are too high, and make counter-offers. To accept the salesperson's price, or to "
            "confirm when they accept yours, say the phrase DEAL at $<price>, for example \"DEAL at $23,500\"; "
            "never write DEAL otherwise."
        ),
        yes_no_only=False, first_line_only=False, redact_secret=False,
    ),
}
#: Used for a task without its own template.
DEFAULT_TEMPLATE = PromptTemplate(
    rules=(
        "You are the oracle of a guessing game. The secret is {secret}. Answer the player's questions "
        "truthfully and briefly; answer yes/no questions with \"Yes.\" or \"No.\". Never say {never_say}."
    ),
    yes_no_only=False,
)


def template_for(task: str) -> PromptTemplate:
    return TEMPLATES.get(task, DEFAULT_TEMPLATE)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def build_messages(request: OracleRequest) -> Messages:
    """The chat prompt for ``request``: system (rules + ``Secret:``/``Aliases:``/``Task:`` block),
    history as user/assistant pairs, the question as the last user message."""
    secret = _one_line(request.secret)
    aliases = [_one_line(a) for a in request.aliases if _one_line(a)]
    never_say = " or ".join(f'"{t}"' for t in [secret, *aliases])
    rules = template_for(request.task).rules.format(secret=secret, never_say=never_say,
                                                    context=_one_line(request.context))
    system = f"{rules}\n\nSecret: {secret}\nAliases: {'; '.join(aliases)}\nTask: {request.task}"
    messages: Messages = [{"role": "system", "content": system}]
    for question, answer in request.history:
        messages.append({"role": "user", "content": str(question)})
        messages.append({"role": "assistant", "content": str(answer)})
    messages.append({"role": "user", "content": str(request.question)})
    return messages


_FIELD = {name: re.compile(rf"^{name}: ?(.*)$", re.MULTILINE) for name in ("Secret", "Aliases", "Task")}


def message_text(content: Any) -> str:
    """Text of an OpenAI message ``content``: a str, or a list of ``{"type": "text", "text": ...}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in content):
        return "".join(p["text"] for p in content)
    raise ValueError("message content must be a string or a list of text parts")


def parse_messages(messages: Any, default_task: str | None = None) -> OracleRequest:
    """Rebuild the :class:`OracleRequest` that :func:`build_messages` made (``ValueError`` if ``messages``
    is not such a prompt; the message says what is wrong)."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m for m in messages):
        raise ValueError("every message must be an object with 'role' and 'content'")
    system = [message_text(m["content"]) for m in messages if m["role"] in ("system", "developer")]
    if not system:
        raise ValueError("no system message: the system message must state 'Secret: <secret>'")
    found = {k: rx.findall(system[0]) for k, rx in _FIELD.items()}
    if not found["Secret"] or not found["Secret"][-1].strip():
        raise ValueError("the system message has no 'Secret: <secret>' line")
    secret = found["Secret"][-1].strip()
    aliases = tuple(a.strip() for a in found["Aliases"][-1].split(";") if a.strip()) if found["Aliases"] else ()
    task = found["Task"][-1].strip() if found["Task"] and found["Task"][-1].strip() else default_task
    if not task:
        raise ValueError("the system message has no 'Task: <task>' line")
    turns = [m for m in messages if m["role"] in ("user", "assistant")]
    if not turns or turns[-1]["role"] != "user":
        raise ValueError("the last message must be the user's question")
    question = message_text(turns[-1]["content"])
    history: list[tuple[str, str]] = []
    pending: str | None = None
    for m in turns[:-1]:
        if m["role"] == "user":
            pending = message_text(m["content"])
        elif pending is not None:
            history.append((pending, message_text(m["content"])))
            pending = None
    return OracleRequest(task=task, secret=secret, question=question, history=tuple(history), aliases=aliases)


# --------------------------------------------------------------------------- reply post-processing
YES_WORDS = frozenset({"yes", "yeah", "yep", "yup", "yea", "ya", "correct", "true", "right", "affirmative",
                       "absolutely", "definitely", "certainly", "indeed", "sure", "exactly"})
NO_WORDS = frozenset({"no", "nope", "nah", "not", "false", "never", "negative", "incorrect", "wrong", "nay"})
# Lead-ins small models put before the verdict ("Answer: yes", "The answer to this question is yes.")
_PREFIX = re.compile(r"^\s*(?:(?:a|answer|oracle|assistant|reply)\s*:\s*"
                     r"|(?:the\s+)?answer(?:\s+to\s+(?:this|that|the|your)\s+question)?\s+is\s*:?\s*)+",
                     re.IGNORECASE)
_FIRST_WORD = re.compile(r"[A-Za-z]+")
MAX_REPLY_CHARS = 200


def yes_no(text: str) -> str | None:
    """``"Yes."``, ``"No."`` or ``None``, from the first word of ``text`` only (never a substring
    search: "I know it is not..." is not "No")."""
    m = _FIRST_WORD.match(_PREFIX.sub("", text).lstrip(" \"'*`([-"))
    if m is None:
        return None
    word = m.group(0).lower()
    return "Yes." if word in YES_WORDS else "No." if word in NO_WORDS else None


def normalize_reply(text: str, *, yes_no_only: bool = True, max_chars: int = MAX_REPLY_CHARS,
                    first_line_only: bool = True) -> str:
    """Clean a model's reply: its first non-empty line (``first_line_only=False``: all its lines, joined),
    whitespace collapsed, an ``Answer:`` prefix dropped, cut to ``max_chars`` at a word boundary. A reply whose
    first word is a yes/no word becomes ``"Yes."``/``"No."`` (with ``yes_no_only=False``: only when nothing
    else follows that word)."""
    if first_line_only:
        line = next((ln for ln in str(text).splitlines() if ln.strip()), "")
    else:
        line = str(text)
    line = _PREFIX.sub("", " ".join(line.split())).strip()
    verdict = yes_no(line)
    if verdict is not None:
        rest = _FIRST_WORD.sub("", line.lstrip(" \"'*`([-"), count=1).strip(" .!,;:\"'*`)]-")
        if yes_no_only or not rest:
            return verdict
    if len(line) > max_chars:
        line = line[:max_chars].rsplit(" ", 1)[0].rstrip(" ,;:") + "..."
    return line


def redact(text: str, secret: str, aliases: Sequence[str] = (), replacement: str = "that") -> str:
    """Replace whole-word, case-insensitive occurrences of ``secret`` and ``aliases`` (plurals too)
    with ``replacement``: the oracle never says the answer."""
    terms = sorted({t.strip() for t in (secret, *aliases) if t and t.strip()}, key=len, reverse=True)
    if not terms:
        return text
    pattern = r"(?<![A-Za-z0-9])(?:" + "|".join(re.escape(t) for t in terms) + r")(?:e?s)?(?![A-Za-z0-9])"
    return re.sub(pattern, replacement, text, flags=re.IGNORECASE)


# --------------------------------------------------------------------------- the oracle
class Completion(NamedTuple):
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Backend(Protocol):
    """Turns chat prompts into completions, in order. ``name`` and ``model`` and ``params()`` (the
    generation parameters) enter the cache key."""

    name: str
    model: str

    def params(self) -> dict[str, Any]: ...

    def complete(self, prompts: Sequence[Messages]) -> list[Completion]: ...


def new_usage() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "requests": 0, "cache_hits": 0}


class LLMOracle:
    """An :class:`~archer_gym.oracles.base.Oracle` played by a language model ``backend``.

    ``answer_batch`` builds each request's prompt, answers what it can from the cache, sends the rest
    to the backend in ONE ``complete`` call (identical prompts once), caches the raw completions, then
    normalises each reply and redacts the secret. ``usage`` counts backend requests, their tokens and
    cache hits (keep it out of an env's ``info`` by default: it changes across same-seed runs).

    Arguments: ``backend``; ``cache``: ``"default"``, a path, an :class:`OracleCache`, or None/"off";
    ``max_reply_chars``; ``redaction``: the word that replaces the secret.
    """

    def __init__(self, backend: Backend, *, cache: "str | os.PathLike | OracleCache | None" = "default",
                 max_reply_chars: int = MAX_REPLY_CHARS, redaction: str = "that"):
        self.backend = backend
        self.cache = resolve_cache(cache)
        self.max_reply_chars = max_reply_chars
        self.redaction = redaction
        self.usage = new_usage()
        self._usage_lock = threading.Lock()

    def _count(self, **deltas: int) -> None:
        with self._usage_lock:
            for k, v in deltas.items():
                self.usage[k] += int(v)

    def complete_raw(self, requests: Sequence[OracleRequest]) -> list[str]:
        """The model's raw completion for each request (cached), before normalisation and redaction."""
        prompts = [build_messages(r) for r in requests]
        params = self.backend.params()
        keys = [cache_key(self.backend.name, self.backend.model, p, params) for p in prompts]
        texts: dict[str, str] = {}
        if self.cache is not None:
            for k in set(keys):
                hit = self.cache.get(k)
                if hit is not None:
                    texts[k] = hit[0]
            self._count(cache_hits=sum(k in texts for k in keys))
        miss_keys = list(dict.fromkeys(k for k in keys if k not in texts))
        if miss_keys:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            # A failure raises here, before anything of this batch is cached.
            completions = self.backend.complete([prompts[first[k]] for k in miss_keys])
            if len(completions) != len(miss_keys):
                raise OracleError(f"{self.backend.name} returned {len(completions)} completions for "
                                  f"{len(miss_keys)} prompts")
            self._count(requests=len(miss_keys),
                        prompt_tokens=sum(c.prompt_tokens for c in completions),
                        completion_tokens=sum(c.completion_tokens for c in completions))
            for k, c in zip(miss_keys, completions):
                texts[k] = c.text
                if self.cache is not None:
                    self.cache.put(k, c.text, c.prompt_tokens, c.completion_tokens)
        return [texts[k] for k in keys]

    def postprocess(self, raw: str, request: OracleRequest) -> str:
        template = template_for(request.task)
        reply = normalize_reply(raw, yes_no_only=template.yes_no_only, max_chars=self.max_reply_chars,
                                first_line_only=template.first_line_only)
        return redact(reply, request.secret, request.aliases, self.redaction) if template.redact_secret else reply

    def answer_batch(self, requests: Sequence[OracleRequest]) -> list[str]:
        requests = list(requests)
        if not requests:
            return []
        return [self.postprocess(raw, r) for raw, r in zip(self.complete_raw(requests), requests)]

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"LLMOracle({self.backend!r}, cache={self.cache!r})"
