"""archer/ChessEndgame-v0: LMRL-Gym's chess endgames (a lone black king against K+Q, K+R, K+Q+R, K+R+R).

``engine`` holds the start positions, the draw rules, the opponents and the attacker's search over python-chess;
``env`` the Gymnasium env; ``policies`` the scripted ``expert`` (alpha-beta) and ``random`` players;
``positions.txt`` the 1,000 shipped start positions (``engine.generate_positions`` remakes them).
"""

from tasks.chess_endgame.env import ChessEndgameEnv, parse_move
from tasks.chess_endgame.policies import POLICIES, make_policy

__all__ = ["ChessEndgameEnv", "parse_move", "POLICIES", "make_policy"]
