"""How hard ChessEndgame-v0's opponents defend: the expert (3-ply search) against each on the same shipped
positions, with the outcomes and the mean number of White moves to mate (longer = a stronger defence).

    python bench/chess_opponents.py [--positions 40]

Stockfish runs when a binary is found (``apt-get install stockfish``: /usr/games/stockfish), at depth 8, one thread.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import chess  # noqa: E402
import numpy as np  # noqa: E402

from tasks.chess_endgame.engine import (SETUPS, Defender, RandomMover, Stockfish, find_stockfish,  # noqa: E402
                                        load_positions, outcome, search)


def play(fen: str, opponent, cap: int = 60) -> tuple[str, int]:
    board, seen = chess.Board(fen), {}
    for i in range(cap):
        board.push(search(board, 3, seen))
        seen[board.board_fen()] = seen.get(board.board_fen(), 0) + 1
        if ended := outcome(board):
            return ended, i + 1
        board.push(opponent(board))
        if ended := outcome(board):
            return ended, i + 1
    return "cap", cap


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--positions", type=int, default=40, help="the first N shipped positions of each setup")
    a = p.parse_args(argv)
    opponents = {"defender": Defender(), "random": RandomMover(np.random.default_rng(0))}
    if find_stockfish():
        opponents["stockfish"] = Stockfish(depth=8)
    positions = load_positions()
    per_setup = len(positions) // len(SETUPS)
    for k, setup in enumerate(SETUPS):
        for name, opponent in opponents.items():
            res = [play(f, opponent) for f in positions[per_setup * k: per_setup * k + a.positions]]
            mates = [n for how, n in res if how == "checkmate"]
            print(f"{setup:5s} {name:9s} {dict(Counter(how for how, _ in res))} moves to mate: "
                  f"mean {np.mean(mates):.2f}, max {max(mates)}", flush=True)
    if "stockfish" in opponents:
        opponents["stockfish"].close()


if __name__ == "__main__":
    main()
