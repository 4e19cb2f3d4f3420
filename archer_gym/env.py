"""TextGameEnv: the Gymnasium ``Env`` every archer-gym task subclasses.

Observations and actions are Python ``str``. The observation is the whole text state the agent needs,
laid out as::

    <instruction paragraph>\\n\\n<history line>\\n<history line>\\n...

so a policy can be memoryless and can truncate old history without ever cutting the instruction (the
first paragraph, up to the first blank line).

A turn is split in three so that a vector of envs can share one batched oracle call
(:mod:`archer_gym.vector`):

1. :meth:`TextGameEnv.begin_step` validates the action and returns an :class:`OracleRequest` (or
   ``None`` when the game engine answers by itself),
2. the oracle answers the requests of many envs in one ``answer_batch`` call,
3. :meth:`TextGameEnv.finish_step` applies the reply and returns the Gymnasium 5-tuple.

``step`` is those three for one env. Subclasses implement the hooks in the "task hooks" section.

The same episode is also given as OpenAI chat messages (:meth:`TextGameEnv.messages`, ``info["messages"]``,
:mod:`archer_gym.chat`): system = the instruction, assistant = the agent's utterances as the env read them,
user = the replies (and, for tasks with a state beside the dialogue, that state). Each task's
:meth:`TextGameEnv.observation_from_messages` renders the text observation back from them, and a test holds
the two equal at every step of every registered env.
"""

from __future__ import annotations

import string
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from archer_gym.oracles.base import Oracle, OracleRequest

#: Characters an observation or action may hold: printable ASCII (letters, digits, punctuation,
#: space) plus newline. Anything else is mapped by :func:`clean_text` before it enters an observation.
CHARSET: str = "".join(sorted(set(string.ascii_letters + string.digits + string.punctuation + " \n")))
_CHARSET_SET = frozenset(CHARSET)

#: Longest action the env reads; longer actions are cut (a legal, costly turn, never an error).
MAX_ACTION_LENGTH: int = 500
#: Longest observation an env emits; tasks keep well under it (history is bounded by the turn cap).
MAX_OBSERVATION_LENGTH: int = 20_000
#: Stands for the oldest turns when the history no longer fits (the observation keeps the newest).
OMITTED_MARKER: str = "[earlier turns omitted]\n"

_TRANSLATE = {
    "\t": " ", "\r": " ",
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
    "\u00e9": "e", "\u00e8": "e", "\u00e1": "a", "\u00e3": "a", "\u00ed": "i", "\u00f3": "o",
    "\u00fa": "u", "\u00e7": "c", "\u00f1": "n", "\u00fc": "u", "\u00f6": "o", "\u00e4": "a",
}


def clean_text(text: str, max_length: int) -> str:
    """Map ``text`` into :data:`CHARSET` (common accents and quotes folded, the rest dropped), cut to
    ``max_length`` characters."""
    if _CHARSET_SET.issuperset(text):  # the common case, a C-speed check (every observation line passes here)
        return text[:max_length]
    out = []
    for ch in text[: max_length * 2]:
        ch = _TRANSLATE.get(ch, ch)
        if ch in _CHARSET_SET:
            out.append(ch)
        else:  # any other accented, fullwidth or compatibility form: its base letters (issue 15: dropping
            # "Í" or fullwidth letters left a name the no-leak guard could not match but a reader could)
            out.extend(c for c in unicodedata.normalize("NFKD", ch) if c in _CHARSET_SET)
    return "".join(out)[:max_length]


def window_observation(instruction: str, recent: Sequence[str], state: str) -> str:
    """An observation of the instruction, a blank line, the last turns' transcript lines and the current state (the
    layout of the envs that show a window of the dialogue beside their state: Maze, ChessEndgame)."""
    return clean_text("\n".join([instruction, "", *recent, state]) + "\n", MAX_OBSERVATION_LENGTH)


def fit_observation(head: str, lines: Sequence[str]) -> str:
    """``head`` (the instruction paragraph and its blank line) then ``lines`` (each ends in "\\n"). Over
    ``MAX_OBSERVATION_LENGTH``, the oldest lines give way to :data:`OMITTED_MARKER`: the instruction and the newest
    turns are what an agent needs (issue 15: cutting the tail dropped the newest turns from turn 39 with long
    questions)."""
    if len(head) + sum(map(len, lines)) <= MAX_OBSERVATION_LENGTH:
        return head + "".join(lines)
    budget = MAX_OBSERVATION_LENGTH - len(head) - len(OMITTED_MARKER)
    kept: list[str] = []
    for line in reversed(lines):
        if len(line) > budget:
            break
        kept.append(line)
        budget -= len(line)
    return (head + OMITTED_MARKER + "".join(reversed(kept)))[:MAX_OBSERVATION_LENGTH]


