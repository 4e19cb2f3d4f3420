"""Comparison presets, as data: which tasks, methods, seeds and budgets, and each task's settings.

``quick`` runs on a 2-core CPU with the embedded tiny models (its wall-clock from a fresh clone is in the README,
"Comparison"); ``long`` runs ArCHer against PPO for 3,072 trajectories (resumable; 3,018 s on 2 cores at 9d5f5ce,
training seconds per run: ArCHer about 1,120, PPO about 300). Both apply the tuning sweep's winners (``tuned.json``,
from ``baselines/sweep.py``). ``paper`` carries
the ArCHer paper's hyper-parameters (Zhou et al. 2024, Appendix) with GPT-2 actor and RoBERTa critic
by name, for GPU users whose machines have those models.
"""

from __future__ import annotations

import json
from pathlib import Path

#: The winners of ``baselines/sweep.py`` (written by ``--write-tuned``): each method's tuned setting, applied by the
#: CPU presets. Committed, with the command that made it; a missing file means every method's defaults.
TUNED_PATH = Path(__file__).resolve().parent / "tuned.json"


def tuned_algo_args() -> dict[str, dict]:
    if not TUNED_PATH.exists():
        return {}
    return json.loads(TUNED_PATH.read_text())["algo_args"]

TASKS = {
    "twenty_questions_subset": "archer/TwentyQuestionsSubset-v0",
    "twenty_questions": "archer/TwentyQuestions-v0",
    "guess_my_city": "archer/GuessMyCity-v0",
    "detective": "archer/Detective-v0",
    "webshop": "archer/WebShop-v0",
    "wordle": "archer/Wordle-v0",
    "maze": "archer/Maze-v0",
    "maze_po": "archer/MazePO-v0",
    "car_dealer": "archer/CarDealer-v0",
    "chess_endgame": "archer/ChessEndgame-v0",
}



def methods() -> tuple[str, ...]:
    """Every registered algorithm (agents/algos/registry.py), plugins loaded so far included: ``--methods`` choices.
    Imported when asked (it loads torch), so a bad preset or task name fails fast."""
    from agents.algos import names

    return names()


def default_methods() -> list[str]:
    """The methods a preset with ``"methods": None`` runs: the algorithms registered with ``compare=True``."""
    from agents.algos import specs

    return [n for n, s in specs().items() if s.compare]


def gamma_field() -> dict[str, str]:
    """method -> dotted path of its discount factor in its config, for the methods that have one."""
    from agents.algos import specs

    return {n: s.gamma for n, s in specs().items() if s.gamma is not None}


def __getattr__(name: str):
    # METHODS and GAMMA_FIELD are derived from the registry when read, not copies of it.
    if name == "METHODS":
        return methods()
    if name == "GAMMA_FIELD":
        return gamma_field()
    raise AttributeError(f"module 'baselines.presets' has no attribute {name!r}")


#: The ``standard`` preset's budget per task, in trajectories per run (each run of each method and seed), with its
#: curve points (``eval_every``, ``eval_episodes``) and the episodes of the final actors' evaluation. Chosen from
#: per-task costs measured on 2 shared CPU cores (docs/results/standard/BUDGET.md, ``baselines/standard_costs.py``) so
#: that the whole preset (10 tasks x the default methods x 3 seeds, with each task's SFT start and critic warm-up)
#: fits in an afternoon on 2 cores; the projection per task is in BUDGET.md.
#: The turn caps are the registry's (archer_gym/registry.py; not changed here): 20 for the Twenty Questions tasks and
#: GuessMyCity, 50 Detective, 10 WebShop and CarDealer, 6 Wordle, 100 Maze, MazePO and ChessEndgame.
STANDARD_BUDGETS: dict[str, dict[str, int]] = {
    # 128 trajectories is 2 iterations of 64: what the costly tasks afford (every start point builds an SFT actor and
    # a critic warm-up; 27 runs a task); the cheap ones (short episodes) get 256. Curve points at 0, half-way and the
    # end; each final actor and the SFT start again over ``final_episodes`` sampled episodes (the overview's scores).
    # The long-episode tasks (turn cap 100: MazePO, ChessEndgame; 50: Detective) take fewer eval episodes: one of their
    # episodes costs up to 10x a 10-turn task's. BUDGET.md has the measurements and the projection.
    "twenty_questions_subset": {"trajectories": 256, "eval_every": 128, "eval_episodes": 50, "final_episodes": 100},
    "twenty_questions": {"trajectories": 128, "eval_every": 64, "eval_episodes": 50, "final_episodes": 100},
    "guess_my_city": {"trajectories": 128, "eval_every": 64, "eval_episodes": 50, "final_episodes": 100},
    "detective": {"trajectories": 128, "eval_every": 64, "eval_episodes": 20, "final_episodes": 50},
    "webshop": {"trajectories": 128, "eval_every": 64, "eval_episodes": 50, "final_episodes": 100},
    "wordle": {"trajectories": 256, "eval_every": 128, "eval_episodes": 50, "final_episodes": 100},
    "maze": {"trajectories": 128, "eval_every": 64, "eval_episodes": 50, "final_episodes": 100},
    "maze_po": {"trajectories": 128, "eval_every": 64, "eval_episodes": 20, "final_episodes": 50},
    "car_dealer": {"trajectories": 128, "eval_every": 64, "eval_episodes": 50, "final_episodes": 100},
    "chess_endgame": {"trajectories": 128, "eval_every": 64, "eval_episodes": 20, "final_episodes": 50},
}

