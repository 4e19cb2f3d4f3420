"""archer/Detective-v0: "The Harrow House Affair", an original murder-mystery text adventure.

``world`` holds the static map, objects and the four cases; ``engine`` parses and runs commands;
``env`` is the Gymnasium env; ``policies`` the scripted ``expert``, ``noisy`` and ``random`` policies.
"""

from tasks.detective.env import DetectiveEnv
from tasks.detective.policies import POLICIES, make_policy

__all__ = ["DetectiveEnv", "POLICIES", "make_policy"]
