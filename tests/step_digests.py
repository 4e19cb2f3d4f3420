"""Digests of what every registered env returns, step by step, for fixed seeds and actions: the pin that a change
made for speed (issue 19) leaves every observation, reward, termination, truncation and info byte-identical.

A case plays an env (or a small vector of envs) with a scripted policy or a fixed list of actions and hashes the
``repr`` of each ``(observation, reward, terminated, truncated, info)`` in order, resets included. The recorded
digests live in ``tests/data/step_digests.json``, written by this script at the commit whose behaviour is the
reference::

    PYTHONPATH=<tree to record> python tests/step_digests.py --write

(run by path from outside the tree, so that ``archer_gym`` comes from ``PYTHONPATH``). ``tests/test_step_digests.py``
plays the same cases on the code under test and compares. A case that differs on purpose (an env whose behaviour is
meant to change) is recorded again with ``--write --only CASE``, and the commit says why.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import gymnasium as gym
import numpy as np

import archer_gym
from archer_gym import make_vec
from archer_gym.evaluation import scripted_policy

FIXTURE = Path(__file__).resolve().parent / "data" / "step_digests.json"

#: Actions any env takes (every str is a legal turn): questions, guesses, words, moves, offers, commands, chess
#: moves, WebShop's actions, and text that stresses the cleaning (empty, a blank line inside, unicode, over-long,
#: brackets, a format string).
MIXED_ACTIONS = [
    "Is it alive?", "Is it a dog?", "Is it in Asia?", "Is it Paris?", "What language do people speak there?",
    "raise", "crane", "move up", "move right", "fly", "An SUV for $150,000.", "deal", "$45,000", "look",
    "go north", "take knife", "search[red running shoes]", "click[b000000001]", "click[Next >]", "click[buy now]",
    "Ra4", "Kd2", "e2e4", "", "look\n\naround", "caf\u00e9 \u4f60\u597d \u2019quoted\u2019?", "x" * 900, "none",
    "search[{}]", "click[ Next > ]", "hello",
]

#: Envs where a long episode goes past the observation's 20,000 characters (the cut that keeps the instruction and
#: the newest turns): id, env kwargs, action(turn) or a scripted policy name, turns.
LONG_CASES = {
    "long/TwentyQuestions-v0": ("archer/TwentyQuestions-v0", {"max_turns": 60},
                                lambda i: f"Is it number {i}? " + "very " * 90),
    "long/GuessMyCity-v0": ("archer/GuessMyCity-v0", {"max_turns": 60},
                            lambda i: f"Is it by the sea {i}? " + "really " * 70),
    "long/MazePO-v0": ("archer/MazePO-v0", {"max_turns": 500}, lambda i: ("move up", "move down", "say hi")[i % 3]),
}


class _Digest:
    def __init__(self):
        self.h = hashlib.sha256()
        self.steps = 0

    def add(self, *values) -> None:
        self.h.update(repr(values).encode())
        self.h.update(b"\x00")
        self.steps += 1

    def result(self) -> dict:
        return {"steps": self.steps, "sha256": self.h.hexdigest()}


def _policy_case(env_id: str, policy: str, seed: int, split: str) -> dict:
    env = gym.make(env_id, split=split)
    policy_fn = scripted_policy(env, policy, np.random.default_rng(seed))
    d = _Digest()
    for episode in range(2):  # a second episode from the same env object: what reset leaves behind matters too
        obs, info = env.reset(seed=seed if episode == 0 else None)
        d.add(obs, info)
        while True:
            obs, r, term, trunc, info = env.step(policy_fn(obs))
            d.add(obs, r, term, trunc, info)
            if term or trunc:
                break
    return d.result()


def _vector_case(env_id: str, num_envs: int = 3, steps: int = 40) -> dict:
    venv = make_vec(env_id, num_envs)
    d = _Digest()
    obs, infos = venv.reset(seed=7)
    d.add(obs, infos)
    for i in range(steps):
        # one env sits out every third step (None): the vector's skip path
        actions = [None if (i + k) % 3 == 2 else MIXED_ACTIONS[(5 * i + 3 * k) % len(MIXED_ACTIONS)]
                   for k in range(num_envs)]
        results = venv.step(actions)
        d.add(results)
        for k, res in enumerate(results):
            if res is not None and (res[2] or res[3]):
                d.add(venv.reset_one(k))
    return d.result()


def _long_case(name: str) -> dict:
    env_id, kwargs, how = LONG_CASES[name]
    env = gym.make(env_id, **kwargs)
    policy_fn = scripted_policy(env, how, np.random.default_rng(0)) if isinstance(how, str) else None
    d = _Digest()
    obs, info = env.reset(seed=0)
    d.add(obs, info)
    for i in range(kwargs["max_turns"]):
        obs, r, term, trunc, info = env.step(policy_fn(obs) if policy_fn else how(i))
        d.add(obs, r, term, trunc, info)
        if term or trunc:
            break
    return d.result()


def case_names() -> list[str]:
    names = []
    for env_id in archer_gym.list_ids():
        if not archer_gym.get_spec(env_id).entry_point.startswith("tasks."):
            continue  # a test's toy task registered in the same session
        for seed in (0, 1):
            names += [f"{env_id}|expert|{seed}|train", f"{env_id}|random|{seed}|train"]
        names += [f"{env_id}|expert|2|eval", f"{env_id}|random|2|eval", f"{env_id}|vector"]
    return names + sorted(LONG_CASES)


def run_case(name: str) -> dict:
    if name in LONG_CASES:
        return _long_case(name)
    parts = name.split("|")
    if parts[1] == "vector":
        return _vector_case(parts[0])
    env_id, policy, seed, split = parts
    return _policy_case(env_id, policy, int(seed), split)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--write", action="store_true", help="record the digests into tests/data/step_digests.json")
    p.add_argument("--only", nargs="+", help="these cases only (with --write: record them again, keep the rest)")
    a = p.parse_args(argv)
    names = a.only or case_names()
    got = {n: run_case(n) for n in names}
    if a.write:
        old = json.loads(FIXTURE.read_text()) if FIXTURE.exists() and a.only else {}
        FIXTURE.parent.mkdir(exist_ok=True)
        FIXTURE.write_text(json.dumps({**old, **got}, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(got)} cases to {FIXTURE} (archer_gym from {Path(archer_gym.__file__).parent})")
    else:
        want = json.loads(FIXTURE.read_text())
        bad = [n for n in names if want.get(n) != got[n]]
        print(f"{len(names) - len(bad)} of {len(names)} cases as recorded" + (f"; differ: {bad}" if bad else ""))


if __name__ == "__main__":
    main()
