"""archer/Maze-v0 and archer/MazePO-v0: LMRL-Gym's maze, fully and partially observed.

``layout`` draws the double-T maze and finds shortest paths; ``env`` is the Gymnasium env; ``policies`` the
scripted ``expert`` (shortest path, on a belief over cells when partially observed) and ``random`` walkers.
"""

from tasks.maze.env import MazeEnv, parse_move
from tasks.maze.policies import POLICIES, make_policy

__all__ = ["MazeEnv", "parse_move", "POLICIES", "make_policy"]
