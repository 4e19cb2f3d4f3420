"""archer/Detective-v0: env contract, parser, scoring, walkthroughs for every case, scripted policies."""

import pickle
import re

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archer_gym  # noqa: F401  (registers archer/*)
from archer_gym.evaluation import run_episode, scripted_policy
from tasks.detective.engine import Game, normalize
from tasks.detective.env import DetectiveEnv
from tasks.detective.policies import POLICIES, make_policy
from tasks.detective.world import MAX_SCORE, SCORES, VARIANTS

CASES = sorted(VARIANTS)

#: Hand-written walkthroughs (independent of the expert policy), one per case, using varied synonyms.
_OPENING = ["look under the mat", "get the key", "n", "go west", "read letter", "north", "examine body",
            "unlock desk with brass key", "open desk", "read the will"]
WALKTHROUGHS = {
    "clara": _OPENING + ["s", "e", "u", "e", "open wardrobe", "take glove", "w", "d", "e", "n", "n", "e",
                         "open seed box", "pick up vial", "x vial", "accuse Clara Harrow"],
    "greaves": _OPENING + ["s", "e", "up", "w", "open trunk", "take cuff", "e", "down", "e", "n", "n", "w",
                           "open chest", "take candlestick", "examine the candlestick", "arrest the butler"],
    "fenn": _OPENING + ["s", "e", "e", "n", "n", "w", "open locker", "take boots", "e", "s", "e",
                        "open flour bin", "grab knife", "inspect knife", "accuse tom fenn of murder"],
    "pike": _OPENING + ["s", "e", "e", "open sideboard", "take cord", "examine cord", "n", "open dresser",
                        "take apron", "accuse mrs. pike"],
}


def make(**kwargs) -> DetectiveEnv:
    return gym.make("archer/Detective-v0", **kwargs).unwrapped


def play(env, commands):
    total, out = 0.0, None
    for c in commands:
        out = env.step(c)
        total += out[1]
    return total, out


def test_check_env():
    check_env(make(), skip_render_check=True)


def test_registered_spec():
    env = gym.make("archer/Detective-v0")
    assert env.unwrapped.max_turns == 50 and isinstance(env.unwrapped, DetectiveEnv)
    assert MAX_SCORE == sum(SCORES.values()) == 100


@pytest.mark.parametrize("case", CASES)
def test_walkthrough_reaches_max_score(case):
    env = make()
    env.reset(options={"target": case})
    total, (obs, r, term, trunc, info) = play(env, WALKTHROUGHS[case])
    assert total == MAX_SCORE == info["score"] == info["max_score"]
    assert term and not trunc and info["success"] and r == SCORES["accusation"]
    assert info["episode"] == {"return": 100.0, "length": len(WALKTHROUGHS[case]), "success": True, "target": case}
    assert info["valid_actions"] == []


@pytest.mark.parametrize("case", CASES)
def test_expert_reaches_max_score_well_inside_cap(case):
    env = make()
    obs, _ = env.reset(seed=0, options={"target": case})
    policy = make_policy("expert", env)
    for _ in range(30):
        obs, r, term, trunc, info = env.step(policy(obs))
        if term or trunc:
            break
    assert term and info["success"] and info["score"] == MAX_SCORE and info["turn"] <= 30


def run_random(seed, steps=50, **kwargs):
    env = make(**kwargs)
    obs, info = env.reset(seed=seed)
    policy = make_policy("random", env, rng=seed)
    trace = [(obs, info)]
    for _ in range(steps):
        out = env.step(policy(obs))
        obs = out[0]
        trace.append(out)
        if out[2] or out[3]:
            break
    return trace


def test_same_seed_same_episode():
    assert run_random(7) == run_random(7)
    assert run_random(7) != run_random(8)


def test_seeds_pick_every_case_and_options_target_wins():
    env = make()
    seen = set()
    for s in range(40):
        env.reset(seed=s)
        seen.add(env.target)
    assert seen == set(CASES)
    env.reset(seed=3, options={"target": "PIKE"})
    assert env.target == "pike"
    with pytest.raises(ValueError, match="valid targets"):
        env.reset(options={"target": "the inspector"})


