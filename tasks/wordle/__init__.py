"""archer/Wordle-v0: LMRL-Gym's Wordle on word lists built from SCOWL.

``game`` holds the word lists, the feedback rule and the pattern matrix; ``env`` the Gymnasium env;
``policies`` the scripted ``expert`` (information gain) and ``random`` players; ``build_words.py`` rebuilds
the lists (see README.md).
"""

from tasks.wordle.env import WordleEnv
from tasks.wordle.game import feedback, guesses, solutions
from tasks.wordle.policies import POLICIES, make_policy

__all__ = ["WordleEnv", "feedback", "guesses", "solutions", "POLICIES", "make_policy"]
