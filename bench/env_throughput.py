"""Env steps per second with the knowledge-base oracle: one env, and a vector of 64 envs stepped together.

    python bench/env_throughput.py [--env archer/TwentyQuestions-v0 archer/Wordle-v0 ...] [--steps 5000]

Actions come from a fixed pool per task (questions and guesses; words; moves), so the cost measured is the
env and its oracle, not a policy. Tasks without a pool of their own get the question pool (every str is a
legal turn). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gymnasium as gym  # noqa: E402

import archer_gym  # noqa: E402,F401
from archer_gym import make_vec  # noqa: E402

POOL = ["Is it alive?", "Can you eat it?", "Is it a fruit?", "Is it bigger than a breadbox?", "Is it a dog?",
        "Does it use electricity?", "Is it made of metal?", "Is it a vehicle?", "Is it a piano?", "hello"]

#: Task name (``TaskSpec.task``) -> its action pool: mostly valid moves, one of each kind of invalid text.
POOLS = {
    "wordle": ["raise", "crane", "apple", "lymph", "hello world", "tined", "bevel", "fiver", "zzzzz", "black"],
    "maze": ["move up", "move down", "move left", "move right", "move down", "move right", "fly", "move down"],
    "car_dealer": ["What would you like?", "An SUV for $150,000.", "A sedan for $40,000.", "deal", "hello",
                   "A Toyota truck with sunroof for $30,000.", "$45,000", "What brand?"],
    # KR vs K (the target below): rook and king moves, a UCI move, one illegal move, one non-move
    "chess_endgame": ["Ra4", "Kd2", "Ra5+", "d2e2", "Ra8", "Kh8", "hello", "Ke1", "Ra1"],
    "maze_po": ["move up", "move down", "move left", "move right", "move down", "move right", "fly", "move down"],
}


#: Task name -> reset options, for pools that only make sense from one start (a chess pool needs a known board).
RESET_OPTIONS = {"chess_endgame": {"target": "8/8/8/4k3/8/8/8/R3K3 w - - 0 1"}}


def pool_for(env_id: str) -> list[str]:
    return POOLS.get(archer_gym.get_spec(env_id).task, POOL)


def options_for(env_id: str) -> dict | None:
    return RESET_OPTIONS.get(archer_gym.get_spec(env_id).task)


def single(env_id: str, steps: int) -> float:
    env = gym.make(env_id)
    options = options_for(env_id)
    env.reset(seed=0, options=options)
    pool = pool_for(env_id)
    t = time.perf_counter()
    for i in range(steps):
        _, _, term, trunc, _ = env.step(pool[i % len(pool)])
        if term or trunc:
            env.reset(options=options)
    return steps / (time.perf_counter() - t)


def vector(env_id: str, steps: int, n: int) -> float:
    venv = make_vec(env_id, n)
    options = options_for(env_id)
    venv.reset(seed=0, options=None if options is None else [options] * n)
    pool = pool_for(env_id)
    t = time.perf_counter()
    done_steps, i = 0, 0
    while done_steps < steps:
        res = venv.step([pool[(i + k) % len(pool)] for k in range(n)])
        for k, (_, _, term, trunc, _) in enumerate(res):
            if term or trunc:
                venv.reset_one(k, options=options)
        done_steps += n
        i += 1
    return done_steps / (time.perf_counter() - t)


def measure(env_id: str = "archer/TwentyQuestions-v0", steps: int = 5000, n: int = 64) -> dict[str, float]:
    return {f"{env_id} steps/s (1 env)": single(env_id, steps),
            f"{env_id} steps/s ({n} envs, batched oracle)": vector(env_id, steps, n)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", nargs="+", default=["archer/TwentyQuestions-v0"], help="one or more env ids")
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--num-envs", type=int, default=64)
    a = p.parse_args(argv)
    for env_id in a.env:
        for k, v in measure(env_id, a.steps, a.num_envs).items():
            print(f"{k:<70} {v:>10.0f}")


if __name__ == "__main__":
    main()