def test_splits_cover_all_cases_and_holdout_is_disjoint():
    assert sorted(make(split="train").targets) == sorted(make(split="eval").targets) == CASES
    ev = make(split="eval")
    order = []
    for i in range(8):
        ev.reset(seed=0 if i == 0 else None)
        order.append(ev.target)
    assert sorted(order[:4]) == CASES and order[:4] == order[4:]
    tr, te = make(split="train", holdout_fraction=0.25), make(split="eval", holdout_fraction=0.25)
    assert set(tr.targets).isdisjoint(te.targets) and sorted(tr.targets + te.targets) == CASES


NASTY = ["", " ", "x" * 10_000, "\x00\x01\x02\x7f\x1b[31m", "!!!???...;;;", "東京 🎉 Ünïcödé", "\n\n\n",
         "take " + "key " * 2000, "accuse", "unlock with", "go", "pick up", "with with with"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=300), st.sampled_from(NASTY), st.text(alphabet="nsewud ktxal", max_size=30)))
def test_fuzzed_actions_never_raise(action):
    env = make()
    env.reset(seed=0)
    for _ in range(2):
        obs, r, term, trunc, info = env.step(action)
        assert env.observation_space.contains(obs)
        assert isinstance(info["invalid_action"], bool) and isinstance(info["reply"], str) and info["reply"]
        assert r >= 0 and info["score"] >= r and info["turn"] <= 2
        if term or trunc:
            break


@pytest.mark.parametrize("action", ["", "x" * 10_000, "\x00\x07", "?!?!", "flibber the jabber", "take"])
def test_unreadable_commands_are_invalid_and_cost_a_step(action):
    env = make()
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step(action)
    assert info["invalid_action"] and info["turn"] == 1 and r == 0 and not term
    assert env.observation_space.contains(obs)


def test_understood_but_failing_command_is_not_invalid():
    env = make()
    env.reset(seed=0)
    _, _, _, _, info = env.step("take knife")
    assert info["reply"] == "You see no such thing here." and not info["invalid_action"]
    _, _, _, _, info = env.step("south")
    assert info["reply"] == "You can't go that way." and not info["invalid_action"]
    _, _, _, _, info = env.step("dance")
    assert info["reply"] == "I don't understand that." and info["invalid_action"]


@pytest.mark.parametrize("action", [None, 3, b"north", ["north"], {"verb": "go"}])
def test_non_str_action_raises_type_error(action):
    env = make()
    env.reset(seed=0)
    with pytest.raises(TypeError, match="actions are str"):
        env.step(action)


def test_step_after_end_raises():
    env = make()
    with pytest.raises(RuntimeError, match="reset"):
        env.step("look")  # before reset
    env.reset(options={"target": "pike"})
    play(env, WALKTHROUGHS["pike"][:-1])
    _, r, term, _, info = env.step("accuse greaves")  # wrong suspect: terminated, lost, no points
    assert term and not info["success"] and r == 0 and info["score"] == 50
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step("look")


def test_truncation_at_turn_cap():
    env = make(max_turns=5)
    env.reset(seed=0)
    outs = [env.step("wait") for _ in range(5)]
    assert [o[3] for o in outs] == [False] * 4 + [True] and not any(o[2] for o in outs)
    assert outs[-1][4]["episode"]["length"] == 5
    with pytest.raises(RuntimeError):
        env.step("wait")


def _after(commands, target="greaves"):
    env = make()
    env.reset(options={"target": target})
    play(env, commands)
    return env.game.state.key(), env


@pytest.mark.parametrize("group", [
    ["n", "north", "go north", "walk north", "Go North!", "NORTH.", "go to the north", "head n"],
    ["examine mat", "x mat", "look under the mat", "examine the doormat", "search doormat", "lift mat",
     "inspect door mat", "look at mat"],
])
def test_parser_synonyms_from_start(group):
    keys = {_after([c])[0] for c in group}
    assert len(keys) == 1 and keys != {_after([])[0]}


@pytest.mark.parametrize("take", ["take key", "get key", "pick up key", "pick the key up", "grab the brass key",
                                  "take small brass key", "collect key"])
def test_take_synonyms(take):
    key, env = _after(["examine mat", take])
    assert "brass key" in env.game.inventory_text() and env.score == 5


@pytest.mark.parametrize("unlock", ["unlock desk with key", "unlock the oak desk with the brass key",
                                    "unlock desk", "open desk with key", "unlock drawer with small key"])
