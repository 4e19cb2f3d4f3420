"""Question understanding for Twenty Questions: guesses, attribute questions and the knowledge base.

Matching is by whole words, never by raw substring: a question is lower-cased, stripped of punctuation
and split into word tokens first, so "know" is not "no" and "pen" is not in "pencil".

A question is read in this order (first hit wins):

1. a *guess*: after removing fillers ("is it", "is the object", "my guess is", "could it be", "a",
   "the", ...) what is left names exactly one word or one of its variants ("Is it a pair of
   scissors?", "Dog?", "My guess is dog"). "Is it a dog or a cat?" names two things: not a guess.
2. an attribute question, by exact (normalised) phrasing from ``knowledge.json``;
3. an attribute question, by keywords: the question contains every word of one keyword phrase of
   that attribute. The attribute with the longest matching phrase wins ("Is it a kitchen utensil?"
   is ``kitchen_utensil``, not ``in_kitchen``); a tie between attributes is not understood.
   Questions with "or" or a negation ("Is it not alive?") are not understood: a yes/no reply to them
   would be ambiguous.

Anything else gets :data:`DONT_UNDERSTAND`.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

YES = "Yes."
NO = "No."
CORRECT = "Yes! You guessed it."
DONT_UNDERSTAND = "I don't understand the question."

_DATA = Path(__file__).resolve().parent
_TOKEN = re.compile(r"[a-z0-9]+")

# Said before the guessed name ("Is the object a soccer ball?"). Tried longest first, repeatedly.
_GUESS_PREFIXES = tuple(tuple(p.split()) for p in (
    "is it", "is this", "is that", "it is", "its", "is the object", "is the thing", "is the word",
    "is the answer", "is the secret word", "is the secret object", "is your word", "is your object",
    "the answer is", "the word is", "your word is", "the object is", "my guess is", "i guess",
    "guess", "could it be", "can it be", "would it be", "might it be", "are you thinking of",
    "were you thinking of", "i think it is", "i think its", "are they", "maybe", "perhaps", "so",
    "ok", "okay", "a", "an", "the",
))
#: First word -> the prefixes that start with it, longest first: the ones :func:`_strip_fillers` can match, in the
#: order it tries them (sorting all of them at every try was most of a step's cost; issue 19).
_PREFIXES_BY_FIRST: dict[str, tuple[tuple[str, ...], ...]] = {}
for _p in sorted(_GUESS_PREFIXES, key=len, reverse=True):
    _PREFIXES_BY_FIRST[_p[0]] = _PREFIXES_BY_FIRST.get(_p[0], ()) + (_p,)
_GUESS_SUFFIXES = (("then",), ("maybe",), ("perhaps",), ("right",))
# A yes/no reply to these would be ambiguous, so they are not understood (see module docstring).
_NEGATIONS = frozenset(
    "not no nt isnt dont doesnt cant cannot wont arent never neither nor without wasnt werent".split())
_QUESTION_STARTS = frozenset(
    "is are does do can could would will was were has have had should may might did am".split())
#: Longer questions are keyword soup more often than questions; they are not understood.
MAX_QUESTION_TOKENS = 25
#: Questions :meth:`KnowledgeBase.parse` remembers (the first ones read; a question is at most 500 characters).
PARSE_CACHE_SIZE = 100_000


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens; apostrophes are dropped inside words ("don't" -> "dont")."""
    return _TOKEN.findall(text.lower().replace("'", "").replace("\u2019", ""))


def _strip_fillers(tokens: list[str]) -> list[str]:
    tokens = list(tokens)
    changed = True
    while changed and tokens:
        changed = False
        for p in _PREFIXES_BY_FIRST.get(tokens[0], ()):
            if tuple(tokens[: len(p)]) == p and len(tokens) > len(p):
                tokens, changed = tokens[len(p):], True
                break
        for s in _GUESS_SUFFIXES:
            if tuple(tokens[-len(s):]) == s and len(tokens) > len(s):
                tokens, changed = tokens[: -len(s)], True
    return tokens


@dataclass(frozen=True)
class Attribute:
    name: str
    questions: tuple[str, ...]  # canonical first
    keywords: tuple[frozenset[str], ...]
    inverse_questions: tuple[str, ...] = ()
    inverse_keywords: tuple[frozenset[str], ...] = ()

    @property
    def canonical(self) -> str:
        return self.questions[0]


@dataclass(frozen=True)
class Parsed:
    """What a question asks: ``kind`` is "guess" (``word``), "attribute" (``attribute``; the answer is
    yes when the fact equals ``polarity``) or "invalid"."""

    kind: str
    word: str = ""
    attribute: str = ""
    polarity: bool = True


INVALID = Parsed("invalid")


