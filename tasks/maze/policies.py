"""Scripted maze walkers: ``expert`` (shortest path; under partial observation, on a belief over cells) and
``random``.

A policy is ``policy(observation: str) -> str``; factories take ``(env, rng)``. Neither reads the hidden state:
the expert reads positions from the fully observed text, or rebuilds from the partially observed history the set
of cells the agent can be in (every cell whose walls match, moved by each move and filtered by the walls after
it) and knows the public layout and LMRL-Gym's fixed goal.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np

from tasks.maze.env import parse_move
from tasks.maze.layout import LMRL_GOAL, MOVES, OPEN, Pos, best_move, describe_walls, distances, step

Policy = Callable[[str], str]
_STATE = re.compile(r"The goal is at position (\d+), (\d+)\. Your current position is at position (\d+), (\d+)\.")


def belief(observation: str, goal: Pos = LMRL_GOAL) -> set[Pos]:
    """Cells the agent can be in after the partially observed history in ``observation``."""
    _, _, body = observation.partition("\n\n")
    lines = [line for line in body.split("\n") if line]
    walls_of = lambda text: text[text.find("There "):]  # noqa: E731  (an invalid turn's reply starts with a reason)
    cells = [p for p in OPEN if p != goal]
    cand = set(cells)
    if lines and lines[0].startswith("There "):
        cand = {p for p in cells if describe_walls(p) == lines[0]}
    for cmd, reply in zip(lines[1::2], lines[2::2]):
        if not cmd.startswith("> "):
            continue
        move = parse_move(cmd[2:])
        seen = walls_of(reply)
        moved = {step(p, move) for p in cand} if move else set(cand)
        cand = {p for p in moved if p != goal and describe_walls(p) == seen}
        if not cand:  # feedback we cannot explain (an edited observation): start again from the walls seen
            cand = {p for p in cells if describe_walls(p) == seen}
    return cand or set(cells)


class ExpertPolicy:
    """Fully observed: the first move of a shortest path. Partially observed: with one possible cell the same;
    with several, the move that minimises the summed shortest-path distance over the possible cells (QMDP),
    ties going to the move whose outcomes tell the cells apart best, then to LMRL-Gym's move order.
    Walks every start of the LMRL-Gym maze to the goal (tests/test_maze.py checks each one)."""

    def __init__(self, env: Any = None, rng: Any = None):
        pass  # memoryless: the observation holds everything it needs

    def __call__(self, observation: str) -> str:
        states = _STATE.findall(observation)
        if states:
            gr, gc, r, c = map(int, states[-1])
            return f"move {best_move((r, c), (gr, gc))}"
        cand = belief(observation)
        if len(cand) == 1:
            return f"move {best_move(next(iter(cand)), LMRL_GOAL)}"
        dist = distances(LMRL_GOAL)

        def score(move: str) -> tuple[int, int]:
            after = [step(p, move) for p in cand]
            return sum(dist[q] for q in after), -len({describe_walls(q) for q in after})
        return f"move {min(MOVES, key=score)}"


class RandomPolicy:
    """One of the four moves uniformly at random."""

    def __init__(self, env: Any = None, rng: np.random.Generator | int | None = None):
        self.rng = np.random.default_rng(rng)
        self.moves = [f"move {m}" for m in MOVES]

    def __call__(self, observation: str) -> str:
        return self.moves[int(self.rng.integers(len(self.moves)))]


#: Name -> factory(env, rng) -> policy.
POLICIES: dict[str, Callable[[Any, Any], Policy]] = {"expert": ExpertPolicy, "random": RandomPolicy}


def make_policy(name: str, env: Any = None, rng: np.random.Generator | int | None = None) -> Policy:
    if name not in POLICIES:
        raise ValueError(f"unknown maze policy {name!r}; choose one of {sorted(POLICIES)}.")
    return POLICIES[name](env, rng)
