"""Every archer-gym env id, registered under the Gymnasium namespace ``archer``.

The registry is data: one :class:`TaskSpec` per id with its entry point (a string, so this module
never imports a task), default kwargs, turn cap and a one-line description. Each task's reference figures (its
scripted expert's and random policy's eval return, on the starts every policy is evaluated on) are measured by
``python -m archer_gym reference`` into ``archer_gym/references.json``; :func:`reference` reads them, and the
expert's mean return is the id's Gymnasium ``reward_threshold``. ``python -m archer_gym reference --check``
measures them again and fails on any difference (a test does so for the quick task).

Gymnasium >= 1.0 has no plugin entry points, so users ``import archer_gym`` first or write
``gym.make("archer_gym:archer/TwentyQuestions-v0")``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym


@dataclass(frozen=True)
class TaskSpec:
    id: str
    entry_point: str
    description: str
    max_turns: int
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: short name used by baselines and oracle prompt templates
    task: str = ""
    nondeterministic: bool = False


SPECS: dict[str, TaskSpec] = {}

#: Written by ``python -m archer_gym reference``; never typed by hand.
REFERENCES_FILE = Path(__file__).with_name("references.json")


@functools.lru_cache(maxsize=1)
def references() -> dict[str, dict]:
    """Every recorded reference: ``{env_id: {"episodes", "seed", "expert": summary, "random": summary}}``
    with each summary's ``mean_return``, ``return_ci95``, ``success_rate`` and ``mean_turns``."""
    return json.loads(REFERENCES_FILE.read_text()) if REFERENCES_FILE.exists() else {}


def reference(env_id: str) -> dict | None:
    """The task's recorded reference figures (see :func:`references`), or None where none are recorded."""
    return references().get(get_spec(env_id).id)


def register_task(spec: TaskSpec) -> None:
    """Register ``spec`` with Gymnasium (idempotent) and remember it in :data:`SPECS`."""
    SPECS[spec.id] = spec
    if spec.id not in gym.registry:
        gym.register(
            id=spec.id,
            entry_point=spec.entry_point,
            kwargs={"max_turns": spec.max_turns, **spec.kwargs},
            nondeterministic=spec.nondeterministic,
            reward_threshold=references().get(spec.id, {}).get("expert", {}).get("mean_return"),
            # The env enforces its own turn cap (truncation); no TimeLimit wrapper on top.
            max_episode_steps=None,
        )


def list_ids() -> list[str]:
    return sorted(SPECS)


def get_spec(env_id: str) -> TaskSpec:
    env_id = env_id.split(":", 1)[-1]
    if env_id not in SPECS:
        raise ValueError(f"unknown env id {env_id!r}; registered ids: {', '.join(list_ids())}")
    return SPECS[env_id]


_TQ = "tasks.twenty_questions.env:TwentyQuestionsEnv"
register_task(TaskSpec(
    id="archer/TwentyQuestions-v0", entry_point=_TQ, max_turns=20, task="twenty_questions",
    description="Twenty Questions on LMRL-Gym's 158 words: find the hidden object with yes/no questions.",
))
register_task(TaskSpec(
    id="archer/TwentyQuestionsSubset-v0", entry_point=_TQ, max_turns=20, task="twenty_questions",
    kwargs={"word_set": "subset"},
    description="Twenty Questions on a 10-word subset (football, dog, banana, ...): the quick benchmark.",
))
register_task(TaskSpec(
    id="archer/GuessMyCity-v0", entry_point="tasks.guess_my_city.env:GuessMyCityEnv", max_turns=20,
    task="guess_my_city",
    description="Guess My City on LMRL-Gym's 100 cities: yes/no and open questions to a local who never says the name.",
))
register_task(TaskSpec(
    id="archer/Detective-v0", entry_point="tasks.detective.env:DetectiveEnv", max_turns=50, task="detective",
    description="A murder-mystery text adventure: explore, find clues, score points; 50 steps.",
))
register_task(TaskSpec(
    id="archer/WebShop-v0", entry_point="tasks.webshop.env:WebShopEnv", max_turns=10, task="webshop",
    description="Shopping from an instruction on a 10,000-product embedded catalog with BM25 search; WebShop's reward.",
))
register_task(TaskSpec(
    id="archer/Wordle-v0", entry_point="tasks.wordle.env:WordleEnv", max_turns=6, task="wordle",
    kwargs={"holdout_fraction": 0.2},
    description="Wordle with LMRL-Gym's feedback and reward: 6 guesses, 2,132 hidden words (426 held out for eval).",
))
_MAZE = "tasks.maze.env:MazeEnv"
register_task(TaskSpec(
    id="archer/Maze-v0", entry_point=_MAZE, max_turns=100, task="maze",
    kwargs={"observed": "full", "goals": "any", "holdout_fraction": 0.2},
    description="LMRL-Gym's double-T maze, fully observed (positions in the text), any start and goal; 130 held out.",
))
register_task(TaskSpec(
    id="archer/MazePO-v0", entry_point=_MAZE, max_turns=100, task="maze_po",
    kwargs={"observed": "partial", "goals": "lmrl", "holdout_fraction": 0.2},
    description="LMRL-Gym's double-T maze, partially observed (only the walls next to you), fixed goal; 5 starts held out.",
))
register_task(TaskSpec(
    id="archer/CarDealer-v0", entry_point="tasks.car_dealer.env:CarDealerEnv", max_turns=10, task="car_dealer",
    kwargs={"holdout_fraction": 0.2},
    description="Sell a car to a scripted buyer with a hidden budget (LMRL-Gym's Car Dealer); reward: the price in $1000s.",
))
register_task(TaskSpec(
    id="archer/ChessEndgame-v0", entry_point="tasks.chess_endgame.env:ChessEndgameEnv", max_turns=100,
    task="chess_endgame", kwargs={"holdout_fraction": 0.2},
    description="LMRL-Gym's chess endgames: mate a lone king with K+Q, K+R, K+Q+R or K+R+R; moves in SAN or UCI.",
))
