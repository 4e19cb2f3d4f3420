"""archer/Maze-v0 and archer/MazePO-v0: layout, moves, LMRL-Gym's reward, observations, splits, the experts."""

import gymnasium as gym
import numpy as np
import pytest

import archer_gym  # noqa: F401
from archer_gym.evaluation import run_episode, scripted_policy
from tasks.maze.env import parse_move
from tasks.maze.layout import LMRL_GOAL, OPEN, describe_walls, distances, step
from tasks.maze.policies import belief


def test_layout_is_lmrl_double_t():
    assert len(OPEN) == 26 and LMRL_GOAL == (8, 6)
    assert describe_walls((1, 1)) == "There are walls to your left, above you, below you."
    assert describe_walls((5, 6)) == "There is a wall above you."
    assert describe_walls((5, 5)) == "There are walls above you, below you."
    d = distances(LMRL_GOAL)  # by hand: (1,1) -> right 2, down 4, right 3, down 3 = 12
    assert (d[(1, 1)], d[(1, 11)], d[(5, 6)], d[(7, 6)]) == (12, 12, 3, 1)
    assert step((1, 1), "up") == (1, 1) and step((1, 1), "right") == (1, 2)


@pytest.mark.parametrize("text, move", [("move up", "up"), ("Move Down.", "down"), (" left ", "left"),
                                        ("move  right!", "right"), ("move", None), ("go up", None),
                                        ("move up now", None), ("", None), ("upward", None)])
def test_parse_move(text, move):
    assert parse_move(text) == move


def test_rewards_are_lmrl_standard_reward():
    env = gym.make("archer/Maze-v0")
    env.reset(seed=0, options={"target": "5,6->8,6"})
    assert env.step("move up")[1:4] == (-1.0, False, False)          # into a wall: a move that costs 1
    _, r, term, trunc, info = env.step("fly to the goal")               # not a move: LMRL-Gym's -4
    assert (r, term, info["invalid_action"], info["moved"], info["position"]) == (-4.0, False, True, False, (5, 6))
    assert env.step("move down")[1] == -1.0 and env.step("down")[1] == -1.0
    _, r, term, trunc, info = env.step("move down")
    assert (r, term, trunc, info["success"]) == (0.0, True, False, True)
    assert info["episode"] == {"return": -7.0, "length": 5, "success": True, "target": "5,6->8,6"}


def test_turn_cap_truncates():
    env = gym.make("archer/MazePO-v0", max_turns=3)
    env.reset(seed=0, options={"target": "1,1->8,6"})
    outs = [env.step("move up") for _ in range(3)]
    assert [o[2:4] for o in outs] == [(False, False), (False, False), (False, True)]
    assert outs[-1][4]["episode"]["return"] == -3.0


def test_fully_observed_text_gives_positions_and_partial_only_walls():
    full = gym.make("archer/Maze-v0")
    obs, _ = full.reset(seed=0, options={"target": "1,1->8,6"})
    assert obs.endswith("The goal is at position 8, 6. Your current position is at position 1, 1. "
                        "There are walls to your left, above you, below you.\n")
    part = gym.make("archer/MazePO-v0")
    obs, _ = part.reset(seed=0, options={"target": "1,1->8,6"})
    obs, *_ = part.step("move right")
    assert obs.endswith("\n\nThere are walls to your left, above you, below you.\n> move right\n"
                        "There are walls above you, below you.\n")
    assert "position" not in obs.split("\n\n", 1)[1]


def test_splits_hold_out_targets():
    for env_id, n_train, n_eval in (("archer/Maze-v0", 520, 130), ("archer/MazePO-v0", 20, 5)):
        tr = gym.make(env_id, split="train").unwrapped.targets
        ev = gym.make(env_id, split="eval").unwrapped.targets
        assert (len(tr), len(ev)) == (n_train, n_eval) and not set(tr) & set(ev)
    assert all(t.endswith("->8,6") for t in gym.make("archer/MazePO-v0").unwrapped.all_targets)


def test_bad_arguments_and_targets_name_the_fix():
    with pytest.raises(ValueError, match="goals='any' needs observed='full'"):
        gym.make("archer/MazePO-v0", goals="any")
    with pytest.raises(ValueError, match="is not 'row,col->row,col'"):
        gym.make("archer/Maze-v0").reset(options={"target": "start"})
    with pytest.raises(ValueError, match="distinct open cells and the goal"):
        gym.make("archer/MazePO-v0").reset(options={"target": "1,1->1,2"})


@pytest.mark.parametrize("env_id", ["archer/Maze-v0", "archer/MazePO-v0"])
def test_expert_reaches_the_goal_from_every_start(env_id):
    env = gym.make(env_id, goals="lmrl", holdout_fraction=0.0)
    extra = []
    for target in env.unwrapped.targets:
        ep = run_episode(env, scripted_policy(env, "expert", None), seed=0, options={"target": target})
        start = tuple(map(int, target.split("->")[0].split(",")))
        assert ep.success, target
        extra.append(ep.length - distances(LMRL_GOAL)[start])
    if env_id == "archer/Maze-v0":
        assert set(extra) == {0}  # shortest paths
    else:  # localising costs a few moves from the starts whose walls look alike (measured: 4 starts, 2-4 moves)
        assert sum(extra) == 10 and max(extra) == 4


def test_partial_expert_belief_narrows_to_the_true_cell():
    env = gym.make("archer/MazePO-v0")
    obs, _ = env.reset(seed=0, options={"target": "5,5->8,6"})
    assert belief(obs) == {p for p in OPEN if p != LMRL_GOAL and describe_walls(p) == describe_walls((5, 5))}
    for move in ("move left", "move left"):
        obs, *_ = env.step(move)
    assert belief(obs) == {(5, 3)}


def test_expert_is_far_above_random():
    for env_id in ("archer/Maze-v0", "archer/MazePO-v0"):
        env = gym.make(env_id, split="eval")
        rng = np.random.default_rng(0)
        ret = {name: np.mean([run_episode(env, scripted_policy(env, name, rng), seed=0 if i == 0 else None).ret
                              for i in range(10)]) for name in ("expert", "random")}
        assert ret["expert"] > -12 and ret["random"] < ret["expert"] - 20, (env_id, ret)
