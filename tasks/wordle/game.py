"""Wordle's rules as LMRL-Gym scores them: word lists, per-letter feedback, the pattern matrix solvers use.

Feedback (LMRL-Gym's rule, ``llm_rl_scripts/wordle/env/game.py``): for each position ``i`` of the guess,
``g`` if the hidden word has the same letter there, else ``y`` if the letter occurs anywhere in the hidden word,
else ``b``. Unlike the newspaper game, repeated letters are not counted: guessing "eerie" for "crane" gives
``y y y b g`` (the newspaper gives ``b b y b g``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORD_LENGTH = 5
FEEDBACK_LETTERS = "byg"  # pattern digit 0, 1, 2
_POW3 = 3 ** np.arange(WORD_LENGTH, dtype=np.int64)  # (5,)


def _read(name: str) -> tuple[str, ...]:
    return tuple(w for w in (HERE / name).read_text().split() if w)


@functools.lru_cache(maxsize=None)
def solutions() -> tuple[str, ...]:
    """The hidden words (common English base words, see README.md), sorted."""
    return _read("solutions.txt")


@functools.lru_cache(maxsize=None)
def guesses() -> tuple[str, ...]:
    """Every allowed guess (a superset of :func:`solutions`), sorted."""
    return _read("guesses.txt")


@functools.lru_cache(maxsize=None)
def guess_set() -> frozenset[str]:
    return frozenset(guesses())


def feedback(guess: str, target: str) -> str:
    """LMRL-Gym's per-letter feedback of ``guess`` against ``target`` as five letters of ``g``/``y``/``b``."""
    return "".join("g" if g == t else ("y" if g in target else "b") for g, t in zip(guess, target))


def encode(fb: str) -> int:
    """A feedback string (``"bygbb"``) as its pattern code ``sum(digit_i * 3**i)``."""
    return sum(FEEDBACK_LETTERS.index(c) * 3 ** i for i, c in enumerate(fb))


def _letters(words) -> np.ndarray:
    """[n, 5] int8 letter indices (a = 0)."""
    return (np.frombuffer("".join(words).encode(), dtype=np.uint8).reshape(-1, WORD_LENGTH) - ord("a")).astype(np.int8)


def pattern_codes(guess_words, target_words) -> np.ndarray:
    """[len(guess_words), len(target_words)] uint8 pattern codes, the same as ``encode(feedback(g, t))``."""
    g, t = _letters(guess_words), _letters(target_words)
    present = np.zeros(len(target_words), dtype=np.int64)  # bit k set: letter k occurs in the target
    for i in range(WORD_LENGTH):
        present |= np.left_shift(1, t[:, i].astype(np.int64))
    out = np.empty((len(g), len(t)), dtype=np.uint8)
    for start in range(0, len(g), 256):  # chunks keep the [chunk, targets, 5] temporaries small
        gc = g[start:start + 256].astype(np.int64)
        green = gc[:, None, :] == t[None, :, :]                                      # (G, T, 5)
        inside = (present[None, :, None] >> gc[:, None, :]) & 1                       # (G, T, 5)
        out[start:start + 256] = (np.where(green, 2, inside) * _POW3).sum(-1)
    return out


@functools.lru_cache(maxsize=None)
def pattern_matrix() -> np.ndarray:
    """[guesses, solutions] uint8 pattern codes of every allowed guess against every hidden word (~14 MB)."""
    return pattern_codes(guesses(), solutions())


@functools.lru_cache(maxsize=None)
def guess_index() -> dict[str, int]:
    return {w: i for i, w in enumerate(guesses())}
