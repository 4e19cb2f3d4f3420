"""Twenty Questions: env contract, knowledge base, question understanding, scripted policies."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archer_gym  # noqa: F401  (registers the ids)
from archer_gym.oracles.base import OracleRequest
from tasks.twenty_questions.env import INSTRUCTION, TwentyQuestionsEnv
from tasks.twenty_questions.policies import POLICIES, make_policy, parse_history
from tasks.twenty_questions.questions import CORRECT, DONT_UNDERSTAND, NO, YES, load_knowledge

IDS = ["archer/TwentyQuestions-v0", "archer/TwentyQuestionsSubset-v0"]
KB = load_knowledge()


def play(env, policy, **reset_kw):
    obs, info = env.reset(**reset_kw)
    trace = [(obs, info)]
    while True:
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        trace.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            return trace


def ask(env, question):
    return env.step(question)


# ----------------------------------------------------------------- env contract
@pytest.mark.parametrize("env_id", IDS)
def test_check_env(env_id):
    check_env(gym.make(env_id).unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_episode(env_id):
    traces = []
    for _ in range(2):
        env = gym.make(env_id).unwrapped
        traces.append(play(env, make_policy("expert", env.word_set), seed=123))
    assert traces[0] == traces[1]


def test_observation_format_and_rewards():
    env = TwentyQuestionsEnv(word_set="subset")
    obs, info = env.reset(options={"target": "Dog"})
    assert obs == INSTRUCTION + "\n\n"
    assert info == {"turn": 0, "success": False, "reply": "", "invalid_action": False,
                    "messages": [{"role": "system", "content": INSTRUCTION}]}
    obs, r, term, trunc, info = ask(env, "Is it an animal?")
    assert (r, term, trunc, info["reply"], info["invalid_action"], info["guess"]) == (-1.0, False, False, YES, False, "")
    assert obs.endswith("\n\nQ: Is it an animal?\nA: Yes.\n")
    obs, r, term, trunc, info = ask(env, "Is it a cat?")
    assert (r, term, info["reply"], info["guess"]) == (-1.0, False, NO, "Cat")
    obs, r, term, trunc, info = ask(env, "Is it a dog?")
    assert (r, term, trunc, info["success"], info["reply"]) == (0.0, True, False, True, CORRECT)
    assert info["episode"] == {"return": -2.0, "length": 3, "success": True, "target": "Dog"}


def test_truncation_after_twenty_questions():
    env = TwentyQuestionsEnv(word_set="subset")
    env.reset(options={"target": "Pen"})
    for turn in range(1, 21):
        _, r, term, trunc, info = ask(env, "Is it alive?")
        assert r == -1.0 and not term and trunc == (turn == 20)
    assert info["episode"]["return"] == -20.0 and not info["episode"]["success"]
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step("Is it a pen?")


def test_non_str_action_raises_type_error():
    env = TwentyQuestionsEnv()
    env.reset(seed=0)
    with pytest.raises(TypeError, match="actions are str"):
        env.step(42)


def test_empty_and_unknown_questions_cost_a_turn():
    env = TwentyQuestionsEnv(word_set="subset")
    env.reset(options={"target": "Dog"})
    for q in ["", "   ", "asdf qwerty", "Do you know?"]:
        obs, r, term, _, info = env.step(q)
        assert (r, term, info["reply"], info["invalid_action"]) == (-1.0, False, DONT_UNDERSTAND, True)
    assert env._request("") is None


def test_request_carries_secret_history_and_aliases():
    env = TwentyQuestionsEnv()
    env.reset(options={"target": "Plane"})
    assert env.target == "Airplane"
    env.step("Is it alive?")
    req = env._request("Does it fly?")
    assert req == OracleRequest(task="twenty_questions", secret="Airplane", question="Does it fly?",
                                history=(("Is it alive?", NO),), aliases=("Plane",))


class LyingOracle:
    """Says "Yes" to everything and leaks the secret: the env must not let it decide success."""

    def answer_batch(self, requests):
        return [f"Yes, it is a {r.secret}." for r in requests]


def test_oracle_cannot_decide_success_or_leak():
    oracle = LyingOracle()
    env = TwentyQuestionsEnv(word_set="subset", oracle=oracle)
    assert env.oracle is oracle
    env.reset(options={"target": "Dog"})
    _, _, term, _, info = env.step("Is it a cat?")
    assert (term, info["reply"]) == (False, NO)
    _, _, term, _, info = env.step("Is it alive?")
    assert not term and "dog" not in info["reply"].lower()


def test_bad_arguments():
    with pytest.raises(ValueError, match="'kb'"):
        TwentyQuestionsEnv(oracle="gpt-9")
    with pytest.raises(ValueError, match="word_set"):
        TwentyQuestionsEnv(word_set="huge")
    with pytest.raises(ValueError, match="valid targets"):
        TwentyQuestionsEnv(word_set="subset").reset(options={"target": "Cat"})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.text(max_size=200),
    # 10,000-character actions (Hypothesis cannot draw that many characters directly)
    st.text(min_size=1, max_size=20).map(lambda s: (s * 10_000)[:10_000]),
    st.text(alphabet=st.characters(whitelist_categories=("Cc", "Cs", "Zs"))),
    st.text(alphabet="?!.,;:'\"-()[]{}", max_size=50),
    st.sampled_from(["", "Is it a dog?", "Is it a pair of scissors?", "is it alive", "\x00\n\t", "\u00e9\u4e2d\U0001F600"]),
), min_size=1, max_size=25))
def test_fuzzed_actions_never_crash(actions):
    env = TwentyQuestionsEnv(word_set="subset")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        assert env.observation_space.contains(obs)
        assert r in (-1.0, 0.0) and isinstance(info["reply"], str)
        if term or trunc:
            obs, _ = env.reset()


# ----------------------------------------------------------------- splits
def test_eval_sequence_is_deterministic():
    def targets(seed):
        env = TwentyQuestionsEnv(split="eval")
        env.reset(seed=seed)
        out = [env.target]
        for _ in range(30):
            env.reset()
            out.append(env.target)
        return out

    assert targets(7) == targets(7)
    first = targets(7)
    assert len(set(first)) == len(first)  # walks a permutation: no repeats within 31 episodes
    assert targets(8) != first


def test_holdout_fraction_gives_disjoint_targets():
    train = TwentyQuestionsEnv(split="train", holdout_fraction=0.2).targets
    evals = TwentyQuestionsEnv(split="eval", holdout_fraction=0.2).targets
    assert not set(train) & set(evals) and sorted(train + evals) == sorted(KB.words)
    assert len(evals) == round(0.2 * len(KB.words))


# ----------------------------------------------------------------- knowledge base
def test_word_lists():
    assert len(KB.words) == 158 and len(KB.categories) == 17
    assert KB.subset == ("Football", "Dog", "Banana", "Truck", "Pants", "Computer", "Piano", "Chair", "Pen", "Scissors")


def test_kb_has_40_facts_per_word_and_unique_signatures():
    assert set(KB.facts) == set(KB.words)
    names = {a.name for a in KB.attributes}
    for w in KB.words:
        assert set(KB.facts[w]) == names and len(names) >= 40
        assert all(isinstance(v, bool) for v in KB.facts[w].values())
    signatures = {KB.signature(w) for w in KB.words}
    assert len(signatures) == len(KB.words)


@pytest.mark.parametrize("word, attribute, value", [
    ("Dog", "alive", True), ("Dog", "pet", True), ("Banana", "edible", True), ("Banana", "yellow", True),
    ("Truck", "has_wheels", True), ("Airplane", "flies", True), ("Boat", "has_wheels", False),
    ("Computer", "uses_electricity", True), ("Piano", "heavier_than_person", True), ("Pen", "fits_in_pocket", True),
    ("Scissors", "sharp", True), ("Rock", "man_made", False), ("Ocean", "salt_water", True),
    ("Lake", "salt_water", False), ("Elephant", "bigger_than_person", True), ("Cat", "bigger_than_person", False),
    ("Tomato", "vegetable", True), ("Pencil", "has_ink", False), ("Football", "round", False),
])
def test_spot_facts(word, attribute, value):
    assert KB.facts[word][attribute] is value


def test_every_phrasing_parses_to_its_attribute():
    for a in KB.attributes:
        for q in a.questions:
            p = KB.parse(q)
            assert (p.kind, p.attribute, p.polarity) == ("attribute", a.name, True), q
        for q in a.inverse_questions:
            p = KB.parse(q)
            assert (p.kind, p.attribute, p.polarity) == ("attribute", a.name, False), q


# ----------------------------------------------------------------- question understanding
@pytest.mark.parametrize("target, question, reply", [
    ("Dog", "Is it alive?", YES), ("Dog", "Is it a living thing?", YES), ("Pen", "Is it living?", NO),
    ("Dog", "Is the object alive?", YES), ("Banana", "Can you eat it?", YES), ("Banana", "Is it edible?", YES),
    ("Banana", "Is it something you can eat?", YES), ("Banana", "Is it food?", YES), ("Truck", "is it food", NO),
    ("Banana", "Is it a fruit?", YES), ("Truck", "Is it a kind of vehicle?", YES), ("Dog", "Is it an animal?", YES),
    ("Pants", "Is it a type of clothing?", YES), ("Chair", "Is it a piece of furniture?", YES),
    ("Piano", "IS IT A MUSICAL INSTRUMENT", YES), ("Computer", "Does it use electricity?", YES),
    ("Dog", "Is it bigger than a breadbox?", YES), ("Pen", "Is it smaller than a breadbox?", YES),
    ("Rock", "Is it natural?", YES), ("Rock", "Is it man-made?", NO), ("Knife", "Is it a kitchen utensil?", YES),
    ("Football", "Is it used in a team sport?", YES), ("Scissors", "Is it used for cutting?", YES),
    # negation, disjunction and nonsense are not understood
    ("Dog", "Is it not alive?", DONT_UNDERSTAND), ("Dog", "Is it red or green?", DONT_UNDERSTAND),
    ("Dog", "Do you know?", DONT_UNDERSTAND), ("Dog", "purple monkey dishwasher", DONT_UNDERSTAND),
    ("Dog", "Is it bigger than a dog?", DONT_UNDERSTAND),
])
def test_answers(target, question, reply):
    assert KB.answer(target, question) == reply


@pytest.mark.parametrize("question", [
    "Is it a dog?", "Is the object a dog?", "Is it the dog?", "Dog?", "dog", "My guess is dog",
    "Could it be a dog?", "Is it a DOG!!!",
])
def test_guess_forms(question):
    assert KB.answer("Dog", question) == CORRECT
    assert KB.answer("Cat", question) == NO


@pytest.mark.parametrize("target, question, correct", [
    ("Scissors", "Is it a pair of scissors?", True), ("Scissors", "Is it scissors?", True),
    ("Pencil", "Is it a pen?", False), ("Pen", "Is it a pencil?", False), ("Pen", "Is it a pen?", True),
    ("Airplane", "Is it a plane?", True), ("Television", "Is it a TV?", True),
    ("Cooking pot", "Is it a pot?", True), ("Painting", "Is it a painting?", True),
    ("Canvas", "Is it a canvas?", True), ("Painting", "Is it a canvas?", False),
    ("Dog", "Is it a dog or a cat?", False), ("Dog", "Is it a big dog?", False),
    ("Soccer ball", "Is the object a soccer ball?", True), ("Grape", "Is it grapes?", True),
])
def test_guesses_with_variants(target, question, correct):
    assert (KB.answer(target, question) == CORRECT) is correct


def test_category_names_are_not_guesses():
    for q in ["Is it a fruit?", "Is it a tool?", "Is it a toy?", "Is it an animal?", "Is it a vegetable?"]:
        assert KB.parse(q).kind == "attribute"


def test_word_matching_is_by_whole_words():
    assert KB.parse_guess("Is it a pencil?") == "Pencil"
    assert not KB.mentions("Do you know it?", "Pen") and not KB.mentions("a pencil", "Pen")
    assert KB.mentions("it is a pen.", "Pen")


def test_reset_accepts_variants():
    env = TwentyQuestionsEnv()
    env.reset(options={"target": "Plane"})
    assert env.target == "Airplane"
    env.reset(options={"target": "pair of scissors"})
    assert env.target == "Scissors"


# ----------------------------------------------------------------- scripted policies
def test_parse_history():
    obs = INSTRUCTION + "\n\nQ: Is it alive?\nA: No.\nQ: Is it a pen?\nA: Yes! You guessed it.\n"
    assert parse_history(obs) == [("Is it alive?", NO), ("Is it a pen?", CORRECT)]


@pytest.mark.parametrize("word_set, min_rate", [("subset", 1.0), ("full", 0.98)])
def test_expert_solves_targets(word_set, min_rate):
    env = TwentyQuestionsEnv(word_set=word_set)
    expert = make_policy("expert", word_set)
    solved = [play(env, expert, options={"target": w})[-1][4]["success"] for w in env.all_targets]
    assert np.mean(solved) >= min_rate


def test_expert_does_not_read_the_target():
    """Same observation -> same action, whatever the env's hidden target."""
    expert = make_policy("expert", "full")
    obs = INSTRUCTION + "\n\n"
    assert expert(obs) == expert(obs)
    first = expert(obs)
    assert KB.parse(first).kind == "attribute"