def action_space(max_length: int = MAX_ACTION_LENGTH) -> spaces.Text:
    return spaces.Text(max_length=max_length, min_length=0, charset=CHARSET)


def observation_space(max_length: int = MAX_OBSERVATION_LENGTH) -> spaces.Text:
    return spaces.Text(max_length=max_length, min_length=0, charset=CHARSET)


def split_targets(targets: Sequence[str], split: str, holdout_fraction: float, seed: int = 12345) -> list[str]:
    """Targets an env of ``split`` draws from.

    With ``holdout_fraction == 0`` both splits cover every target (the paper's protocol for closed
    word lists). With ``0 < holdout_fraction < 1`` a fixed seeded permutation puts that fraction of
    targets in ``eval`` only and the rest in ``train`` only, for generalisation studies.
    """
    if split not in ("train", "eval"):
        raise ValueError(f"split={split!r} is not a split; choose 'train' or 'eval'.")
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction={holdout_fraction!r} must be in [0, 1).")
    targets = list(targets)
    if holdout_fraction == 0.0:
        return targets
    order = np.random.default_rng(seed).permutation(len(targets))
    n_eval = max(1, int(round(holdout_fraction * len(targets))))
    eval_idx = set(order[:n_eval].tolist())
    return [t for i, t in enumerate(targets) if (i in eval_idx) == (split == "eval")]


@dataclass
class StepResult:
    """What a task's :meth:`TextGameEnv._apply` returns for one turn."""

    reward: float
    terminated: bool
    success: bool
    reply: str
    history_lines: list[str]
    info: dict[str, Any] = field(default_factory=dict)


