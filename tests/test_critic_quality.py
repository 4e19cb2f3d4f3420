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


def test_kind_report_by_hand():
    """Kinds from the guess labels and the reply; each kind's centred mean advantage; the kind oracle scores 1 when the
    truth is constant within each kind and a lone-pair state is left out of every figure."""
    from archer_gym import Transition

    def step(reply):
        return Transition("s", "a", -1.0, "s\nA: " + reply + "\n", False, False)

    pairs = [("t", [], "s1", "q"), ("t", [], "s1", "gc"), ("t", [], "s1", "gi"), ("t", [], "s2", "junk"),
             ("t", [], "s2", "q2"), ("t", [], "s3", "alone")]
    truth = np.array([-5.0, -3.0, -6.0, -6.0, -5.0, -9.0])
    replies = ["No.", "No.", "No.", cq.NOT_UNDERSTOOD, "Yes.", "Yes."]
    probe = cq.Probe(pairs, truth, (truth, truth), truth, (truth, truth), [step(r) for r in replies],
                     guess=["", "Cat", "Dog", "", "", ""], guess_consistent=[False, True, False, False, False, False])
    assert cq.utterance_kinds(probe) == ["question", "consistent guess", "inconsistent guess",
                                         "question not understood", "question", "question"]
    est = {"q": np.array([0.0, 0.0, 1.0, 2.0, 0.0, 7.0]), "td": truth.copy()}
    k = cq.kind_report(probe, est)
    # s1: truth centred at its mean -14/3; s2: at -5.5; s3 (one pair) is left out
    assert k["consistent guess"]["truth"] == pytest.approx(-3.0 + 14 / 3)
    assert k["inconsistent guess"]["q"] == pytest.approx(1.0 - 1 / 3)
    assert k["question not understood"] == {"n": 1, "truth": pytest.approx(-0.5), "q": pytest.approx(1.0),
                                            "td": pytest.approx(-0.5)}
    assert k["question"]["n"] == 2 and k["question"]["truth"] == pytest.approx(((-5 + 14 / 3) + 0.5) / 2)
    assert k["kind_oracle"] < 1.0  # the question kind's mean true Q (-6.33) takes in s3's lone -9: off in s1
    same = cq.Probe(pairs[:3], truth[:3], (truth[:3],) * 2, truth[:3], (truth[:3],) * 2,
                    [step(r) for r in replies[:3]], guess=["", "Cat", "Dog"], guess_consistent=[False, True, False])
    assert cq.kind_report(same, {"q": truth[:3], "td": truth[:3]})["kind_oracle"] == pytest.approx(1.0)
    assert cq.kind_report(cq.Probe(pairs, truth, (truth, truth), truth, (truth, truth), []), est) == {}
