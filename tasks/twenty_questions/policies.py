"""Scripted Twenty Questions askers: ``expert``, ``noisy`` (epsilon-expert) and ``random``.

Each is a callable ``policy(observation: str) -> str``. They read only the observation text (the
Q:/A: history) and the public knowledge base of their word set, never the env's hidden target, so
they work unchanged behind any oracle and on recorded observations.
"""

from __future__ import annotations

import math

import numpy as np

from tasks.twenty_questions.questions import CORRECT, NO, YES, KnowledgeBase, load_knowledge

POLICIES = ("expert", "noisy", "random")


def parse_history(observation: str) -> list[tuple[str, str]]:
    """(question, reply) pairs of the observation's history, oldest first."""
    _, _, body = observation.partition("\n\n")
    pairs, question = [], None
    for line in body.split("\n"):
        if line.startswith("Q:"):
            question = line[2:].strip()
        elif line.startswith("A:") and question is not None:
            pairs.append((question, line[2:].strip()))
            question = None
    return pairs


def _guess(word: str) -> str:
    return f"Is it a {word.lower()}?"


def _entropy_of_split(n_yes: int, n: int) -> float:
    """Expected entropy reduction of a yes/no question over ``n`` equally likely words."""
    if n_yes in (0, n):
        return 0.0
    p = n_yes / n
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


class ExpertPolicy:
    """Asks the most informative question about the words still consistent with the replies.

    Consistency is counted, not filtered: each candidate scores the replies it agrees with and the
    best-scoring words are kept, so an oracle that errs once (an LLM) cannot empty the set. With
    the knowledge-base oracle this equals exact filtering. With one or two candidates left it
    guesses (two: guessing takes 1.5 turns on average, splitting then guessing takes 2).
    """

    def __init__(self, word_set: str = "full", kb: KnowledgeBase | None = None):
        self.kb = kb or load_knowledge()
        self.words = self.kb.subset if word_set == "subset" else self.kb.words

    def reset(self) -> None:
        """Stateless: everything is read from the observation."""

    def candidates(self, history: list[tuple[str, str]]) -> tuple[list[str], set[str]]:
        """(words most consistent with ``history``, attributes already asked)."""
        scores = {w: 0 for w in self.words}
        asked: set[str] = set()
        for question, reply in history:
            p = self.kb.parse(question)
            if reply == CORRECT or reply not in (YES, NO) or p.kind == "invalid":
                continue
            if p.kind == "guess":
                if p.word in scores:
                    scores[p.word] -= 1  # a wrong guess rules the word out
                continue
            asked.add(p.attribute)
            for w in scores:
                if (self.kb.facts[w][p.attribute] == p.polarity) == (reply == YES):
                    scores[w] += 1
        best = max(scores.values())
        return [w for w in self.words if scores[w] == best], asked

    def best_question(self, cands: list[str], asked: set[str]) -> str | None:
        """Canonical phrasing of the highest-gain attribute (ties: first in knowledge order)."""
        best_gain, best = 0.0, None
        for a in self.kb.attributes:
            if a.name in asked:
                continue
            gain = _entropy_of_split(sum(self.kb.facts[w][a.name] for w in cands), len(cands))
            if gain > best_gain + 1e-12:
                best_gain, best = gain, a.canonical
        return best

    def __call__(self, observation: str) -> str:
        history = parse_history(observation)
        cands, asked = self.candidates(history)
        guessed = {self.kb.parse_guess(q) for q, _ in history}
        cands = [w for w in cands if w not in guessed] or cands
        if len(cands) <= 2:
            return _guess(cands[0])
        question = self.best_question(cands, asked)
        return question if question is not None else _guess(cands[0])


class RandomPolicy:
    """A random canonical attribute question, or (with probability ``guess_prob``) a random guess."""

    def __init__(self, word_set: str = "full", rng: np.random.Generator | None = None,
                 guess_prob: float = 0.3, kb: KnowledgeBase | None = None):
        self.kb = kb or load_knowledge()
        self.words = self.kb.subset if word_set == "subset" else self.kb.words
        self.rng = rng if rng is not None else np.random.default_rng()
        self.guess_prob = guess_prob

    def reset(self) -> None:
        pass

    def __call__(self, observation: str) -> str:
        if self.rng.random() < self.guess_prob:
            return _guess(self.words[int(self.rng.integers(len(self.words)))])
        return self.kb.attributes[int(self.rng.integers(len(self.kb.attributes)))].canonical


class NoisyPolicy:
    """Epsilon-expert: a :class:`RandomPolicy` action with probability ``epsilon``, else the expert's.
    Its mistakes and recoveries make varied supervised (SFT) and offline-RL data."""

    def __init__(self, word_set: str = "full", rng: np.random.Generator | None = None,
                 epsilon: float = 0.5, guess_prob: float = 0.3):
        self.rng = rng if rng is not None else np.random.default_rng()
        self.epsilon = epsilon
        self.expert = ExpertPolicy(word_set)
        self.random = RandomPolicy(word_set, rng=self.rng, guess_prob=guess_prob)

    def reset(self) -> None:
        pass

    def __call__(self, observation: str) -> str:
        if self.rng.random() < self.epsilon:
            return self.random(observation)
        return self.expert(observation)


def make_policy(name: str, word_set: str = "full", rng: np.random.Generator | None = None, **kw):
    """Build a scripted policy by name (one of :data:`POLICIES`)."""
    if name == "expert":
        return ExpertPolicy(word_set, **kw)
    if name == "noisy":
        return NoisyPolicy(word_set, rng=rng, **kw)
    if name == "random":
        return RandomPolicy(word_set, rng=rng, **kw)
    raise ValueError(f"unknown policy {name!r}; choose one of {list(POLICIES)}.")
