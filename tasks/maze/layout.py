"""The maze: LMRL-Gym's double-T layout, its moves, wall descriptions and shortest paths.

The layout is LMRL-Gym's ``double_t_maze`` (``llm_rl_scripts/maze/env/mazes.py``, after mazelab), drawn here as
text: ``#`` wall, ``.`` open, ``G`` LMRL-Gym's goal. Positions are ``(row, column)``, row 0 at the top.
"""

from __future__ import annotations

import functools
from collections import deque

LAYOUT = """\
#############
#.....#.....#
###.#####.###
###.#####.###
###.#####.###
###.......###
######.######
######.######
######G######
#############"""

#: Move name -> (d_row, d_col), in LMRL-Gym's order.
MOVES: dict[str, tuple[int, int]] = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}
#: Wall direction phrases in LMRL-Gym's order (right, left, above, below).
_WALL_PHRASES = (("to your right", (0, 1)), ("to your left", (0, -1)), ("above you", (-1, 0)), ("below you", (1, 0)))

Pos = tuple[int, int]
GRID: tuple[str, ...] = tuple(LAYOUT.split("\n"))
LMRL_GOAL: Pos = next((r, c) for r, row in enumerate(GRID) for c, ch in enumerate(row) if ch == "G")
OPEN: tuple[Pos, ...] = tuple((r, c) for r, row in enumerate(GRID) for c, ch in enumerate(row) if ch != "#")


def is_open(pos: Pos) -> bool:
    r, c = pos
    return 0 <= r < len(GRID) and 0 <= c < len(GRID[r]) and GRID[r][c] != "#"


def step(pos: Pos, move: str) -> Pos:
    """Where ``move`` leads from ``pos``: the next cell, or ``pos`` itself against a wall."""
    dr, dc = MOVES[move]
    nxt = (pos[0] + dr, pos[1] + dc)
    return nxt if is_open(nxt) else pos


def walls(pos: Pos) -> tuple[str, ...]:
    """Phrases of the walls around ``pos`` (``"to your right"``, ...), LMRL-Gym's order."""
    return tuple(p for p, (dr, dc) in _WALL_PHRASES if not is_open((pos[0] + dr, pos[1] + dc)))


def describe_walls(pos: Pos) -> str:
    """LMRL-Gym's sentence: "There are walls to your left, above you, below you." / "There is a wall ..."."""
    w = walls(pos)
    if not w:
        return "There are no walls near you."
    if len(w) == 1:
        return f"There is a wall {w[0]}."
    return f"There are walls {', '.join(w)}."


def fmt(pos: Pos) -> str:
    return f"{pos[0]}, {pos[1]}"


@functools.lru_cache(maxsize=None)
def distances(goal: Pos) -> dict[Pos, int]:
    """Shortest number of moves from every open cell to ``goal`` (breadth-first search)."""
    dist, frontier = {goal: 0}, deque([goal])
    while frontier:
        pos = frontier.popleft()
        for move in MOVES:
            nxt = step(pos, move)
            if nxt not in dist:
                dist[nxt] = dist[pos] + 1
                frontier.append(nxt)
    return dist


def best_move(pos: Pos, goal: Pos) -> str:
    """First move of a shortest path from ``pos`` to ``goal`` (ties: LMRL-Gym's move order)."""
    dist = distances(goal)
    return min(MOVES, key=lambda m: dist[step(pos, m)])
