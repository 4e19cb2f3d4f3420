"""Scripted White players for archer/ChessEndgame-v0: ``expert`` (alpha-beta search) and ``random``.

A policy is ``policy(observation: str) -> str``; factories take ``(env, rng)``. Both read the position from the
last ``Position (FEN):`` line of the observation, never the env's board.
"""

from __future__ import annotations

from typing import Any, Callable

import chess
import numpy as np

from tasks.chess_endgame.engine import search
from tasks.chess_endgame.env import STATE_PREFIX

Policy = Callable[[str], str]


def read_board(observation: str) -> chess.Board:
    """The board of the last ``Position (FEN):`` line of ``observation``."""
    start = observation.rfind(STATE_PREFIX)
    if start < 0:
        raise ValueError("no 'Position (FEN): ...' line in the observation: is it from archer/ChessEndgame-v0?")
    return chess.Board(observation[start + len(STATE_PREFIX):].split("\n", 1)[0].strip())


class ExpertPolicy:
    """Alpha-beta to 3 plies (White, Black, White) over a mop-up evaluation (material, the box the black king can
    walk in, its distance from the centre, the kings' distance, Black's mobility, hanging pieces), mates by the
    shortest path it sees, in SAN. It remembers the positions it moved into this episode and pays for going back
    to one, so it does not shuffle into a threefold repetition. Against the default defender it mates from every
    shipped position (the README gives the mean number of moves); 30 to 100 ms a move on one core."""

    def __init__(self, env: Any = None, rng: Any = None, depth: int = 3):
        self.depth = depth
        self.seen: dict[str, int] = {}

    def __call__(self, observation: str) -> str:
        board = read_board(observation)
        move = search(board, self.depth, self.seen)
        san = board.san(move)
        board.push(move)
        self.seen[board.board_fen()] = self.seen.get(board.board_fen(), 0) + 1
        return san


class RandomPolicy:
    """A uniformly random legal move in SAN, or with probability ``p_garbage`` (0.2) a random move-shaped text
    (a piece letter and a square, ``Qb3``), which is mostly illegal: the mistakes an untrained model makes."""

    def __init__(self, env: Any = None, rng: np.random.Generator | int | None = None, p_garbage: float = 0.2):
        self.rng = np.random.default_rng(rng)
        self.p_garbage = p_garbage

    def __call__(self, observation: str) -> str:
        if self.rng.random() < self.p_garbage:
            return "KQR"[int(self.rng.integers(3))] + chess.SQUARE_NAMES[int(self.rng.integers(64))]
        board = read_board(observation)
        moves = sorted(board.generate_legal_moves(), key=chess.Move.uci)
        return board.san(moves[int(self.rng.integers(len(moves)))])


#: Name -> factory(env, rng) -> policy.
POLICIES: dict[str, Callable[[Any, Any], Policy]] = {"expert": ExpertPolicy, "random": RandomPolicy}


def make_policy(name: str, env: Any = None, rng: np.random.Generator | int | None = None) -> Policy:
    if name not in POLICIES:
        raise ValueError(f"unknown chess endgame policy {name!r}; choose one of {sorted(POLICIES)}.")
    return POLICIES[name](env, rng)
