"""archer_gym core: the base env contract on a toy task, records, the vector helper, evaluation."""

import json

import gymnasium as gym
import numpy as np
import pytest

import archer_gym
from archer_gym import Episode, KnowledgeBaseOracle, Transition, make_vec, read_jsonl, write_jsonl
from archer_gym.env import CHARSET, clean_text, split_targets
from archer_gym.evaluation import mean_ci95
from tests import toy  # noqa: F401  (registers archer/ToyColour-v0)


def test_charset_covers_real_text():
    for ch in "aZ09 .,?!'\"-()\n:;":
        assert ch in CHARSET
    assert clean_text("caf\u00e9 \u201cok\u201d\t\x00\u4e2d", 100) == 'cafe "ok" '


def test_split_targets_full_and_holdout():
    t = [f"w{i}" for i in range(20)]
    assert split_targets(t, "train", 0.0) == t == split_targets(t, "eval", 0.0)
    tr, ev = split_targets(t, "train", 0.25), split_targets(t, "eval", 0.25)
    assert len(ev) == 5 and set(tr) | set(ev) == set(t) and not set(tr) & set(ev)
    with pytest.raises(ValueError, match="split"):
        split_targets(t, "test", 0.0)
    with pytest.raises(ValueError, match="holdout_fraction"):
        split_targets(t, "train", 1.0)


def test_terminated_vs_truncated_and_episode_info():
    env = gym.make("archer/ToyColour-v0")
    env.reset(seed=0, options={"target": "red"})
    for i in range(5):
        _, r, term, trunc, info = env.step("hello")
        assert (r, term, trunc) == (-1.0, False, False)
    _, r, term, trunc, info = env.step("hello")
    assert trunc and not term and info["episode"] == {"return": -6.0, "length": 6, "success": False, "target": "red"}
    with pytest.raises(RuntimeError, match="reset"):
        env.step("again")
    env.reset(options={"target": "blue"})
    _, r, term, trunc, info = env.step("blue")
    assert term and not trunc and r == 0.0 and info["success"] and info["turn"] == 1


def test_non_str_action_is_a_type_error():
    env = gym.make("archer/ToyColour-v0")
    env.reset(seed=0)
    with pytest.raises(TypeError, match="actions are str"):
        env.step(3)


def test_unknown_target_lists_valid_ones():
    env = gym.make("archer/ToyColour-v0")
    with pytest.raises(ValueError, match="valid targets"):
        env.reset(options={"target": "purple"})


def test_eval_split_is_a_fixed_sequence_covering_all_targets():
    def seq():
        env = gym.make("archer/ToyColour-v0", split="eval")
        out = [env.reset(seed=3)[0] and env.unwrapped.target]
        out += [(env.reset(), env.unwrapped.target)[1] for _ in range(7)]
        return out
    a, b = seq(), seq()
    assert a == b
    assert sorted(a[:4]) == sorted(toy.WARM) and a[4:] == a[:4]


def test_records_jsonl_round_trip(tmp_path):
    ep = Episode("archer/ToyColour-v0", "red", [Transition("o", "a", -1.0, "o2", False, True, [1, 2], [-0.1, -0.2])],
                 success=False, seed=4, policy="x")
    write_jsonl(tmp_path / "d.jsonl", [ep, ep])
    back = list(read_jsonl(tmp_path / "d.jsonl"))
    assert back == [ep, ep] and back[0].ret == -1.0
    (tmp_path / "bad.jsonl").write_text(json.dumps({"nope": 1}) + "\n")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        list(read_jsonl(tmp_path / "bad.jsonl"))
    with pytest.raises(FileNotFoundError):
        list(read_jsonl(tmp_path / "missing.jsonl"))


def test_vector_env_one_batched_oracle_call_per_step_and_equal_to_single():
    venv = make_vec("archer/ToyColour-v0", 4)
    oracle = venv.envs[0].oracle
    assert all(e.oracle is oracle for e in venv.envs)
    venv.reset(seed=0, options=[{"target": t} for t in ["red", "blue", "green", "orange"]])
    calls = oracle.calls
    res = venv.step(["Is it warm?", None, "Is it warm?", "orange"])
    assert oracle.calls == calls + 1  # one batched call for the three acting envs
    assert res[1] is None and res[0][4]["reply"] == "Yes." and res[2][4]["reply"] == "No." and res[3][2]
    single = gym.make("archer/ToyColour-v0")
    single.reset(seed=0, options={"target": "red"})
    assert single.step("Is it warm?")[0] == res[0][0]


def test_vector_env_rejects_wrong_action_count():
    venv = make_vec("archer/ToyColour-v0", 2)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="2 actions"):
        venv.step(["a"])


def test_mean_ci95():
    m, h = mean_ci95([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5 and h == pytest.approx(1.96 * np.std([1, 2, 3, 4], ddof=1) / 2)


@pytest.mark.parametrize("env_id", ["archer/TwentyQuestions-v0", "archer/GuessMyCity-v0"])
@pytest.mark.parametrize("question_length", [40, 200, 490])
def test_long_histories_keep_the_instruction_and_the_newest_turns(env_id, question_length):
    """Issue 15, item 13: past MAX_OBSERVATION_LENGTH the observation kept its head and lost the newest turns."""
    from archer_gym.env import MAX_OBSERVATION_LENGTH, OMITTED_MARKER

    turns_that_overflow = 2 * MAX_OBSERVATION_LENGTH // question_length
    env = gym.make(env_id, max_turns=turns_that_overflow + 1).unwrapped
    obs, _ = env.reset(seed=0)
    instruction = obs.split("\n\n")[0]
    for turn in range(turns_that_overflow):
        question = f"Is it number {turn}? " + "x" * question_length
        obs, _, terminated, truncated, info = env.step(question[:question_length])
        assert not (terminated or truncated)
        assert len(obs) <= MAX_OBSERVATION_LENGTH
        assert obs.startswith(instruction)
        assert f"Is it number {turn}?" in obs and obs.rstrip("\n").endswith(info["reply"].rstrip("\n"))
    assert OMITTED_MARKER in obs and "Is it number 0?" not in obs


def test_play_quit_ends_the_session_without_spending_a_turn(monkeypatch, capsys):
    import archer_gym.__main__ as cli
    from archer_gym.env import TextGameEnv

    steps = []
    real_step = TextGameEnv.step
    monkeypatch.setattr(TextGameEnv, "step", lambda self, a: steps.append(a) or real_step(self, a))
    for word in ("quit", "  Quit ", "exit"):
        answers = iter(["Is it alive?", word, "Is it a dog?"])
        monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
        steps.clear()
        assert cli.main(["play", "archer/TwentyQuestions-v0", "--seed", "1"]) == 0
        assert steps == ["Is it alive?"]