#: Discount factors as the ArCHer paper used them (Zhou et al. 2024, Appendix: 0.95, Detective 0.98, WebShop 0.9),
#: applied to every method that has one (its registry ``gamma`` field); the tasks the paper did not run (Wordle, the
#: mazes, CarDealer, ChessEndgame: LMRL-Gym's) keep the methods' default, 0.95.
PAPER_GAMMA = {"detective": {"gamma": 0.98}, "webshop": {"gamma": 0.9}}

PRESETS: dict[str, dict] = {
    "quick": {
        "description": "CPU, tiny embedded models, TwentyQuestionsSubset-v0, the default methods, 3 seeds",
        "tasks": ["twenty_questions_subset"],
        "methods": None,  # every algorithm registered with compare=True
        "seeds": [0, 1, 2],
        "trajectories": 512,
        "train": {"rollout_trajectories": 64, "num_envs": 32, "eval_every": 128, "eval_episodes": 100,
                  "actor": "tiny", "critic": "tiny", "device": "cpu"},
        "final_episodes": 500,  # each final actor and the SFT start again over 500 sampled episodes (about 15 s each)
        "algo_args": tuned_algo_args(),
        "task_algo_args": {},
    },
    "long": {
        "description": "CPU, tiny embedded models, TwentyQuestionsSubset-v0, ArCHer against PPO (and the SFT start), "
                       "3 seeds, 3072 trajectories: long enough for the curves to flatten (about 50 minutes on 2 cores, "
                       "resumable)",
        "tasks": ["twenty_questions_subset"],
        "methods": ["archer", "ppo", "bc"],
        "seeds": [0, 1, 2],
        "trajectories": 3072,
        "train": {"rollout_trajectories": 64, "num_envs": 32, "eval_every": 384, "eval_episodes": 100,
                  "actor": "tiny", "critic": "tiny", "device": "cpu"},
        "final_episodes": 1000,
        "algo_args": tuned_algo_args(),
        "task_algo_args": {},
    },
    "paper": {
        "description": "GPU, GPT-2 actor + RoBERTa critic by name, the paper's per-task hyper-parameters",
        "tasks": ["twenty_questions", "guess_my_city", "detective", "webshop"],
        "methods": None,  # every algorithm registered with compare=True
        "seeds": [0, 1, 2],
        "trajectories": 20_000,
        "train": {"rollout_trajectories": 128, "num_envs": 128, "eval_every": 1024, "eval_episodes": 200,
                  "actor": "gpt2", "critic": "roberta-base", "device": "cuda"},
        "final_episodes": 1000,
        # 50 critic and 3 actor steps per iteration, batch 256, Polyak tau, 10-20 warm-up iterations.
        "algo_args": {
            "archer": {"advantage": "q", "critic_updates": 50, "actor_updates": 3, "batch_size": 256, "actor_batch_size": 256,
                       "tau": 0.1, "warmup_iterations": 10, "critic_lr": 2e-5, "actor_lr": 1e-5},
            "archer_baseline": {"advantage": "q", "critic_updates": 50, "actor_updates": 3, "batch_size": 256,
                                "actor_batch_size": 256, "tau": 0.1, "warmup_iterations": 10,
                                "critic_lr": 2e-5, "actor_lr": 1e-5},
            "chai": {"critic.critic_updates": 50, "critic.batch_size": 256, "critic.critic_lr": 2e-5},
            "ppo": {"lr": 1e-5, "minibatch_size": 256},
            "filtered_bc": {"lr": 1e-5},
        },
        # gamma 0.95 everywhere but Detective 0.98 and WebShop 0.9; WebShop collects 512 per iteration.
        "task_algo_args": PAPER_GAMMA,
        "task_train": {"webshop": {"rollout_trajectories": 512}},
    },
    "standard": {
        "description": "CPU, tiny embedded models, every registered task, the default methods, 3 seeds, a budget per "
                       "task (STANDARD_BUDGETS) so the whole fits in an afternoon on 2 cores; resumable and runnable "
                       "in pieces (--resume [--tasks ...]); summary.md starts with the overview of normalised scores",
        "tasks": list(TASKS),
        "methods": None,  # every algorithm registered with compare=True
        "seeds": [0, 1, 2],
        "trajectories": 512,  # a task missing from STANDARD_BUDGETS gets the quick preset's budget
        "task_trajectories": {t: b["trajectories"] for t, b in STANDARD_BUDGETS.items()},
        "train": {"rollout_trajectories": 64, "num_envs": 32, "eval_every": 128, "eval_episodes": 100,
                  "actor": "tiny", "critic": "tiny", "device": "cpu"},
        "task_train": {t: {"eval_every": b["eval_every"], "eval_episodes": b["eval_episodes"]}
                       for t, b in STANDARD_BUDGETS.items()},
        "final_episodes": 200,
        "task_final_episodes": {t: b["final_episodes"] for t, b in STANDARD_BUDGETS.items()},
        "algo_args": tuned_algo_args(),  # tuned on TwentyQuestionsSubset (baselines/sweep.py): not per task
        "task_algo_args": PAPER_GAMMA,
        "overview": True,  # summary.md: the overview table, one panel per task, settings and provenance
    },
}

