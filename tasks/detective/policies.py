"""Scripted policies of archer/Detective-v0: ``expert``, ``noisy`` and ``random``.

A policy is ``policy(observation: str) -> str``. Factories take ``(env, rng)`` (``env`` is the
unwrapped :class:`~tasks.detective.env.DetectiveEnv`, ``rng`` a ``numpy.random.Generator``, an int
seed or None); :func:`make_policy` builds one by name.

- ``expert``: a walkthrough that reads only the observation. It knows the public map (rooms, exits,
  where each piece of furniture stands, whose belongings are where), never the hidden case: it learns
  the killer from the will and the weapon's hiding place from the burnt letter, as they appear in
  the observation's notebook, and reads container states and contents from the "You see:" line. It is
  memoryless (the observation is the whole state it needs), so it recovers after any detour.
  It reaches the maximum score in 21 to 26 steps (of 50).
- ``noisy``: the expert, but with probability ``epsilon`` (0.25) a uniformly random valid action that
  neither drops a thing nor accuses anyone (so the expert can always finish).
- ``random``: uniform over ``env.valid_actions()`` (the commands that change the state from here).
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any, Callable

import numpy as np

from tasks.detective.world import FIXED_THINGS, ROOMS, SUSPECTS, VARIANTS

Policy = Callable[[str], str]

_ROOM_BY_NAME = {r.name: r.id for r in ROOMS.values()}
_FURNITURE = {t.id: t for t in FIXED_THINGS if t.container}


def _first_step(src: str, dst: str) -> str:
    """First direction on a shortest path from room ``src`` to room ``dst`` (breadth-first search)."""
    frontier, seen = deque([(src, None)]), {src}
    while frontier:
        room, first = frontier.popleft()
        for direction, nxt in ROOMS[room].exits.items():
            if nxt == dst:
                return first or direction
            if nxt not in seen:
                seen.add(nxt)
                frontier.append((nxt, first or direction))
    raise ValueError(f"no path from {src!r} to {dst!r}")


def _section(obs: str, prefix: str) -> str:
    for line in obs.splitlines():
        if line.startswith(prefix):
            return line[len(prefix):].rstrip(".")
    return ""


def _notebook(obs: str) -> str:
    i = obs.find("\nNotebook:")
    if i < 0:
        return ""
    lines = []
    for line in obs[i + 1:].splitlines()[1:]:
        if not line.startswith("- "):
            break
        lines.append(line[2:])
    return "\n".join(lines)


def _state_of(see: str, name: str) -> str | None:
    """State of container ``name`` on the "You see:" line: "locked", "closed", "open, empty", "open, holding: x"."""
    m = re.search(re.escape(name) + r" \(([^)]*)\)", see)
    return m.group(1) if m else None


class ExpertPolicy:
    """Walkthrough that reacts to the observation text (see the module docstring)."""

    def __init__(self, env: Any = None, rng: Any = None):
        pass  # memoryless: everything it needs is in the observation

    def __call__(self, observation: str) -> str:
        room = _ROOM_BY_NAME.get(_section(observation, "Location: "), "porch")
        held = set(_section(observation, "Inventory: ").split(", "))
        see = _section(observation, "You see: ")
        notes = _notebook(observation)

        def go_then(target_room: str, command: str) -> str:
            return command if room == target_room else _first_step(room, target_room)

        if "brass key was hidden" not in notes:
            return go_then("porch", "take brass key" if "brass key" in see else "examine doormat")
        if "Half-burnt letter" not in notes:
            if "burnt letter" in held or "burnt letter" in see:
                return "read burnt letter"
            return _first_step(room, "library")
        if "The body:" not in notes:
            return go_then("study", "examine body")
        if "Lord Harrow's will:" not in notes:
            if "will" in held:
                return "read will"
            desk = _state_of(see, "oak desk") if room == "study" else None
            if desk == "locked":
                return "unlock desk with brass key"
            if desk == "closed":
                return "open desk"
            return go_then("study", "read will")
        will = notes[notes.index("Lord Harrow's will:"):].splitlines()[0].lower()
        letter = notes[notes.index("Half-burnt letter"):].splitlines()[0].lower()
        killer = next(s for s in SUSPECTS.values() if any(re.search(rf"\b{a}\b", will) for a in s.aliases))
        hiding = next(c for c in _FURNITURE.values() if c.name in letter and c.id in
                      {v.hiding_place for v in VARIANTS.values()})
        if "Evidence:" not in notes:
            return self._fetch(room, see, _FURNITURE[killer.space])
        if "Weapon:" not in notes:
            return self._fetch(room, see, hiding)
        weapon = re.search(r"Weapon: the ([^,]+),", notes).group(1)
        if f"The {weapon}:" not in notes:
            return f"examine {weapon}"
        return f"accuse {killer.id}"

    @staticmethod
    def _fetch(room: str, see: str, container) -> str:
        """Go to ``container``, open it and take what it holds."""
        if room != container.location:
            return _first_step(room, container.location)
        state = _state_of(see, container.name) or ""
        if state in ("closed", "locked"):
            return f"open {container.aliases[0]}"
        if state.startswith("open, holding: "):
            return "take " + state[len("open, holding: "):].split(", ")[0]
        return "look"  # empty: nothing to fetch (cannot happen in a fresh case)


class RandomPolicy:
    """Uniform over the env's valid actions (``look`` if there are none)."""

    def __init__(self, env: Any, rng: np.random.Generator | int | None = None):
        self.env = env
        self.rng = np.random.default_rng(rng)

    def __call__(self, observation: str) -> str:
        actions = self.env.valid_actions()
        return str(actions[int(self.rng.integers(len(actions)))]) if actions else "look"


class NoisyExpertPolicy:
    """The expert, with probability ``epsilon`` a random valid action (no drops, no accusations)."""

    def __init__(self, env: Any, rng: np.random.Generator | int | None = None, epsilon: float = 0.25):
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon={epsilon!r} must be in [0, 1].")
        self.env = env
        self.rng = np.random.default_rng(rng)
        self.epsilon = epsilon
        self.expert = ExpertPolicy()

    def __call__(self, observation: str) -> str:
        if self.rng.random() < self.epsilon:
            actions = [a for a in self.env.valid_actions() if not a.startswith(("drop ", "accuse "))]
            if actions:
                return str(actions[int(self.rng.integers(len(actions)))])
        return self.expert(observation)


#: Name -> factory(env, rng) -> policy.
POLICIES: dict[str, Callable[[Any, Any], Policy]] = {
    "expert": ExpertPolicy,
    "noisy": NoisyExpertPolicy,
    "random": RandomPolicy,
}


def make_policy(name: str, env: Any, rng: np.random.Generator | int | None = None) -> Policy:
    """The scripted policy ``name`` for ``env`` (gym wrappers are unwrapped)."""
    if name not in POLICIES:
        raise ValueError(f"unknown Detective policy {name!r}; choose one of {sorted(POLICIES)}.")
    return POLICIES[name](getattr(env, "unwrapped", env), rng)