def test_unlock_forms(unlock):
    key, env = _after(["x mat", "take key", "n", "w", "n", unlock, "open desk"])
    assert "oak desk (open, holding: will)" in env.observation()


def test_locked_container_and_keys():
    _, env = _after(["n", "w", "n"])
    assert env.step("open desk")[4]["reply"] == "The oak desk is locked."
    assert env.step("unlock desk")[4]["reply"] == "You have nothing that unlocks the oak desk."
    assert env.step("unlock desk with key")[4]["reply"] == "You aren't carrying that."
    assert "unlock desk with brass key" not in env.valid_actions()


def test_accusation_needs_the_weapon():
    env = make()
    env.reset(options={"target": "clara"})
    _, r, term, _, info = env.step("accuse clara")
    assert not term and r == 0 and "murder weapon" in info["reply"]
    assert not any(a.startswith("accuse") for a in info["valid_actions"])


def test_each_discovery_scores_once():
    env = make()
    env.reset(options={"target": "pike"})
    total, _ = play(env, ["x mat", "take key", "drop key", "take key", "n", "w", "read letter", "read letter",
                          "take letter", "read letter"])
    assert total == SCORES["key"] + SCORES["letter"] == env.score


def test_valid_actions_change_state_and_are_understood():
    for case in CASES:
        game = Game(case)
        for cmd in WALKTHROUGHS[case][:-1]:
            for va in game.valid_actions():
                trial = game.state.copy()
                out = game._run(trial, va)
                assert out.understood and trial.key() != game.state.key(), (case, va)
            assert "look" not in game.valid_actions() and "inventory" not in game.valid_actions()
            game.step(cmd)


def test_observation_layout_and_bound():
    env = make(show_valid_actions=True)
    obs, info = env.reset(seed=0)
    first, rest = obs.split("\n\n", 1)
    assert first == env.instruction() and "\n" not in first
    assert "Valid actions: north; examine doormat" in obs and info["valid_actions"] == ["north", "examine doormat"]
    for _ in range(49):
        obs, *_ = env.step("z" * 500)
    assert obs.split("\n\n", 1)[0] == env.instruction()
    assert obs.count("\n> ") == 3 and len(obs) < 3000
    assert "Valid actions" not in make().reset(seed=0)[0]


def test_every_info_key_is_documented():
    env = make()
    _, info = env.reset(options={"target": "fenn"})
    keys = set(info)
    for cmd in WALKTHROUGHS["fenn"]:
        keys |= set(env.step(cmd)[4])
    doc = DetectiveEnv.__doc__.split("## Information", 1)[1].split("## Arguments", 1)[0]
    sections = re.findall(r"^    ## (\w[\w ]*)$", DetectiveEnv.__doc__, flags=re.M)
    assert sections == ["Description", "Action Space", "Observation Space", "Starting State", "Rewards",
                        "Episode End", "Information", "Arguments", "References", "Version History"]
    for key in keys:
        assert f"``{key}``" in doc, key


def test_pickle_round_trip_continues_identically():
    env = make()
    env.reset(options={"target": "greaves"})
    play(env, WALKTHROUGHS["greaves"][:8])
    clone = pickle.loads(pickle.dumps(env))
    rest = WALKTHROUGHS["greaves"][8:]
    assert play(env, rest)[0] == play(clone, rest)[0] == MAX_SCORE - 15


def test_normalize():
    assert normalize("Mr. Greaves's TRUNK!") == ["mr", "greaves", "trunk"]
    assert normalize("half-burnt  letter\t") == ["half", "burnt", "letter"]


def test_scripted_policies_through_evaluation_helpers():
    env = gym.make("archer/Detective-v0", split="eval")
    rng = np.random.default_rng(0)
    assert set(env.unwrapped.scripted_policies()) == set(POLICIES) == {"expert", "noisy", "random"}
    ep = run_episode(env, scripted_policy(env, "expert", rng), seed=0)
    assert ep.success and ep.ret == MAX_SCORE
    for name in ("random", "noisy"):
        ep = run_episode(env, scripted_policy(env, name, rng), seed=1)
        assert 0 <= ep.ret <= MAX_SCORE and ep.length <= 50
    with pytest.raises(ValueError, match="choose one of"):
        make_policy("oracle", env)


def test_oracle_must_be_none():
    with pytest.raises(ValueError, match="oracle=None"):
        DetectiveEnv(oracle=object())
