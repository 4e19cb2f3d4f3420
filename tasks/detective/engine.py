"""A small interactive-fiction engine for :mod:`tasks.detective.world`.

:class:`Game` holds the static world of one case and a :class:`State` (plain data, cheap to copy).
``Game.step(command)`` parses one command and applies it; ``Game.valid_actions()`` lists the commands
that change the state from here, found the way Jericho does it: generate verb-noun candidates over
what is in scope, try each on a copy of the state, keep those that change it.

Parser: lower-cased, punctuation and articles dropped, then ``verb [noun] [with noun]``. Synonyms:

- moving: ``n``/``north``/``go north``/``walk north`` (and s, e, w, u/up/upstairs, d/down/downstairs)
- ``take``/``get``/``grab``/``pick up X``/``pick X up``; ``drop``/``put down``
- ``examine``/``x``/``look at``/``look in``/``look under``/``inspect``/``search``/``check``/``lift``
- ``open``, ``close``/``shut``, ``read``, ``unlock X with Y`` (``unlock X`` uses a carried key that fits;
  ``open X with Y`` means unlock), ``accuse``/``arrest``/``blame X`` (``... of murder`` allowed)
- ``look``/``l``, ``inventory``/``i``, ``score``, ``wait``/``z``, ``help``

A command the parser cannot read (unknown verb or word, missing object) is *not understood*; a
command it reads but that fails in the world ("You see no such thing here.") is understood.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from tasks.detective.world import (
    DIRECTIONS, MAX_SCORE, ROOMS, SCORES, START_ROOM, SUSPECTS, VARIANTS, VOCABULARY, Thing, things_for,
)

INVENTORY = "inventory"

_DIRECTION_OF = {alias: d for d, aliases in DIRECTIONS.items() for alias in aliases}
_FILLER = frozenset({"the", "a", "an", "some", "my", "his", "her", "to", "of", "this", "that", "please"})
_GO = frozenset({"go", "walk", "run", "head", "move", "climb"})
# (verb phrase tokens, verb), longest phrases first so "look at" wins over "look".
_VERB_PHRASES: tuple[tuple[tuple[str, ...], str], ...] = tuple(sorted([
    (("pick", "up"), "take"), (("take",), "take"), (("get",), "take"), (("grab",), "take"),
    (("collect",), "take"),
    (("put", "down"), "drop"), (("drop",), "drop"), (("discard",), "drop"),
    (("look", "at"), "examine"), (("look", "under"), "examine"), (("look", "in"), "examine"),
    (("look", "inside"), "examine"), (("look", "behind"), "examine"), (("examine",), "examine"),
    (("x",), "examine"), (("inspect",), "examine"), (("check",), "examine"), (("search",), "examine"),
    (("lift",), "examine"),
    (("open",), "open"), (("close",), "close"), (("shut",), "close"),
    (("read",), "read"), (("unlock",), "unlock"),
    (("accuse",), "accuse"), (("arrest",), "accuse"), (("blame",), "accuse"),
], key=lambda p: -len(p[0])))
_NO_OBJECT = {
    ("look",): "look", ("l",): "look", ("look", "around"): "look",
    ("i",): "inventory", ("inv",): "inventory", ("inventory",): "inventory", ("check", "inventory"): "inventory",
    ("take", "inventory"): "inventory", ("score",): "score", ("wait",): "wait", ("z",): "wait",
    ("help",): "help", ("hint",): "help", ("commands",): "help",
}
_VOCAB = frozenset(VOCABULARY) | {"murder", "killing", "with"}

HELP = ("Commands: look, inventory, go <direction> (or n, s, e, w, u, d), examine X, take X, drop X, open X, "
        "close X, read X, unlock X with Y, accuse <suspect>. Suspects: "
        + ", ".join(s.name for s in SUSPECTS.values()) + ".")
NOT_UNDERSTOOD = "I don't understand that."


def normalize(text: str) -> list[str]:
    """Lower-case words of ``text``: possessives and punctuation dropped (``Mr. Greaves's`` -> mr greaves)."""
    return list(_normalized(text))


@functools.lru_cache(maxsize=65_536)
def _normalized(text: str) -> tuple[str, ...]:
    """:func:`normalize`, remembered per text (the things' names are read again at every reset; issue 19)."""
    t = text.lower().replace("\u2019", "'")
    t = re.sub(r"'s\b", "", t).replace("'", "")
    return tuple(re.sub(r"[^a-z0-9]+", " ", t).split())


@functools.lru_cache(maxsize=4096)
def _words(aliases: tuple[str, ...]) -> frozenset[str]:
    return frozenset(w for a in aliases for w in _normalized(a))


@functools.lru_cache(maxsize=65_536)
def parse_command(command: str) -> tuple[str, tuple] | str:
    """``(verb, args)`` of a command, or the reply explaining why it cannot be read. It reads only the words (no game
    state), so each command is read once and remembered: the valid actions are found by running every candidate
    command each turn (issue 19: parsing them again was a third of a Detective step)."""
    toks = normalize(command)
    if not toks:
        return NOT_UNDERSTOOD
    if tuple(toks) in _NO_OBJECT:
        return _NO_OBJECT[tuple(toks)], ()
    if len(toks) == 1 and toks[0] in _DIRECTION_OF:
        return "go", (_DIRECTION_OF[toks[0]],)
    if toks[0] in _GO:
        rest = [t for t in toks[1:] if t not in _FILLER]
        if len(rest) == 1 and rest[0] in _DIRECTION_OF:
            return "go", (_DIRECTION_OF[rest[0]],)
        return "Which way? Try north, south, east, west, up or down."
    if toks[0] == "pick" and toks[-1] == "up" and len(toks) > 2:
        toks = ["take"] + toks[1:-1]
    for phrase, verb in _VERB_PHRASES:
        if tuple(toks[: len(phrase)]) == phrase:
            rest = toks[len(phrase):]
            break
    else:
        return NOT_UNDERSTOOD
    second: list[str] = []
    if "with" in rest:
        i = rest.index("with")
        rest, second = rest[:i], rest[i + 1:]
        if verb == "open":
            verb = "unlock"
    if verb == "accuse":
        for stop in ("of", "for"):
            if stop in rest:
                rest = rest[: rest.index(stop)]
    rest = [t for t in rest if t not in _FILLER]
    second = [t for t in second if t not in _FILLER]
    if not rest:
        return f"{verb.capitalize()} what?" if verb != "accuse" else "Accuse whom?"
    unknown = [t for t in rest + second if t not in _VOCAB]
    if unknown:
        return f"I don't know the word '{unknown[0]}'."
    return verb, (tuple(rest), tuple(second))


@dataclass
class State:
    """Everything that changes during a case. ``where``: thing id -> room id, container id or "inventory"."""

    room: str
    where: dict[str, str]
    hidden: set[str]
    closed: set[str]
    locked: set[str]
    events: list[str] = field(default_factory=list)  # scoring events, in the order they happened
    notebook: list[str] = field(default_factory=list)
    done: bool = False
    success: bool = False

    @property
    def score(self) -> int:
        return sum(map(SCORES.__getitem__, self.events))

    def copy(self) -> "State":
        return State(self.room, dict(self.where), set(self.hidden), set(self.closed), set(self.locked),
                     list(self.events), list(self.notebook), self.done, self.success)

    def key(self) -> tuple:
        """Hashable summary used to tell whether a command changed the game state."""
        return (self.room, tuple(sorted(self.where.items())), frozenset(self.hidden), frozenset(self.closed),
                frozenset(self.locked), tuple(self.events), self.done)

    def same_key(self, other: "State") -> bool:
        """``self.key() == other.key()``, compared field by field without building the keys (a dict compares equal
        exactly when its sorted items do): :meth:`Game.valid_actions` asks it of every candidate command."""
        return (self.room == other.room and self.where == other.where and self.hidden == other.hidden
                and self.closed == other.closed and self.locked == other.locked and self.events == other.events
                and self.done == other.done)


@dataclass(frozen=True)
class Outcome:
    reply: str
    reward: int
    done: bool
    success: bool
    understood: bool


class Game:
    """One case of the Harrow House murder (``variant`` is a key of :data:`VARIANTS`)."""

    def __init__(self, variant: str):
        self.variant = VARIANTS[variant]
        self.things: dict[str, Thing] = things_for(self.variant)
        self._thing_words = {tid: _words(t.aliases + (t.name,)) for tid, t in self.things.items()}
        self._suspect_words = {sid: _words(s.aliases + (s.name,)) for sid, s in SUSPECTS.items()}
        self._alias_phrases = {tid: frozenset(" ".join(normalize(a)) for a in t.aliases) for tid, t in self.things.items()}
        self._keys = frozenset(t.key for t in self.things.values() if t.key)
        self._valid_by_state: dict[tuple, list[str]] = {}  # State.key() -> its valid actions (see valid_actions)
        self.state = State(
            room=START_ROOM,
            where={tid: t.location for tid, t in self.things.items()},
            hidden={tid for tid, t in self.things.items() if t.hidden},
            closed={tid for tid, t in self.things.items() if t.closed},
            locked={tid for tid, t in self.things.items() if t.locked},
        )

    # ----------------------------------------------------------------- what the player sees
    def scope(self, state: State | None = None) -> list[str]:
        """Ids of the things the player can refer to: in the room (and in its open containers) or carried."""
        s = state or self.state
        out = []
        for tid, loc in s.where.items():
            if tid in s.hidden:
                continue
            if loc in (s.room, INVENTORY):
                out.append(tid)
            elif loc in self.things and loc not in s.closed and s.where.get(loc) in (s.room, INVENTORY):
                out.append(tid)
        return out

    def _contents(self, container: str, s: State) -> list[str]:
        return [tid for tid, loc in s.where.items() if loc == container and tid not in s.hidden]

    def _label(self, tid: str, s: State) -> str:
        t = self.things[tid]
        if not t.container:
            return t.name
        if tid in s.locked:
            return f"{t.name} (locked)"
        if tid in s.closed:
            return f"{t.name} (closed)"
        inside = self._contents(tid, s)
        return f"{t.name} (open, holding: {', '.join(self.things[c].name for c in inside)})" if inside \
            else f"{t.name} (open, empty)"

    def describe_location(self) -> str:
        s = self.state
        room = ROOMS[s.room]
        here = [tid for tid, loc in s.where.items() if loc == s.room and tid not in s.hidden]
        lines = [f"Location: {room.name}", room.description, "Exits: " + ", ".join(room.exits) + "."]
        if here:
            lines.append("You see: " + ", ".join(self._label(t, s) for t in here) + ".")
        return "\n".join(lines)

    def inventory_text(self) -> str:
        held = [self.things[t].name for t, loc in self.state.where.items() if loc == INVENTORY]
        return "Inventory: " + (", ".join(held) if held else "nothing") + "."

    def notebook_text(self) -> str:
        if not self.state.notebook:
            return "Notebook: (no clues yet)"
        return "Notebook:\n" + "\n".join("- " + n for n in self.state.notebook)

    @property
    def score(self) -> int:
        return self.state.score

    max_score = MAX_SCORE

    # ----------------------------------------------------------------- parser
    def parse(self, command: str) -> tuple[str, tuple] | str:
        """``(verb, args)`` or, if the command cannot be read, the reply explaining why."""
        return parse_command(command)

    def _resolve(self, words: tuple[str, ...], candidates) -> list[str]:
        ws = set(words)
        phrase = " ".join(words)
        exact = [tid for tid in candidates if phrase in self._alias_phrases[tid]]
        return exact or [tid for tid in candidates if ws <= self._thing_words[tid]]

    # ----------------------------------------------------------------- one turn
    def step(self, command: str) -> Outcome:
        """Parse and apply ``command`` to :attr:`state`."""
        return self._run(self.state, command)

    def _run(self, s: State, command: str, in_scope: list[str] | None = None) -> Outcome:
        """Apply ``command`` to ``s``. ``in_scope``: ``self.scope(s)`` when the caller has it already (every candidate
        command of :meth:`valid_actions` starts from a copy of the same state)."""
        if s.done:
            return Outcome("The case is closed.", 0, True, s.success, True)
        parsed = self.parse(command)
        if isinstance(parsed, str):
            return Outcome(parsed, 0, False, False, False)
        verb, args = parsed
        before = s.score
        if verb in ("look", "inventory", "score", "wait", "help"):
            reply = {"look": lambda: self._look(s), "inventory": lambda: self._inventory(s),
                     "score": lambda: f"Your score is {s.score} of {MAX_SCORE}.",
                     "wait": lambda: "Time passes. Somewhere a clock ticks.", "help": lambda: HELP}[verb]()
        elif verb == "go":
            reply = self._go(s, args[0])
        elif verb == "accuse":
            reply = self._accuse(s, args[0])  # (noun words, with-words)
        else:
            noun, second = args
            found = self._resolve(noun, self.scope(s) if in_scope is None else in_scope)
            if not found:
                reply = "You see no such thing here."
            elif len(found) > 1:
                reply = "Which do you mean: " + " or ".join("the " + self.things[t].name for t in found) + "?"
            else:
                reply = getattr(self, "_" + verb)(s, found[0], second)
        return Outcome(reply, s.score - before, s.done, s.success, True)

    def _event(self, s: State, event: str | None, note: str) -> str:
        """Record scoring ``event`` once; returns the score line to append to the reply."""
        if event is None or event in s.events:
            return ""
        s.events.append(event)
        s.notebook.append(note)
        return f" [+{SCORES[event]} points]"

    def _look(self, s: State) -> str:
        room = ROOMS[s.room]
        return f"{room.name}. {room.description}"

    def _inventory(self, s: State) -> str:
        held = [self.things[t].name for t, loc in s.where.items() if loc == INVENTORY]
        return "You are carrying: " + ", ".join(held) + "." if held else "You are empty-handed."

    def _go(self, s: State, direction: str) -> str:
        dest = ROOMS[s.room].exits.get(direction)
        if dest is None:
            return "You can't go that way."
        s.room = dest
        return f"You go {direction} to the {ROOMS[dest].name}."

    def _where_found(self, tid: str, s: State) -> str:
        loc = s.where[tid]
        if loc in self.things:
            return f"in the {self.things[loc].name} ({ROOMS[s.room].name})"
        return f"in the {ROOMS[loc].name}" if loc in ROOMS else "on you"

    def _take(self, s: State, tid: str, _second) -> str:
        t = self.things[tid]
        if s.where[tid] == INVENTORY:
            return f"You already have the {t.name}."
        if not t.portable:
            return f"You can't take the {t.name}."
        where = self._where_found(tid, s)
        s.where[tid] = INVENTORY
        notes = {"key": "A brass key was hidden under the doormat on the porch.",
                 "weapon": f"Weapon: the {t.name}, hidden {where}.",
                 "evidence": f"Evidence: the {t.name}, found {where}. {t.description}"}
        return f"Taken: the {t.name}." + self._event(s, t.on_take, notes.get(t.on_take or "", ""))

    def _drop(self, s: State, tid: str, _second) -> str:
        t = self.things[tid]
        if s.where[tid] != INVENTORY:
            return f"You aren't carrying the {t.name}."
        s.where[tid] = s.room
        return f"Dropped: the {t.name}."

    def _examine(self, s: State, tid: str, _second) -> str:
        t = self.things[tid]
        reply = t.description
        if t.container:
            reply += " " + self._label(tid, s).replace(t.name, "It is", 1).replace("(", "").replace(")", "") + "."
        if t.text:
            reply += " There is writing on it."
        for other_id, other in self.things.items():
            if other.revealed_by == tid and other_id in s.hidden:
                s.hidden.discard(other_id)
                reply += " " + other.reveal_text
        notes = {"body": f"The body: {t.description}", "weapon_examined": f"The {t.name}: {t.description}"}
        return reply + self._event(s, t.on_examine, notes.get(t.on_examine or "", ""))

    def _open(self, s: State, tid: str, _second) -> str:
        t = self.things[tid]
        if not t.container:
            return f"You can't open the {t.name}."
        if tid not in s.closed:
            return f"The {t.name} is already open."
        if tid in s.locked:
            return f"The {t.name} is locked."
        s.closed.discard(tid)
        inside = self._contents(tid, s)
        if inside:
            return f"You open the {t.name}. Inside: " + ", ".join(self.things[c].name for c in inside) + "."
        return f"You open the {t.name}. It is empty."

    def _close(self, s: State, tid: str, _second) -> str:
        t = self.things[tid]
        if not t.container:
            return f"You can't close the {t.name}."
        if tid in s.closed:
            return f"The {t.name} is already closed."
        s.closed.add(tid)
        return f"You close the {t.name}."

    def _unlock(self, s: State, tid: str, second: tuple[str, ...]) -> str:
        t = self.things[tid]
        if tid not in s.locked:
            return f"The {t.name} isn't locked." if t.container else f"You can't unlock the {t.name}."
        held = [k for k, loc in s.where.items() if loc == INVENTORY]
        if second:
            keys = self._resolve(second, held)
            if not keys:
                return "You aren't carrying that."
            key = keys[0]
            if key != t.key:
                return f"The {self.things[key].name} doesn't fit the {t.name}."
        elif t.key in held:
            key = t.key
        else:
            return f"You have nothing that unlocks the {t.name}."
        s.locked.discard(tid)
        return f"You unlock the {t.name} with the {self.things[key].name}."

    def _read(self, s: State, tid: str, _second) -> str:
        t = self.things[tid]
        if not t.text:
            return f"There is nothing to read on the {t.name}."
        notes = {"letter": f"Half-burnt letter from the library grate: '{t.text}'",
                 "will": f"Lord Harrow's will: '{self.variant.will}'"}
        return f"The {t.name} reads: {t.text}" + self._event(s, t.on_read, notes.get(t.on_read or "", ""))

    def _accuse(self, s: State, noun: tuple[str, ...]) -> str:
        words = set(noun)
        found = [sid for sid, w in self._suspect_words.items() if words <= w]
        if len(found) != 1:
            return ("There is no such suspect. The suspects are "
                    + ", ".join(x.name for x in SUSPECTS.values()) + ".")
        if "weapon" not in s.events:
            return "Inspector Lowe shakes his head: 'No arrest without the murder weapon, detective.'"
        suspect, killer = SUSPECTS[found[0]], SUSPECTS[self.variant.killer]
        s.done = True
        if suspect.id == killer.id:
            s.success = True
            pts = self._event(s, "accusation", f"You accused {suspect.name}: case solved.")
            return (f"You accuse {suspect.name}. Faced with the evidence, {suspect.name} confesses. "
                    f"Case solved!{pts} Final score: {s.score} of {MAX_SCORE}.")
        s.notebook.append(f"You accused {suspect.name}, wrongly.")
        return (f"You accuse {suspect.name}, who is led away protesting. Weeks later {killer.name} is caught "
                f"fleeing the country. Case lost. Final score: {s.score} of {MAX_SCORE}.")

    # ----------------------------------------------------------------- valid actions
    def candidate_actions(self) -> list[str]:
        """Verb-noun commands worth trying here (canonical spellings), before the state-change filter."""
        s = self.state
        out = list(ROOMS[s.room].exits)
        held = [t for t, loc in s.where.items() if loc == INVENTORY]
        for tid in self.scope(s):
            t, noun = self.things[tid], self.things[tid].aliases[0]
            out.append(f"examine {noun}")
            if t.portable:
                out.append(f"drop {noun}" if tid in held else f"take {noun}")
            if t.container:
                out += [f"open {noun}", f"close {noun}"]
                out += [f"unlock {noun} with {self.things[k].aliases[0]}" for k in held if k in self._keys]
            if t.text:
                out.append(f"read {noun}")
        out += [f"accuse {sid}" for sid in SUSPECTS]
        return out

    def valid_actions(self) -> list[str]:
        """Commands that change the game state from here (location, objects, score, or the end). They depend only on
        what :meth:`State.key` holds (the notebook is only ever written), so they are worked out once per state of
        the game: a command that changes nothing (a look, a second examine, a command not understood) leaves the
        state, and so its valid actions, as they were (issue 19)."""
        if self.state.done:
            return []
        key = self.state.key()
        known = self._valid_by_state.get(key)
        if known is None:
            known = []
            here = self.scope(self.state)
            for cmd in self.candidate_actions():
                trial = self.state.copy()
                self._run(trial, cmd, here)
                if not trial.same_key(self.state):
                    known.append(cmd)
            self._valid_by_state[key] = known
        return list(known)