def test_policies_factory_and_scripted_policies():
    env = TwentyQuestionsEnv(word_set="subset")
    factories = env.scripted_policies()
    assert tuple(factories) == POLICIES
    for name in POLICIES:
        policy = factories[name](env, np.random.default_rng(0))
        trace = play(env, policy, seed=1)
        assert all(isinstance(t[0], str) for t in trace)
    with pytest.raises(ValueError, match="expert"):
        make_policy("oracle", "subset")


def test_random_and_noisy_are_seeded():
    def actions(name):
        pol = make_policy(name, "full", rng=np.random.default_rng(3))
        return [pol(INSTRUCTION + "\n\n") for _ in range(20)]

    for name in ("random", "noisy"):
        assert actions(name) == actions(name)
    assert any(KB.parse(a).kind == "guess" for a in actions("random"))


def test_exchanges_are_the_oracle_history_and_reset_clears_them():
    seen = []

    class Recording:
        def answer_batch(self, requests):
            seen.extend(requests)
            return ["Yes." for _ in requests]

    env = TwentyQuestionsEnv(word_set="subset", oracle=Recording())
    env.reset(seed=0, options={"target": "Dog"})
    env.step("Is it an animal?")
    env.step("Is it a cat?")  # a wrong guess: whatever the oracle says, the env answers "No."
    env.step("Does it bark?")
    assert env.exchanges == (("Is it an animal?", "Yes."), ("Is it a cat?", NO), ("Does it bark?", "Yes."))
    assert [r.history for r in seen] == [(), (("Is it an animal?", "Yes."),),
                                         (("Is it an animal?", "Yes."), ("Is it a cat?", NO))]
    env.reset(seed=1)
    assert env.exchanges == ()