class TextGameEnv(gym.Env[str, str]):
    """Base class of every archer-gym task: text in, text out, honest termination and truncation.

    Shared ``info`` keys (every step): ``turn`` (int, turns taken), ``success`` (bool),
    ``reply`` (str, the oracle's or game's answer), ``invalid_action`` (bool: the action was empty,
    cut, or not understood; it still cost the turn). At episode end also ``episode`` =
    ``{"return", "length", "success", "target"}``. ``messages`` (list of ``{"role", "content"}`` dicts, a fresh
    copy each time): the episode so far as OpenAI chat messages (see :meth:`messages`).

    Arguments common to every task: ``split`` ("train" | "eval"), ``holdout_fraction``,
    ``max_turns`` (turn cap: hitting it is *truncation*), ``oracle`` (an :class:`Oracle` or a backend
    name the task understands), ``render_mode`` ("ansi" | "human" | None).
    """

    metadata = {"render_modes": ["ansi", "human"]}
    #: How a turn reads in a transcript observation (the base :meth:`observation`): the action's line, the reply's.
    turn_format: tuple[str, str] = ("Q: {action}", "A: {reply}")
    #: Subclasses set the full, ordered list of targets (names only).
    all_targets: Sequence[str] = ()
    #: Seed of the fixed permutation that makes the eval split's episode sequence.
    eval_sequence_seed: int = 2024

    def __init__(
        self,
        *,
        split: str = "train",
        holdout_fraction: float = 0.0,
        max_turns: int = 20,
        oracle: Oracle | None = None,
        render_mode: str | None = None,
        max_action_length: int = MAX_ACTION_LENGTH,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r}; choose one of {self.metadata['render_modes']} or None.")
        if not isinstance(max_turns, int) or max_turns < 1:
            raise ValueError(f"max_turns={max_turns!r} must be a positive int.")
        self.split = split
        self.holdout_fraction = holdout_fraction
        self.targets = split_targets(self.all_targets, split, holdout_fraction)
        if not self.targets:
            raise ValueError(f"{type(self).__name__} has no targets for split={split!r}.")
        self.max_turns = max_turns
        self.oracle = oracle
        self.render_mode = render_mode
        self.max_action_length = max_action_length
        self.action_space = action_space(max_action_length)
        self.observation_space = observation_space()
        self._target: str | None = None
        self._history: list[str] = []
        self._shown_of: list[str] | None = None  # the history list that _shown was cleaned from (history_as_shown)
        self._shown: list[str] = []
        self._exchanges: list[tuple[str, str]] = []  # (action, reply) of every turn, oldest first
        # (role, content) of every chat message so far, in order (see messages()); kept as the episode goes, since
        # every step's info carries the messages
        self._chat: list[tuple[str, str]] = [("system", "")]
        self._turn = 0
        self._return = 0.0
        self._done = True
        self._eval_counter = 0

    # ----------------------------------------------------------------- task hooks
    def instruction(self) -> str:
        """The first paragraph of every observation (no blank line inside)."""
        raise NotImplementedError

    def resolve_target(self, name: str) -> str:
        """Canonical target for a user-given name (aliases allowed); raise ``ValueError`` if unknown."""
        for t in self.all_targets:
            if t.lower() == str(name).strip().lower():
                return t
        raise ValueError(f"unknown target {name!r} for {type(self).__name__}; valid targets: {list(self.all_targets)}")

    def _on_reset(self, target: str) -> None:
        """Set up per-episode task state (optional)."""

    def _request(self, action: str) -> OracleRequest | None:
        """The question for the oracle, or ``None`` when the game engine answers by itself."""
        raise NotImplementedError

    def _apply(self, action: str, reply: str | None) -> StepResult:
        """Apply the (oracle) reply to the game state: reward, termination, new history lines."""
        raise NotImplementedError

    # ----------------------------------------------------------------- Gymnasium API
    @property
    def target(self) -> str | None:
        return self._target

    @property
    def exchanges(self) -> tuple[tuple[str, str], ...]:
        """(action, reply) of every turn of the episode so far, oldest first: the dialogue an oracle
        reads as ``OracleRequest.history``."""
        return tuple(self._exchanges)

    def observation(self) -> str:
        """The instruction, then the history (see :func:`fit_observation` for the cut past ``MAX_OBSERVATION_LENGTH``)."""
        head = clean_text(self.instruction() + "\n\n", MAX_OBSERVATION_LENGTH)
        return fit_observation(head, self.history_as_shown())

    def history_as_shown(self) -> list[str]:
        """The history lines as the observation shows them (cleaned, each ending in "\n"), oldest first. Each line is
        cleaned once, when it is first shown, and kept: an episode's observation is the previous one plus a line or
        two, so cleaning the whole history again every turn made a 100-turn episode quadratic (issue 19: MazePO-v0).
        The history only grows within an episode (tasks append to it) and reset starts a new list, which is how a
        stale copy is told apart. The caller must not change the list returned."""
        if self._shown_of is not self._history:
            self._shown_of, self._shown = self._history, []
        shown = self._shown
        for line in self._history[len(shown):]:
            shown.append(clean_text(line, MAX_OBSERVATION_LENGTH) + "\n")
        return shown

    def transcript_lines(self, action: str, reply: str) -> list[str]:
        """The history lines of one turn in a transcript observation, written by :attr:`turn_format`."""
        return [self.turn_format[0].format(action=action), self.turn_format[1].format(reply=reply)]

    # ----------------------------------------------------------------- chat messages
    def chat_view(self) -> str:
        """Task hook: the state a task shows beside the dialogue (a room, a web page), which goes into every user
        message after the reply, and alone into an opening user message at reset. ``""`` (the default) when the
        dialogue is the whole state, as in Twenty Questions."""
        return ""

    def _chat_user_message(self, reply: str) -> str:
        view = clean_text(self.chat_view(), MAX_OBSERVATION_LENGTH)
        return clean_text(reply, MAX_OBSERVATION_LENGTH) + ("\n\n" + view if view else "")

    def messages(self) -> list[dict[str, str]]:
        """The episode so far as OpenAI chat messages (fresh dicts)::

            {"role": "system", "content": <the instruction: the observation's first paragraph>}
            {"role": "user", "content": <the opening state>}      # only when chat_view() is not "" at reset
            {"role": "assistant", "content": <action 1, as the env read it: cleaned and cut>}
            {"role": "user", "content": <reply 1>[ + "\\n\\n" + <the state after turn 1>]}
            ...

        Texts are in :data:`CHARSET`, as in the observation. :meth:`observation_from_messages` renders the
        observation back from them."""
        return [{"role": role, "content": content} for role, content in self._chat]

    def observation_from_messages(self, messages: Sequence[dict[str, str]]) -> str:
        """The text observation the env showed at the end of ``messages`` (a list :meth:`messages` returned):
        the inverse that proves the two renderings carry the same episode. The base renders a transcript with
        :attr:`turn_format`; tasks with another observation override it."""
        from archer_gym.chat import split_dialogue

        instruction, _, turns = split_dialogue(messages)
        head = clean_text(instruction + "\n\n", MAX_OBSERVATION_LENGTH)
        lines = [clean_text(line, MAX_OBSERVATION_LENGTH) + "\n"
                 for action, reply in turns for line in self.transcript_lines(action, reply)]
        return fit_observation(head, lines)

    def _pick_target(self, options: dict | None) -> str:
        if options and options.get("target") is not None:
            return self.resolve_target(options["target"])
        if self.split == "eval":
            # The eval split is a fixed sequence: after reset(seed=s) the episodes walk a fixed permutation
            # of the targets from an offset drawn from s, so N consecutive eval episodes cover every target
            # evenly and are the same on every machine.
            if self._eval_counter == 0:
                self._eval_start = int(self.np_random.integers(0, len(self.targets)))
            order = np.random.default_rng(self.eval_sequence_seed).permutation(len(self.targets))
            idx = order[(self._eval_start + self._eval_counter) % len(self.targets)]
            self._eval_counter += 1
            return self.targets[int(idx)]
        return self.targets[int(self.np_random.integers(0, len(self.targets)))]

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        if seed is not None:
            self._eval_counter = 0
        super().reset(seed=seed)
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"options must be a dict or None, got {type(options).__name__}")
        self._target = self._pick_target(options)
        self._history = []
        self._exchanges = []
        self._turn = 0
        self._return = 0.0
        self._done = False
        self._on_reset(self._target)
        self._chat = [("system", clean_text(self.instruction(), MAX_OBSERVATION_LENGTH))]
        opening = clean_text(self.chat_view(), MAX_OBSERVATION_LENGTH)  # the state shown before the first turn
        if opening:
            self._chat.append(("user", opening))
        return self.observation(), {"turn": 0, "success": False, "reply": "", "invalid_action": False,
                                    "messages": self.messages()}

    def check_action(self, action: Any) -> tuple[str, bool]:
        """Validate and normalise an action; returns (text, was_cut_or_mapped)."""
        if self._done:
            raise RuntimeError(
                f"{type(self).__name__}.step() called after the episode ended (or before reset()); "
                "call env.reset() to start a new episode."
            )
        if not isinstance(action, str):
            raise TypeError(
                f"{type(self).__name__} actions are str (one utterance), got {type(action).__name__}: {action!r:.80}"
            )
        text = clean_text(action.replace("\n", " "), self.max_action_length).strip()
        return text, text != action.strip()

    def begin_step(self, action: Any) -> OracleRequest | None:
        """Phase 1 of a turn: validate ``action`` and return what the oracle must answer."""
        text, mapped = self.check_action(action)
        self._pending = (text, mapped)
        return self._request(text)

    def finish_step(self, reply: str | None) -> tuple[str, float, bool, bool, dict]:
        """Phase 3 of a turn: apply the oracle's reply (``None`` if no request was made)."""
        text, mapped = self._pending
        del self._pending
        res = self._apply(text, reply)
        self._turn += 1
        self._return += res.reward
        self._history.extend(res.history_lines)
        self._exchanges.append((text, res.reply))
        self._chat.append(("assistant", text))
        self._chat.append(("user", self._chat_user_message(res.reply)))  # after the turn: its view is the new state
        terminated = bool(res.terminated)
        truncated = (not terminated) and self._turn >= self.max_turns
        info = {"turn": self._turn, "success": bool(res.success), "reply": res.reply,
                "invalid_action": bool(res.info.pop("invalid_action", False) or mapped or not text)}
        info.update(res.info)
        info["messages"] = self.messages()
        if terminated or truncated:
            self._done = True
            info["episode"] = {"return": self._return, "length": self._turn,
                               "success": bool(res.success), "target": self._target}
        if self.render_mode == "human":
            print(self.render_text(last_only=True), flush=True)
        return self.observation(), float(res.reward), terminated, truncated, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        request = self.begin_step(action)
        reply = None
        if request is not None:
            if self.oracle is None:
                raise RuntimeError(f"{type(self).__name__} has no oracle to answer {request.question!r}.")
            reply = self.oracle.answer_batch([request])[0]
        return self.finish_step(reply)

    def render_text(self, last_only: bool = False) -> str:
        if last_only:
            return "\n".join(self._history[-2:])
        return self.observation()

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.observation()
        if self.render_mode == "human":
            print(self.observation(), flush=True)
        return None

    # ----------------------------------------------------------------- scripted policies
    def scripted_policies(self) -> dict[str, Any]:
        """Name -> factory(env, rng) of the task's scripted policies (``expert``, ``random``, ...).

        A scripted policy is a callable ``policy(observation: str) -> str``; it may read the env's
        public state but never the hidden target.
        """
        return {}
