"""archer/Maze-v0 and archer/MazePO-v0: LMRL-Gym's maze, fully and partially observed, moves as text."""

from __future__ import annotations

import re
from typing import Any

from archer_gym.chat import split_dialogue, window_from_messages
from archer_gym.env import (MAX_OBSERVATION_LENGTH, StepResult, TextGameEnv, clean_text, fit_observation,
                            window_observation)
from tasks.maze.layout import LMRL_GOAL, MOVES, OPEN, Pos, describe_walls, fmt, step

OBSERVED = ("full", "partial")
GOALS = ("lmrl", "any")
#: LMRL-Gym's ``standard_reward``: reaching the goal 0, any other move -1, text that is not a move -4.
REWARD_GOAL, REWARD_MOVE, REWARD_INVALID = 0.0, -1.0, -4.0
INVALID_REPLY = "That is not a move (say move up, move down, move left or move right)."
SUCCESS_REPLY = "Success! You reached the goal."
_ECHO_CHARS = 60
_NOT_WORD = re.compile(r"[^a-z ]+")


def parse_move(action: str) -> str | None:
    """``"move up"``, ``"up"`` or ``"Move Up."`` -> ``"up"``; anything else -> None."""
    words = _NOT_WORD.sub(" ", action.lower()).split()
    if len(words) == 2 and words[0] == "move":
        words = words[1:]
    return words[0] if len(words) == 1 and words[0] in MOVES else None


def target_name(start: Pos, goal: Pos) -> str:
    return f"{start[0]},{start[1]}->{goal[0]},{goal[1]}"


def parse_target(name: str) -> tuple[Pos, Pos]:
    m = re.fullmatch(r"\(?(\d+),(\d+)\)?->\(?(\d+),(\d+)\)?", re.sub(r"\s+", "", str(name)))
    if m is None:
        raise ValueError(f"target {name!r} is not 'row,col->row,col' (start, then goal), e.g. '1,1->8,6'.")
    r0, c0, r1, c1 = map(int, m.groups())
    return (r0, c0), (r1, c1)


