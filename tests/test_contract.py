"""One contract suite over every registered archer/* id: check_env, seeding, fuzzed actions, pickling."""

import json
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archer_gym
from archer_gym.evaluation import EVAL_SEED, run_episode, scripted_policy

IDS = archer_gym.list_ids()
#: The ids archer-gym ships (a test's or a user's registered task has no recorded reference figures).
BUILT_IN = [i for i in IDS if archer_gym.get_spec(i).entry_point.startswith("tasks.")]


@pytest.mark.parametrize("env_id", IDS)
def test_check_env(env_id):
    check_env(gym.make(env_id).unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_episode(env_id):
    def play(seed):
        env = gym.make(env_id)
        ep = run_episode(env, scripted_policy(env, "random", np.random.default_rng(seed)), seed=seed)
        return [(t.observation, t.action, t.reward, t.terminated, t.truncated) for t in ep.transitions]
    assert play(5) == play(5)


@pytest.mark.parametrize("env_id", IDS)
def test_expert_and_random_policies_exist_and_finish(env_id):
    env = gym.make(env_id, split="eval")
    for name in ("expert", "random"):
        ep = run_episode(env, scripted_policy(env, name, np.random.default_rng(0)), seed=1)
        assert ep.length <= env.unwrapped.max_turns
        assert ep.transitions[-1].terminated or ep.transitions[-1].truncated


@pytest.mark.parametrize("env_id", BUILT_IN)
def test_every_id_has_recorded_reference_figures_and_its_expert_is_the_threshold(env_id):
    ref = archer_gym.reference(env_id)
    assert ref is not None, f"no reference for {env_id}: run python -m archer_gym reference {env_id}"
    assert ref["seed"] == EVAL_SEED and ref["episodes"] >= 100
    assert ref["expert"]["mean_return"] > ref["random"]["mean_return"]  # the expert is a reference worth the name
    assert gym.spec(env_id).reward_threshold == ref["expert"]["mean_return"]


def test_reference_check_measures_again_and_flags_a_changed_figure(tmp_path, capsys):
    """``python -m archer_gym reference --check`` replays the recorded figures exactly (the quick task, 200
    episodes per policy, about a second) and exits 1 when a recorded figure differs from what the env now does."""
    from archer_gym.__main__ import main

    env_id = "archer/TwentyQuestionsSubset-v0"
    assert main(["reference", env_id, "--check", "--json"]) == 0
    edited = archer_gym.references()
    edited = {env_id: {**edited[env_id], "expert": {**edited[env_id]["expert"], "mean_return": -2.5}}}
    out = tmp_path / "refs.json"
    out.write_text(json.dumps(edited))
    assert main(["reference", env_id, "--check", "--json", "--out", str(out)]) == 1
    assert "1 differ" in capsys.readouterr().err
    # Recording writes the measured figures back (and would for every id without arguments).
    assert main(["reference", env_id, "--json", "--out", str(out)]) == 0
    assert json.loads(out.read_text())[env_id] == archer_gym.reference(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_non_str_action_raises_type_error(env_id):
    env = gym.make(env_id)
    env.reset(seed=0)
    for bad in (None, 3, b"bytes", ["list"]):
        with pytest.raises(TypeError, match="str"):
            env.step(bad)


@pytest.mark.parametrize("env_id", IDS)
def test_pickled_env_continues_the_same_game(env_id):
    env = gym.make(env_id).unwrapped
    env.reset(seed=2)
    env.step("hello")
    clone = pickle.loads(pickle.dumps(env))
    assert clone.step("look")[0] == env.step("look")[0]


FUZZ = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=31), max_size=50),
    st.text(alphabet="!?.,;:[]()'\"-", max_size=50),
    st.just(""), st.just("x" * 10_000), st.just("\u4f60\u597d \U0001F600 caf\u00e9"),
)


@pytest.mark.parametrize("env_id", IDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=st.lists(FUZZ, min_size=1, max_size=6))
def test_fuzzed_actions_never_raise(env_id, actions):
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        assert env.observation_space.contains(obs)
        assert isinstance(info["reply"], str) and isinstance(info["invalid_action"], bool)
        if term or trunc:
            break
