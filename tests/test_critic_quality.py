"""bench/critic_quality.py: its scoring on hand-made cases, and its variant flags' errors (before any model is built)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

spec = importlib.util.spec_from_file_location("critic_quality", Path(__file__).parent.parent / "bench" / "critic_quality.py")
cq = importlib.util.module_from_spec(spec)
sys.modules["critic_quality"] = cq  # dataclasses look their module up there
spec.loader.exec_module(cq)


def test_within_state_correlation_ignores_each_states_level():
    truth = np.array([0.0, 1.0, 10.0, 12.0])
    groups = [[0, 1], [2, 3]]
    shifted = truth + np.array([5.0, 5.0, -30.0, -30.0])  # per-state offsets: a V(s) error, invisible within a state
    assert cq.within_state_corr(shifted, truth, groups) == pytest.approx(1.0)
    assert cq.within_state_corr(-truth, truth, groups) == pytest.approx(-1.0)
    assert cq.ordered_right(shifted, truth, groups) == 1.0 and cq.ordered_right(-truth, truth, groups) == 0.0


@pytest.mark.parametrize("argv, message", [
    (["--model-arg", "nope=1"], "ModelConfig has no field 'nope'"),
    (["--model-arg", "critic"], "expected KEY=VALUE"),
    (["--algo-arg", "advantage=zz"], "advantage='zz'"),
])
def test_a_bad_variant_flag_is_a_one_line_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cq.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]


capacity_spec = importlib.util.spec_from_file_location("critic_capacity",
                                                       Path(__file__).parent.parent / "bench" / "critic_capacity.py")
cc = importlib.util.module_from_spec(capacity_spec)
capacity_spec.loader.exec_module(cc)


def test_capacity_auc_by_hand():
    labels = np.array([1, 0, 1, 0])
    assert cc.auc(np.array([0.9, 0.1, 0.8, 0.2]), labels) == 1.0
    assert cc.auc(np.array([0.1, 0.9, 0.2, 0.8]), labels) == 0.0
    assert cc.auc(np.array([0.5, 0.5, 0.9, 0.1]), labels) == pytest.approx((0.5 + 1 + 1 + 1) / 4)
    assert np.isnan(cc.auc(np.array([0.3]), np.array([1])))


def test_capacity_labels_guesses_by_replaying_the_dialogue():
    """A guess of a word an answer ruled out is labelled inconsistent; the winning guess consistent and won."""
    from archer_gym import Episode, Transition
    import gymnasium as gym

    env = gym.make("archer/TwentyQuestionsSubset-v0", split="train").unwrapped
    obs, _ = env.reset(seed=0, options={"target": "Dog"})
    steps = []
    for action in ["Is it an animal?", "Is it a piano?", "Is it a dog?"]:
        nxt, r, term, trunc, _ = env.step(action)
        steps.append(Transition(obs, action, r, nxt, term, trunc))
        obs = nxt
    ep = Episode(env_id="archer/TwentyQuestionsSubset-v0", target="Dog", transitions=steps)
    env_id = "archer/TwentyQuestionsSubset-v0"
    assert [x[1:] for x in cc.labelled_guesses([ep], env_id, "consistent")] == [("Is it a piano?", 0.0),
                                                                               ("Is it a dog?", 1.0)]
    assert [x[2] for x in cc.labelled_guesses([ep], env_id, "win")] == [0.0, 1.0]


def test_capacity_bad_flag_is_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cc.main(["--model-arg", "nope=1"])
    assert exc.value.code == 2 and "ModelConfig has no field 'nope'" in capsys.readouterr().err.strip().splitlines()[-1]