class MazeEnv(TextGameEnv):
    """Walk a maze to its goal with text moves: LMRL-Gym's Maze, fully or partially observed.

    ## Description
    The maze is LMRL-Gym's double-T layout (10 rows by 13 columns, 26 open cells; ``layout.py`` draws it). Each
    turn the agent says a move; walls stop it. Fully observed (``observed="full"``, ``archer/Maze-v0``) the text
    gives the goal's and the agent's positions and the walls around it, so the last line alone decides the
    best move. Partially observed (``observed="partial"``, ``archer/MazePO-v0``) the text gives only the walls
    around the agent after each move: the agent must work out where it is from the history of moves and walls,
    and learn where the goal is (it is LMRL-Gym's fixed goal, row 8 column 6).

    ## Action Space
    ``Text(max_length=500)``: ``move up``, ``move down``, ``move left`` or ``move right`` (the word ``move``,
    case and punctuation are optional: ``"Up."`` is ``move up``). Any ``str`` is a legal turn: other text leaves
    the agent where it is, costs -4 (LMRL-Gym's penalty) and sets ``info["invalid_action"]``. A move into a wall
    is a valid move that leaves the agent where it is. A non-``str`` raises ``TypeError``.

    ## Observation Space
    ``Text(max_length=20000)``. Fully observed: the instruction, the last ``history_turns`` turns, and the
    state line::

        Find the goal in the maze. ...

        > move right
        There are walls above you, below you.
        The goal is at position 8, 6. Your current position is at position 1, 2. There are walls above you, below you.

    Partially observed: the instruction, the walls at the start, then every turn (``> move`` and the walls
    after it); the oldest turns give way to a marker line past 20,000 characters::

        Find the goal in the maze. ...

        There are walls to your left, above you, below you.
        > move right
        There are walls above you, below you.

    ## Starting State
    A target is a start and a goal, named ``"row,col->row,col"``. With ``goals="lmrl"`` the goal is LMRL-Gym's
    (8, 6) and the 25 other open cells are the starts; with ``goals="any"`` every ordered pair of distinct open
    cells is a target (650). ``reset(seed=s)`` draws one from the split's targets; the eval split walks a fixed
    seeded sequence; ``reset(options={"target": "1,1->8,6"})`` picks one.

    ## Rewards
    LMRL-Gym's ``standard_reward``: 0 for the move that reaches the goal, -1 for any other move (into a wall
    too), -4 for text that is not a move. An optimal walk of ``d`` moves returns ``-(d - 1)``.

    ## Episode End
    Terminated when the agent reaches the goal (success). Truncated after ``max_turns`` turns (100, LMRL-Gym's
    ``max_steps``).

    ## Information
    - ``turn`` (int), ``success`` (bool: the goal was reached on this turn).
    - ``reply`` (str): the walls after the move, the success line, or why the text was not a move.
    - ``invalid_action`` (bool): the text was not a move, or was empty, cut or mapped; the turn still counted.
    - ``move`` (str): the move read (``"up"``, ...; ``""`` if none); ``moved`` (bool): the position changed.
    - ``position`` (tuple[int, int]): the agent's cell after the turn, for analysis (a partially observed agent
      must not be shown it).
    - ``episode`` (dict, at episode end only): ``return``, ``length``, ``success``, ``target``.
    - ``messages`` (list[dict], every step and reset): the whole episode as OpenAI chat messages (system: the
      instruction; assistant: the moves as read; user: the reply). Fully observed, a first user message holds the
      state line and every user message is the reply, a blank line, then the state line after the move; partially
      observed, a first user message holds the walls at the start. See :mod:`archer_gym.chat`.

    ## Arguments
    - ``observed``: ``"full"`` or ``"partial"``.
    - ``goals``: ``"lmrl"`` (LMRL-Gym's fixed goal) or ``"any"`` (every cell; fully observed only, since a
      partially observed agent is never told the goal).
    - ``split``, ``holdout_fraction``: the fraction of targets kept for eval only (0.2 in the registry: 130
      start-goal pairs of ``Maze-v0`` and 5 starts of ``MazePO-v0`` never trained on).
    - ``max_turns``: turn cap (100); ``history_turns``: recent turns the fully observed text shows (2).
    - ``oracle``: must be None (the maze answers by itself). ``render_mode``: ``"ansi"``, ``"human"`` or None.

    ## References
    - Abdulhai et al., "LMRL Gym: Benchmarks for Multi-Turn Reinforcement Learning with Language Models", 2023
      (the maze, its two observations, its reward and step cap).
    - X. Zuo, mazelab (the double-T layout LMRL-Gym took).

    ## Version History
    - v0: initial release (double-T maze, LMRL-Gym's standard reward, 100 turns).
    """

    def __init__(self, *, observed: str = "full", goals: str = "lmrl", split: str = "train",
                 holdout_fraction: float = 0.0, max_turns: int = 100, history_turns: int = 2,
                 oracle: None = None, render_mode: str | None = None, max_action_length: int = 500):
        if observed not in OBSERVED:
            raise ValueError(f"observed={observed!r}; choose one of {list(OBSERVED)}.")
        if goals not in GOALS:
            raise ValueError(f"goals={goals!r}; choose one of {list(GOALS)}.")
        if observed == "partial" and goals != "lmrl":
            raise ValueError("goals='any' needs observed='full': the partially observed maze never shows the goal, "
                             "so only LMRL-Gym's fixed goal can be learned; pass goals='lmrl'.")
        if oracle is not None:
            raise ValueError(f"oracle={oracle!r}: the maze answers by itself; pass oracle=None.")
        if not isinstance(history_turns, int) or history_turns < 0:
            raise ValueError(f"history_turns={history_turns!r} must be an int >= 0.")
        self.observed, self.goals, self.history_turns = observed, goals, history_turns
        goal_cells = [LMRL_GOAL] if goals == "lmrl" else list(OPEN)
        self.all_targets = tuple(target_name(s, g) for g in goal_cells for s in OPEN if s != g)
        super().__init__(split=split, holdout_fraction=holdout_fraction, max_turns=max_turns, oracle=None,
                         render_mode=render_mode, max_action_length=max_action_length)
        self.position: Pos = OPEN[0]
        self.goal: Pos = LMRL_GOAL

    # ----------------------------------------------------------------- task hooks
    def instruction(self) -> str:
        what = ("Each turn you are told your position, the goal's position and the walls next to you."
                if self.observed == "full" else
                "You are not told where you are: after each move you are told only the walls next to you.")
        return ("Find the goal in the maze. Positions are row, column; row 0 is the top. Move with move up, move "
                f"down, move left or move right. {what} Every move costs 1 and text that is not a move costs 4; "
                f"you have {self.max_turns} turns.")

    def resolve_target(self, name: str) -> str:
        start, goal = parse_target(name)
        canonical = target_name(start, goal)
        if canonical not in self.all_targets:
            raise ValueError(f"unknown target {name!r} for goals={self.goals!r}: the start and goal must be distinct "
                             f"open cells{' and the goal (8, 6)' if self.goals == 'lmrl' else ''}; "
                             f"valid targets: {list(self.all_targets)}")
        return canonical

    def _on_reset(self, target: str) -> None:
        self.position, self.goal = parse_target(target)
        if self.observed == "partial":
            self._history.append(describe_walls(self.position))

    def _request(self, action: str) -> None:
        return None

    def _apply(self, action: str, reply: str | None) -> StepResult:
        move = parse_move(action)
        before = self.position
        if move is not None:
            self.position = step(self.position, move)
        success = self.position == self.goal
        if success:
            reward, text = REWARD_GOAL, SUCCESS_REPLY
        elif move is None:
            reward, text = REWARD_INVALID, f"{INVALID_REPLY} {describe_walls(self.position)}"
        else:
            reward, text = REWARD_MOVE, describe_walls(self.position)
        return StepResult(reward=reward, terminated=success, success=success, reply=text,
                          history_lines=self.transcript_lines(action, text),
                          info={"invalid_action": move is None, "move": move or "", "moved": self.position != before,
                                "position": self.position})

    def transcript_lines(self, action: str, reply: str) -> list[str]:
        """``> move <m>`` for a move (however it was said), else the text cut to 60 characters; then the reply."""
        move = parse_move(action)
        echo = f"move {move}" if move else ((action[:_ECHO_CHARS] + ("..." if len(action) > _ECHO_CHARS else ""))
                                            or "(nothing)")
        return [f"> {echo}", reply]

    def state_line(self) -> str:
        """The fully observed state: the goal, the agent's position and the walls next to it (LMRL-Gym's text)."""
        return (f"The goal is at position {fmt(self.goal)}. Your current position is at position "
                f"{fmt(self.position)}. {describe_walls(self.position)}")

    def observation(self) -> str:
        if self.observed == "partial":
            return super().observation()
        recent = self._history[-2 * self.history_turns:] if self.history_turns else []
        return window_observation(self.instruction(), recent, self.state_line())

    def chat_view(self) -> str:
        """Fully observed: the state line, after every reply in the chat messages and alone before the first turn.
        Partially observed: the walls at the start, alone before the first turn (each reply holds the walls
        after the move, so there is nothing to add)."""
        if self.observed == "full":
            return self.state_line()
        return describe_walls(self.position) if self._turn == 0 else ""

    def observation_from_messages(self, messages) -> str:
        if self.observed == "partial":  # the walls at the start, then the transcript (base observation)
            instruction, opening, turns = split_dialogue(messages)
            head = clean_text(instruction + "\n\n", MAX_OBSERVATION_LENGTH)
            lines = [opening or ""] + [line for action, reply in turns for line in self.transcript_lines(action, reply)]
            return fit_observation(head, [clean_text(line, MAX_OBSERVATION_LENGTH) + "\n" for line in lines])
        return window_observation(*window_from_messages(messages, self.transcript_lines, self.history_turns))

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        obs, info = super().reset(seed=seed, options=options)
        info.update(move="", moved=False, position=self.position)
        return obs, info

    def scripted_policies(self) -> dict[str, Any]:
        from tasks.maze.policies import POLICIES
        return dict(POLICIES)
