"""Scripted Wordle players: ``expert`` (information gain over the words still possible) and ``random``.

A policy is ``policy(observation: str) -> str``. Factories take ``(env, rng)``; neither reads the hidden word:
the expert reads the ``Guess:`` / ``Feedback:`` lines of the observation and the public word lists.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np

from tasks.wordle.game import (WORD_LENGTH, encode, guess_index, guesses, pattern_codes, pattern_matrix,
                               solutions)

Policy = Callable[[str], str]
_FEEDBACK_PREFIX = "Feedback: "
_GUESS_PREFIX = "Guess "


def parse_history(observation: str) -> list[tuple[str, str]]:
    """(guess, feedback) of every scored guess in the observation, oldest first (``"crane", "bygbb"``).
    A guess the env refused (its feedback line says why) is left out: it taught nothing."""
    out, guess = [], None
    for line in observation.split("\n"):
        if line.startswith(_GUESS_PREFIX) and ": " in line:
            guess = line.split(": ", 1)[1].strip()
        elif line.startswith(_FEEDBACK_PREFIX) and guess is not None:
            fb = line[len(_FEEDBACK_PREFIX):].replace(" ", "")
            if len(fb) == WORD_LENGTH and set(fb) <= set("gyb") and len(guess) == WORD_LENGTH:
                out.append((guess, fb))
            guess = None
    return out


@functools.lru_cache(maxsize=None)
def _xlogx(n: int) -> np.ndarray:
    """``k * log2(k)`` for k = 0..n (0 for k = 0): [n + 1]."""
    k = np.arange(n + 1, dtype=np.float64)
    return k * np.log2(np.maximum(k, 1.0))


def _partition_entropy(codes: np.ndarray) -> np.ndarray:
    """Entropy in bits of the feedback each guess (row) splits the candidates (columns) into: [guesses].
    ``H = log2(n) - sum_k c_k log2(c_k) / n`` over the counts ``c_k`` of each of the 243 patterns."""
    n_guess, n = codes.shape
    flat = codes.astype(np.int32) + 243 * np.arange(n_guess, dtype=np.int32)[:, None]
    counts = np.bincount(flat.ravel(), minlength=243 * n_guess).reshape(n_guess, 243)
    return np.log2(n) - _xlogx(len(solutions()))[counts].sum(1) / n


class ExpertPolicy:
    """Greedy information gain: filter the hidden-word list by every feedback so far, then play the allowed
    guess whose feedback splits the remaining words most evenly (highest entropy), with a bonus of
    ``1/|candidates|`` bits for a guess that could itself be the word. With one or two words left it plays one.
    Deterministic; the opening word is the same every game (computed once)."""

    def __init__(self, env: Any = None, rng: Any = None):
        self.words = solutions()
        self.pool = guesses()

    def candidates(self, history: list[tuple[str, str]]) -> np.ndarray:
        """Indices into :func:`solutions` of the words consistent with ``history``."""
        keep = np.ones(len(self.words), dtype=bool)
        index = guess_index()
        for guess, fb in history:
            row = pattern_matrix()[index[guess]] if guess in index else pattern_codes([guess], self.words)[0]
            keep &= row == encode(fb)
        idx = np.flatnonzero(keep)
        return idx if idx.size else np.arange(len(self.words))  # inconsistent feedback: start over, never crash

    def __call__(self, observation: str) -> str:
        history = parse_history(observation)
        if not history:
            return opening_word()
        cands = self.candidates(history)
        if cands.size <= 2:
            return self.words[int(cands[0])]
        return _best_guess(cands)


def _best_guess(cands: np.ndarray) -> str:
    score = _partition_entropy(pattern_matrix()[:, cands])
    index = guess_index()
    bonus = np.zeros(len(score))
    bonus[[index[solutions()[int(c)]] for c in cands]] = 1.0 / cands.size
    return guesses()[int(np.argmax(score + bonus))]


@functools.lru_cache(maxsize=None)
def opening_word() -> str:
    """The expert's first guess: the highest-entropy allowed word over every hidden word."""
    return _best_guess(np.arange(len(solutions())))


class RandomPolicy:
    """A uniformly random allowed guess each turn (LMRL-Gym's random-word policy)."""

    def __init__(self, env: Any = None, rng: np.random.Generator | int | None = None):
        self.rng = np.random.default_rng(rng)
        self.pool = guesses()

    def __call__(self, observation: str) -> str:
        return self.pool[int(self.rng.integers(len(self.pool)))]


#: Name -> factory(env, rng) -> policy.
POLICIES: dict[str, Callable[[Any, Any], Policy]] = {"expert": ExpertPolicy, "random": RandomPolicy}


def make_policy(name: str, env: Any = None, rng: np.random.Generator | int | None = None) -> Policy:
    if name not in POLICIES:
        raise ValueError(f"unknown Wordle policy {name!r}; choose one of {sorted(POLICIES)}.")
    return POLICIES[name](env, rng)
