"""archer/Wordle-v0: LMRL-Gym's feedback by hand, the word lists, rewards, refused guesses, the expert."""

import gymnasium as gym
import numpy as np
import pytest

import archer_gym  # noqa: F401
from archer_gym.evaluation import run_episode, scripted_policy
from tasks.wordle.game import encode, feedback, guesses, pattern_codes, solutions
from tasks.wordle.policies import ExpertPolicy, opening_word, parse_history


@pytest.mark.parametrize("guess, target, expected", [
    ("crane", "crane", "ggggg"),
    ("paper", "apple", "yygyb"),   # p: elsewhere; a: elsewhere; p: here; e: elsewhere; r: absent
    ("eerie", "crane", "yyybg"),   # LMRL-Gym counts no repeats: both early e's are y (the newspaper says b b y b g)
    ("speed", "abide", "bbyyy"),
    ("lymph", "crane", "bbbbb"),
])
def test_feedback_by_hand(guess, target, expected):
    assert feedback(guess, target) == expected


def test_pattern_matrix_agrees_with_feedback():
    words = ["eerie", "paper", "crane", "apple", "speed", "abide"]
    codes = pattern_codes(words, words)
    for i, g in enumerate(words):
        for j, t in enumerate(words):
            assert codes[i, j] == encode(feedback(g, t))
    assert encode("bbbbb") == 0 and encode("ggggg") == 242 and encode("ybbbb") == 1


def test_word_lists_are_clean_and_nested():
    sol, gue = solutions(), guesses()
    assert (len(sol), len(gue)) == (2132, 6734)
    for words in (sol, gue):
        assert list(words) == sorted(set(words))
        assert all(len(w) == 5 and w.isascii() and w.isalpha() and w.islower() for w in words)
    assert set(sol) <= set(gue)
    assert "books" not in sol and "baked" not in sol and "clxii" not in gue  # plurals, past tenses, numerals out


def test_train_and_eval_words_are_disjoint():
    train = gym.make("archer/Wordle-v0", split="train").unwrapped.targets
    ev = gym.make("archer/Wordle-v0", split="eval").unwrapped.targets
    assert (len(train), len(ev)) == (1706, 426) and not set(train) & set(ev) and set(train) | set(ev) == set(solutions())
    both = gym.make("archer/Wordle-v0", split="eval", holdout_fraction=0.0).unwrapped.targets
    assert len(both) == 2132


def test_solving_guess_scores_zero_and_terminates():
    env = gym.make("archer/Wordle-v0")
    env.reset(seed=0, options={"target": "crane"})
    obs, r, term, trunc, info = env.step("raise")
    assert (r, term, trunc, info["feedback"], info["reply"]) == (-1.0, False, False, "yybbg", "y y b b g")
    assert obs.endswith("Guess 1: raise\nFeedback: y y b b g\n")
    obs, r, term, trunc, info = env.step("C r a n e.")  # LMRL-Gym's spelled-out form, any case and punctuation
    assert (r, term, trunc, info["success"], info["guess"]) == (0.0, True, False, True, "crane")
    assert info["episode"] == {"return": -1.0, "length": 2, "success": True, "target": "crane"}


def test_refused_guesses_cost_a_try_and_six_end_the_game():
    env = gym.make("archer/Wordle-v0")
    env.reset(seed=0, options={"target": "crane"})
    for i, bad in enumerate(["hello world", "", "zzzzz", "cranes", "\u4f60\u597d"]):
        _, r, term, trunc, info = env.step(bad)
        assert (r, term, trunc, info["invalid_action"], info["feedback"]) == (-1.0, False, False, True, "")
    obs, r, term, trunc, info = env.step("lymph")  # sixth try, a real word, wrong: the game is lost
    assert (r, term, trunc, info["invalid_action"], info["success"]) == (-1.0, True, False, False, False)
    assert info["episode"]["return"] == -6.0 and "Guess 2: (nothing)" in obs
    assert parse_history(obs) == [("lymph", "bbbbb")]  # refused guesses teach the expert nothing


def test_unknown_target_names_the_list():
    with pytest.raises(ValueError, match="not one of the 2132 hidden words"):
        gym.make("archer/Wordle-v0").reset(options={"target": "zzzzz"})


@pytest.mark.parametrize("target, moves", [
    ("crane", ["raise", "bract", "anvil", "crane"]),
    ("apple", ["raise", "black", "ample", "apple"]),
])
def test_expert_solves_a_given_word_in_known_steps(target, moves):
    env = gym.make("archer/Wordle-v0")
    ep = run_episode(env, scripted_policy(env, "expert", None), seed=0, options={"target": target})
    assert [t.action for t in ep.transitions] == moves and ep.success and ep.ret == -(len(moves) - 1)
    assert opening_word() == "raise"


def test_expert_keeps_only_words_consistent_with_the_feedback():
    history = [("raise", "yybbg")]
    cands = [solutions()[i] for i in ExpertPolicy().candidates(history)]
    assert "crane" in cands and all(feedback("raise", w) == "yybbg" for w in cands)


def test_expert_is_far_above_random_on_eval_words():
    def mean_return(name):
        env = gym.make("archer/Wordle-v0", split="eval")
        rng = np.random.default_rng(0)
        return np.mean([run_episode(env, scripted_policy(env, name, rng), seed=0 if i == 0 else None).ret
                        for i in range(15)])
    assert mean_return("expert") >= -3.5 and mean_return("random") <= -5.5
