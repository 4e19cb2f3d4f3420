"""Scripted Guess My City policies: ``expert`` (information gain), ``noisy`` and ``random``.

Each policy is a callable ``policy(observation: str) -> str`` that reads the dialogue from the
observation text only ("Q: ..." / "A: ..." lines), never the hidden city. The expert keeps the cities
whose knowledge-base replies agree with every answer so far and asks the question whose answers
split them most evenly (largest entropy of the partition, yes/no and open questions alike).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import numpy as np

from tasks.guess_my_city import questions as kb

POLICIES = ("expert", "noisy", "random")

#: Questions about the city's attributes: each one splits the cities by its replies.
ATTRIBUTE_QUESTIONS: tuple[str, ...] = (
    "What continent is it on?",
    "What country is it in?",
    "What language do people speak there?",
    "What's the weather like?",
    "How many people live there?",
    "What time zone is it in?",
    "Which hemisphere is it in?",
    "Is it on the coast?",
    "Is it a capital city?",
    "Is it high up?",
    "Is it in the tropics?",
    "Does it snow there?",
    "Is it hot?",
    *(f"Is it in {c}?" for c in ("Asia", "Europe", "Africa", "North America", "South America")),
    *(f"Is it in {kb.country_display(c)}?" for c in dict.fromkeys(r["country"] for r in kb.CITIES.values())),
    *(f"Is it in {p}?" for p in ("East Asia", "Southeast Asia", "South Asia", "the Middle East", "Latin America",
                                 "Java", "Northeast China", "Eastern Europe", "Western Europe")),
    *(f"Do people speak {l} there?" for l in ("English", "Spanish", "Portuguese", "Mandarin", "Arabic", "French")),
)
#: Questions whose replies nearly name the city (landmarks, food, river, province).
GIVEAWAY_QUESTIONS: tuple[str, ...] = (
    "What is it famous for?",
    "What food is it known for?",
    "What river or sea is it on?",
    "What state or province is it in?",
)

_TABLE: dict[str, dict[str, str]] = {}


def _replies(question: str) -> dict[str, str]:
    """city -> the knowledge base's reply to ``question`` (cached per question)."""
    if question not in _TABLE:
        _TABLE[question] = {c: kb.answer(c, question) for c in kb.CITY_NAMES}
    return _TABLE[question]


def parse_dialogue(observation: str) -> list[tuple[str, str]]:
    """The (question, reply) pairs of an observation, in order."""
    _, _, body = observation.partition("\n\n")
    pairs, question = [], None
    for line in body.split("\n"):
        if line.startswith("Q: ") or line == "Q:":
            question = line[3:]
        elif (line.startswith("A: ") or line == "A:") and question is not None:
            pairs.append((question, line[3:]))
            question = None
    return pairs


def guess_text(city: str) -> str:
    return f"Is it {city}?"


def _entropy(counts: Sequence[int]) -> float:
    n = sum(counts)
    return -sum(k / n * math.log2(k / n) for k in counts if k)


class ExpertPolicy:
    """Information-gain questioner over the cities consistent with the dialogue so far.

    ``giveaways``: "tiebreak" (default) asks landmark/food/river/province questions only when no
    attribute question splits the remaining cities; "always" allows them from the start (the game is
    then solved in two turns); "never" guesses the remaining cities one by one instead.
    With at most ``guess_at`` cities left it guesses (2 by default: guessing one of two costs 1.5
    turns on average, a splitting question then a guess costs 2).
    """

    def __init__(self, cities: Sequence[str] | None = None, giveaways: str = "tiebreak", guess_at: int = 2,
                 rng: np.random.Generator | None = None):
        if giveaways not in ("never", "tiebreak", "always"):
            raise ValueError(f"giveaways={giveaways!r}; choose 'never', 'tiebreak' or 'always'.")
        self.cities = list(cities if cities is not None else kb.CITY_NAMES)
        self.giveaways = giveaways
        self.guess_at = guess_at

    def candidates(self, observation: str) -> list[str]:
        """Cities whose knowledge-base replies agree with the dialogue (the best-agreeing ones if none
        agree fully, e.g. with an LLM oracle that phrases replies differently)."""
        score = {c: 0 for c in self.cities}
        wrong: set[str] = set()
        n = 0
        for q, a in parse_dialogue(observation):
            g = kb.parse_guess(q)
            if g is not None:
                if a != kb.CORRECT_GUESS_REPLY:
                    wrong.add(g)
                continue
            if a in kb.NON_ANSWERS:
                continue
            n += 1
            replies = _replies(q) if q in _TABLE else {c: kb.answer(c, q) for c in self.cities}
            for c in self.cities:
                score[c] += replies[c] == a
        pool = [c for c in self.cities if c not in wrong] or list(self.cities)
        best = max(score[c] for c in pool)
        return [c for c in pool if score[c] == best]

    def __call__(self, observation: str) -> str:
        cands = self.candidates(observation)
        if len(cands) <= self.guess_at:
            return guess_text(cands[0])
        asked = {q for q, _ in parse_dialogue(observation)}
        banks = {"never": [ATTRIBUTE_QUESTIONS], "tiebreak": [ATTRIBUTE_QUESTIONS, GIVEAWAY_QUESTIONS],
                 "always": [ATTRIBUTE_QUESTIONS + GIVEAWAY_QUESTIONS]}[self.giveaways]
        for bank in banks:
            best_q, best_h = None, 1e-9
            for q in bank:
                if q in asked:
                    continue
                replies = _replies(q)
                h = _entropy(list(Counter(replies[c] for c in cands).values()))
                if h > best_h:
                    best_q, best_h = q, h
            if best_q is not None:
                return best_q
        return guess_text(cands[0])


class RandomPolicy:
    """Random questions from both banks, and random guesses with probability ``p_guess``."""

    def __init__(self, cities: Sequence[str] | None = None, p_guess: float = 0.25,
                 rng: np.random.Generator | None = None):
        self.cities = list(cities if cities is not None else kb.CITY_NAMES)
        self.p_guess = p_guess
        self.rng = rng if rng is not None else np.random.default_rng()
        self.bank = ATTRIBUTE_QUESTIONS + GIVEAWAY_QUESTIONS

    def __call__(self, observation: str) -> str:
        if self.rng.random() < self.p_guess:
            return guess_text(self.cities[int(self.rng.integers(len(self.cities)))])
        return self.bank[int(self.rng.integers(len(self.bank)))]


class NoisyPolicy:
    """The expert, replaced by the random policy with probability ``epsilon`` on each turn."""

    def __init__(self, cities: Sequence[str] | None = None, epsilon: float = 0.3,
                 rng: np.random.Generator | None = None, **expert_kw):
        self.rng = rng if rng is not None else np.random.default_rng()
        self.expert = ExpertPolicy(cities, **expert_kw)
        self.random = RandomPolicy(cities, rng=self.rng)
        self.epsilon = epsilon

    def __call__(self, observation: str) -> str:
        if self.rng.random() < self.epsilon:
            return self.random(observation)
        return self.expert(observation)


def make_policy(name: str, rng: np.random.Generator | None = None, cities: Sequence[str] | None = None, **kw):
    """Build a scripted policy by name (one of :data:`POLICIES`); ``cities`` defaults to all 100."""
    if name == "expert":
        return ExpertPolicy(cities, rng=rng, **kw)
    if name == "noisy":
        return NoisyPolicy(cities, rng=rng, **kw)
    if name == "random":
        return RandomPolicy(cities, rng=rng, **kw)
    raise ValueError(f"unknown policy {name!r}; choose one of {list(POLICIES)}.")