class KnowledgeBase:
    """Words, their variants and their facts, with the question parser and the yes/no answerer."""

    def __init__(self, words_data: dict, kb_data: dict):
        self.categories: dict[str, tuple[str, ...]] = {
            cat: tuple(v[0] for v in entries) for cat, entries in words_data["categories"].items()}
        self.variants: dict[str, tuple[str, ...]] = {
            v[0]: tuple(v) for entries in words_data["categories"].values() for v in entries}
        self.words: tuple[str, ...] = tuple(self.variants)
        self.subset: tuple[str, ...] = tuple(words_data["subset"])
        self.attributes: tuple[Attribute, ...] = tuple(
            Attribute(a["name"], tuple(a["questions"]), tuple(frozenset(k) for k in a["keywords"]),
                      tuple(a.get("inverse_questions", ())), tuple(frozenset(k) for k in a.get("inverse_keywords", ())))
            for a in kb_data["attributes"])
        self.facts: dict[str, dict[str, bool]] = kb_data["facts"]
        self._by_name = {a.name: a for a in self.attributes}
        self._names: dict[tuple[str, ...], str] = {}
        for word, names in self.variants.items():
            for name in names:
                key = tuple(tokenize(name))
                if self._names.get(key, word) != word:
                    raise ValueError(f"variant {name!r} names both {self._names[key]!r} and {word!r}")
                self._names[key] = word
        self._exact: dict[tuple[str, ...], tuple[str, bool]] = {}
        self._keywords: list[tuple[frozenset[str], str, bool]] = []
        for a in self.attributes:
            for q in a.questions:
                self._exact[tuple(tokenize(q))] = (a.name, True)
            for q in a.inverse_questions:
                self._exact[tuple(tokenize(q))] = (a.name, False)
            self._keywords += [(k, a.name, True) for k in a.keywords]
            self._keywords += [(k, a.name, False) for k in a.inverse_keywords]
        self._parsed: dict[str, Parsed] = {}  # question -> what it asks (see parse)
        self._variant_tokens = {word: [tokenize(name) for name in names] for word, names in self.variants.items()}

    # ------------------------------------------------------------------ lookup
    def attribute(self, name: str) -> Attribute:
        return self._by_name[name]

    def resolve(self, name: str) -> str | None:
        """Canonical word named by ``name`` (any variant, any case), or None."""
        if isinstance(name, str) and name in self.variants:
            return name  # a canonical word names itself (the oracle is asked about one at every turn)
        return self._names.get(tuple(tokenize(str(name))))

    def mentions(self, text: str, word: str) -> bool:
        """Whether ``text`` names ``word`` or a variant as whole words (used to stop leaks)."""
        tokens = tokenize(text)
        for n in self._variant_tokens[word]:
            if any(tokens[i: i + len(n)] == n for i in range(len(tokens) - len(n) + 1)):
                return True
        return False

    # ------------------------------------------------------------------ parsing
    def parse_guess(self, question: str) -> str | None:
        """The one word a question guesses, or None (see module docstring)."""
        parsed = self.parse(question)
        return parsed.word if parsed.kind == "guess" else None

    def _guess(self, question: str) -> str | None:
        rest = _strip_fillers(tokenize(question))
        if not rest:
            return None
        word = self._names.get(tuple(rest))
        if word is None and rest[-1].endswith("s"):
            # Plural guesses: "Is it grapes?", "Are they peaches?".
            for cut in (1, 2):
                word = word or self._names.get(tuple(rest[:-1] + [rest[-1][:-cut]]))
        return word

    def parse(self, question: str) -> Parsed:
        """What ``question`` asks (see module docstring). Each question is read once and remembered (up to
        :data:`PARSE_CACHE_SIZE` questions): the oracle and the env both read every question, and a policy asks the
        same ones again and again (issue 19)."""
        parsed = self._parsed.get(question)
        if parsed is None:
            parsed = self._parse(question)
            if len(self._parsed) < PARSE_CACHE_SIZE:
                self._parsed[question] = parsed
        return parsed

    def _parse(self, question: str) -> Parsed:
        word = self._guess(question)
        if word is not None:
            return Parsed("guess", word=word)
        tokens = tokenize(question)
        if not tokens:
            return INVALID
        exact = self._exact.get(tuple(tokens))
        if exact is not None:
            return Parsed("attribute", attribute=exact[0], polarity=exact[1])
        if (len(tokens) > MAX_QUESTION_TOKENS or "or" in tokens or _NEGATIONS.intersection(tokens)
                or not (tokens[0] in _QUESTION_STARTS or question.rstrip().endswith("?"))):
            return INVALID
        present = set(tokens)
        best, found = 0, set()
        for kw, name, polarity in self._keywords:
            if kw <= present:
                if len(kw) > best:
                    best, found = len(kw), {(name, polarity)}
                elif len(kw) == best:
                    found.add((name, polarity))
        if len(found) != 1:
            return INVALID
        name, polarity = found.pop()
        return Parsed("attribute", attribute=name, polarity=polarity)

    # ------------------------------------------------------------------ answering
    def answer(self, secret: str, question: str) -> str:
        """The knowledge-base reply to ``question`` about ``secret`` (a word or variant)."""
        word = self.resolve(secret)
        if word is None:
            raise ValueError(f"unknown secret word {secret!r}")
        p = self.parse(question)
        if p.kind == "guess":
            return CORRECT if p.word == word else NO
        if p.kind == "attribute":
            return YES if self.facts[word][p.attribute] == p.polarity else NO
        return DONT_UNDERSTAND

    def signature(self, word: str) -> tuple[bool, ...]:
        return tuple(self.facts[word][a.name] for a in self.attributes)


@functools.lru_cache(maxsize=1)
def load_knowledge() -> KnowledgeBase:
    """The packaged knowledge base (read once per process)."""
    with open(_DATA / "words.json") as f:
        words = json.load(f)
    with open(_DATA / "knowledge.json") as f:
        kb = json.load(f)
    return KnowledgeBase(words, kb)


def answer(secret: str, question: str) -> str:
    """Module-level answer function for :class:`archer_gym.oracles.KnowledgeBaseOracle`."""
    return load_knowledge().answer(secret, question)
