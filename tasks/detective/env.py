"""archer/Detective-v0: a murder-mystery text adventure scored per discovery."""

from __future__ import annotations

from typing import Any

from archer_gym.chat import split_dialogue, split_user_message
from archer_gym.env import MAX_OBSERVATION_LENGTH, StepResult, TextGameEnv, clean_text
from tasks.detective.engine import Game
from tasks.detective.world import MAX_SCORE, VARIANTS

_INTRO = ("Inspector Lowe meets you on the porch of Harrow House: 'Lord Harrow was found dead in his study "
          "this morning. Everyone in the house had a reason. Find the weapon, then tell me who did it.'")
#: Longest command echoed in the recent-turns section (the whole command still reaches the parser).
_ECHO_CHARS = 100


class DetectiveEnv(TextGameEnv):
    """The Harrow House Affair: explore a country house, collect clues, accuse the killer.

    ## Description
    An original text adventure in the spirit of the classic interactive-fiction game "Detective".
    Lord Harrow lies dead in his study. The player explores 13 locations (porch, hall, library,
    study, dining room, kitchen, pantry, garden, greenhouse, tool shed, landing, guest room,
    servants' room), finds a hidden key, unlocks the desk, reads the clues (a half-burnt letter, the
    will), finds the killer's personal evidence and the hidden weapon, and ends the game with
    ``accuse <suspect>``. Four suspects: Clara Harrow (niece), Mr. Greaves (butler), Tom Fenn
    (gardener), Mrs. Pike (cook). The game engine (:mod:`tasks.detective.engine`) answers every
    command itself; there is no oracle.

    ## Action Space
    ``Text(max_length=500)``: one command. The parser lower-cases, drops punctuation and articles and
    reads ``verb [object] [with object]`` with synonyms: ``n``/``north``/``go north``; ``take``/``get``/
    ``pick up``; ``drop``; ``examine``/``x``/``look at``/``search``; ``open``; ``close``; ``read``;
    ``unlock X with Y``; ``accuse``/``arrest X``; ``look``; ``inventory``/``i``; ``score``; ``wait``;
    ``help``. Any ``str`` is a legal turn: a command the parser cannot read gets "I don't understand
    that." (or names the unknown word), sets ``info["invalid_action"]`` and costs the step.
    Non-``str`` actions raise ``TypeError``.

    ## Observation Space
    ``Text(max_length=20000)`` over printable ASCII and newline, bounded (under ~3,000 characters)::

        <instruction: one line>

        > <command>            (the last ``history_turns`` turns; the case intro before the first)
        <game reply>

        Location: <room name>
        <room description>
        Exits: <directions>.
        You see: <things here; containers with their state and contents>.
        Inventory: <carried things>.
        Notebook:               (one line per clue found, so no clue is lost with old turns)
        - <clue>
        Score: <s> of 100. Step <t> of <max_turns>.
        Valid actions: <a>; <b>; ...   (only with show_valid_actions=True)

    The first paragraph is always the instruction, so an agent may cut old text after it.

    ## Starting State
    On the front porch, empty-handed, score 0. ``reset(seed=s)`` picks the case (who is guilty, the
    weapon, where it is hidden) from ``s``; ``reset(options={"target": name})`` picks one of
    ``clara``, ``greaves``, ``fenn``, ``pike`` (named after the killer).

    ## Rewards
    The score increment of the step (points, not a win flag): brass key taken 5, burnt letter read 5,
    body examined 5, will read 10, killer's personal evidence taken 10, weapon taken 10, weapon
    examined 5, right accusation 50. Each discovery scores once; the maximum score is 100.

    ## Episode End
    Terminated by any accusation (only possible once the weapon has been found): success if the
    accused is the killer. Truncated after ``max_turns`` steps (50 in the registry) without one.

    ## Information
    Every step (and ``reset``): ``turn`` (int), ``success`` (bool: the right suspect was accused),
    ``reply`` (str: the game's answer to the command; ``""`` at reset), ``invalid_action`` (bool: the
    parser could not read the command, or it was empty or had to be cut or mapped to ASCII; the step
    still counts), ``valid_actions`` (list[str]: the commands that change the game state from here,
    found by trying each candidate on a copy of the state, as Jericho does; ``[]`` once the game is
    over), ``score`` (int: points so far), ``max_score`` (int: 100). At episode end also ``episode`` =
    ``{"return", "length", "success", "target"}``.
    ``messages`` (list[dict], every step and reset): the whole episode as OpenAI chat messages (system: the
    instruction; a first user message: the inspector's words and the state; assistant: the commands as read;
    user: the reply, a blank line, then the state after it); see :mod:`archer_gym.chat`.

    ## Arguments
    - ``split``: ``"train"`` or ``"eval"``; both cover all four cases (eval is a fixed seeded sequence).
    - ``holdout_fraction``: put that fraction of the cases in eval only, the rest in train only.
    - ``max_turns``: step cap (truncation); 50 in the registry.
    - ``show_valid_actions``: also list ``info["valid_actions"]`` in the observation (the setup of the
      ArCHer paper's Detective experiments).
    - ``history_turns``: how many recent ``> command`` / reply pairs the observation shows (3).
    - ``render_mode``: ``"ansi"`` (``render()`` returns the observation), ``"human"`` (prints it) or None.
    - ``oracle``: must be None (the game engine answers by itself); accepted so vector helpers can pass it.

    ## References
    - Zhou et al., "ArCHer: Training Language Model Agents via Hierarchical Multi-Turn RL", 2024
      (Detective from Jericho as a multi-turn benchmark with valid actions shown).
    - Hausknecht et al., "Interactive Fiction Games: A Colossal Adventure", AAAI 2020 (Jericho,
      its valid-action detection by state change).
    - M. Barringer, "Detective" (1993), the game this task is in the spirit of; the text here is original.

    ## Version History
    - v0: initial release (13 locations, 4 cases, 100 points, 50 steps).
    """

    all_targets = tuple(VARIANTS)

    def __init__(self, *, split: str = "train", holdout_fraction: float = 0.0, max_turns: int = 50,
                 show_valid_actions: bool = False, history_turns: int = 3, render_mode: str | None = None,
                 oracle: None = None, max_action_length: int = 500):
        if oracle is not None:
            raise ValueError(f"oracle={oracle!r}: Detective's game engine answers by itself; pass oracle=None.")
        if not isinstance(history_turns, int) or history_turns < 0:
            raise ValueError(f"history_turns={history_turns!r} must be an int >= 0.")
        super().__init__(split=split, holdout_fraction=holdout_fraction, max_turns=max_turns, oracle=None,
                         render_mode=render_mode, max_action_length=max_action_length)
        self.show_valid_actions = bool(show_valid_actions)
        self.history_turns = history_turns
        self.game: Game | None = None
        self._valid: list[str] = []

    # ----------------------------------------------------------------- task hooks
    def instruction(self) -> str:
        return ("You are a detective at Harrow House. Solve the murder of Lord Harrow: explore, examine things, "
                "collect clues and the weapon, then accuse the killer (accuse <name>). Every discovery scores "
                f"points; you have {self.max_turns} steps.")

    def _on_reset(self, target: str) -> None:
        self.game = Game(target)
        self._valid = self.game.valid_actions()

    def _request(self, action: str) -> None:
        return None  # the game engine answers by itself

    def _apply(self, action: str, reply: str | None) -> StepResult:
        out = self.game.step(action)
        self._valid = self.game.valid_actions()
        return StepResult(reward=float(out.reward), terminated=out.done, success=out.success, reply=out.reply,
                          history_lines=self.transcript_lines(action, out.reply),
                          info={"invalid_action": not out.understood, "valid_actions": list(self._valid),
                                "score": self.game.score, "max_score": MAX_SCORE})

    def transcript_lines(self, action: str, reply: str) -> list[str]:
        echo = action if len(action) <= _ECHO_CHARS else action[: _ECHO_CHARS - 3] + "..."
        return [f"> {echo or '(nothing)'}", reply]

    # ----------------------------------------------------------------- observation
    def _state_text(self) -> str:
        """Location, inventory, notebook, status line (and the valid actions when shown)."""
        if self.game is None:
            return ""
        status = f"Score: {self.game.score} of {MAX_SCORE}. Step {self._turn} of {self.max_turns}."
        text = "\n".join([self.game.describe_location(), self.game.inventory_text(), self.game.notebook_text(), status])
        if self.show_valid_actions:
            text += "\nValid actions: " + ("; ".join(self._valid) if self._valid else "(none)")
        return text

    def observation(self) -> str:
        """Instruction, the last ``history_turns`` turns, location, inventory, notebook, status line."""
        recent = self._history[-2 * self.history_turns:] if self.history_turns else []
        parts = [self.instruction(), "\n".join(recent) if self._history else _INTRO, self._state_text()]
        return clean_text("\n\n".join(p for p in parts if p), MAX_OBSERVATION_LENGTH)

    def chat_view(self) -> str:
        """The state after each reply in the chat messages; before the first turn the inspector's words too."""
        return _INTRO + "\n\n" + self._state_text() if self._turn == 0 else self._state_text()

    def observation_from_messages(self, messages) -> str:
        instruction, opening, turns = split_dialogue(messages)
        if not turns:
            return clean_text("\n\n".join(p for p in (instruction, opening) if p), MAX_OBSERVATION_LENGTH)
        lines = [line for action, user in turns for line in self.transcript_lines(action, split_user_message(user)[0])]
        recent = lines[-2 * self.history_turns:] if self.history_turns else []
        parts = [instruction, "\n".join(recent), split_user_message(turns[-1][1])[1]]
        return clean_text("\n\n".join(p for p in parts if p), MAX_OBSERVATION_LENGTH)

    # ----------------------------------------------------------------- Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        obs, info = super().reset(seed=seed, options=options)
        info.update(valid_actions=list(self._valid), score=0, max_score=MAX_SCORE)
        return obs, info

    def valid_actions(self) -> list[str]:
        """Commands that change the game state from here (a copy; empty before reset and after the end)."""
        return list(self._valid)

    @property
    def score(self) -> int:
        return self.game.score if self.game is not None else 0

    @property
    def max_score(self) -> int:
        return MAX_SCORE

    def scripted_policies(self) -> dict[str, Any]:
        from tasks.detective.policies import POLICIES
        return dict(POLICIES)
