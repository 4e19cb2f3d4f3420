"""Env steps per second with the knowledge-base oracle: one env, and a vector of 64 envs stepped together, beside
the limit the same turns would have if the env did nothing but look its reply up.

    python bench/env_throughput.py [--env archer/TwentyQuestions-v0 archer/Wordle-v0 ... | --all] [--steps 5000]

Actions come from a fixed pool per task (questions and guesses; words; moves; commands), so the cost measured is the
env and its oracle, not a policy. Tasks without a pool of their own get the question pool (every str is a legal
turn). WebShop's pool searches the instructions of 200 eval goals, one search every four steps (its expert searches
once in about five), then pages through the results, so its BM25 search is part of the figure.

The limit (``limit`` lines): the same turns replayed by the simplest code that still does a step's visible work, one
dict lookup for the reply (an oracle answer from a table) and the observation built as the previous one plus the
turn's two lines. ``x limit`` is how many times slower the env is than that, for the 64-env figure. Prints figures;
asserts nothing.

To see where a step's time goes (cProfile; py-spy works too where installed):

    python -m cProfile -s tottime bench/env_throughput.py --env archer/TwentyQuestions-v0 | head -40
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
    "guess_my_city": ["Is it in Asia?", "Is it a capital?", "What language do people speak there?", "Is it hot there?",
                      "Is it Paris?", "Is it by the sea?", "How many people live there?", "Is it in Europe?",
                      "Is it Tokyo or Osaka?", "hello"],
    # the expert's commands in the first game (seed 0), then a look and one command that is not understood
    "detective": ["examine doormat", "take brass key", "north", "west", "read burnt letter", "north", "examine body",
                  "unlock desk with brass key", "open desk", "read will", "south", "east", "east", "north",
                  "open dresser", "take torn apron", "south", "open sideboard", "take curtain cord",
                  "examine curtain cord", "look", "dance", "accuse pike"],
}


#: Task name -> reset options, for pools that only make sense from one start (a chess pool needs a known board).
RESET_OPTIONS = {"chess_endgame": {"target": "8/8/8/4k3/8/8/8/R3K3 w - - 0 1"}}


def webshop_pool(goals: int = 200) -> list[str]:
    """Search the first ``goals`` eval goals' instructions (their content words, as the expert searches), then the
    next results page, back, and a new search: one search every four steps."""
    from tasks.webshop.env import load_world
    from tasks.webshop.policies import parse_instruction

    world = load_world()
    pool = []
    for goal_id in world.splits["eval"][:goals]:
        want = parse_instruction(world.goal_by_id[goal_id].instruction)
        query = " ".join(w for w in want.words if w in want.content)
        pool += [f"search[{query}]", "click[Next >]", "click[< Prev]", "click[Back to Search]"]
    return pool


def pool_for(env_id: str) -> list[str]:
    task = archer_gym.get_spec(env_id).task
    return webshop_pool() if task == "webshop" else POOLS.get(task, POOL)


def options_for(env_id: str) -> dict | None:
    return RESET_OPTIONS.get(archer_gym.get_spec(env_id).task)


def single(env_id: str, steps: int, turns: list | None = None) -> float:
    """Steps/s of one env; the turns played (episode head, turn, action, reply) are appended to ``turns``."""
    env = gym.make(env_id)
    options = options_for(env_id)
    obs, _ = env.reset(seed=0, options=options)
    head = obs.split("\n\n", 1)[0] + "\n\n"
    pool = pool_for(env_id)
    played = []
    t = time.perf_counter()
    for i in range(steps):
        action = pool[i % len(pool)]
        _, _, term, trunc, info = env.step(action)
        played.append((head, info["turn"], action, info["reply"]))
        if term or trunc:
            obs, _ = env.reset(options=options)
            head = obs.split("\n\n", 1)[0] + "\n\n"
    rate = steps / (time.perf_counter() - t)
    if turns is not None:
        turns += played
    return rate


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


def limit(turns: list, steps: int, repeats: int = 7) -> float:
    """Steps/s of the simplest code doing a step's visible work for the turns an env played: the reply looked up in
    a dict, and the observation made as the previous one plus the turn's two lines (the episode's first turn starts
    again from the instruction paragraph). A pass over the turns takes about a millisecond, where one preemption of
    a shared machine swings the figure several-fold, so each of ``repeats`` timings plays them 20 times and the
    fastest counts (as ``timeit`` does)."""
    replies = {(k, turn): reply for k, (_, turn, _, reply) in enumerate(turns)}
    keys = [(k, turn) for k, (_, turn, _, _) in enumerate(turns)]
    n, count = len(turns), 20 * steps
    best = float("inf")
    for _ in range(repeats):
        obs = ""
        t = time.perf_counter()
        for i in range(count):
            head, turn, action, _ = turns[i % n]
            reply = replies[keys[i % n]]
            obs = (head if turn == 1 else obs) + f"Q: {action}\nA: {reply}\n"
        best = min(best, time.perf_counter() - t)
    return count / best


def measure(env_id: str = "archer/TwentyQuestions-v0", steps: int = 5000, n: int = 64) -> dict[str, float]:
    turns: list = []
    one = single(env_id, steps, turns)
    many = vector(env_id, steps, n)
    bare = limit(turns, steps)
    return {f"{env_id} steps/s (1 env)": one,
            f"{env_id} steps/s ({n} envs, batched oracle)": many,
            f"{env_id} limit steps/s (dict lookup + observation string)": bare,
            f"{env_id} x limit ({n} envs: times slower than the limit)": bare / many}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", nargs="+", default=["archer/TwentyQuestions-v0"], help="one or more env ids")
    p.add_argument("--all", action="store_true", help="every registered id (overrides --env)")
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--num-envs", type=int, default=64)
    a = p.parse_args(argv)
    for env_id in (archer_gym.list_ids() if a.all else a.env):
        for k, v in measure(env_id, a.steps, a.num_envs).items():
            print(f"{k:<72} {v:>10.1f}" if "x limit" in k else f"{k:<72} {v:>10.0f}")


if __name__ == "__main__":
    main()
