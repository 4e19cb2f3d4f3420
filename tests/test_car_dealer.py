"""archer/CarDealer-v0: the buyer's script by hand, price parsing, no budget leak, rewards, the expert."""

import gymnasium as gym
import numpy as np
import pytest

import archer_gym  # noqa: F401
from archer_gym.evaluation import run_episode, scripted_policy
from tasks.car_dealer.buyer import Buyer, Profile, parse_price, profile_names


@pytest.mark.parametrize("text, price", [("$28,500", 28500), ("for 28500 dollars", 28500), ("28.5k", 28500),
                                         ("3 features at $40,000 or $39,000", 39000), ("only 999", None),
                                         ("no price", None), ("$ 12 thousand", 12000)])
def test_parse_price(text, price):
    assert parse_price(text) == price


def test_negotiation_by_hand():
    b = Buyer(Profile(50_000, "SUV", "Mazda", ("sunroof", "heated seats"), "curt", 4))
    assert b.opening() == "I need an SUV."
    assert b.reply("A sedan for $20,000?") == ("I'm only interested in an SUV. What do you have?", None, False)
    assert b.reply("What brand and features?")[0] == "I'd like a Mazda with sunroof and heated seats."
    # worth: full fit = 50,000. Offer 1 accepts <= 0.88 * worth = 44,000, else counters 0.70 * worth.
    assert b.reply("A Mazda SUV with sunroof and heated seats, $150,000.") == (
        "That's way more than I want to spend. I could pay $35,000.", None, False)
    assert b.reply("$46,000") == ("That's a bit high for me. I could pay $37,500.", None, False)  # > 0.91 * worth
    assert b.reply("$47,000") == ("Deal! I'll take it for $47,000.", 47_000, False)               # <= 0.94 * worth


def test_worth_falls_with_fit_and_the_buyer_leaves():
    b = Buyer(Profile(30_000, "truck", "Ford", ("sunroof", "heated seats"), "polite", 4))
    b.reply("a Honda truck with sunroof")
    assert b.worth() == pytest.approx(30_000 * (0.8 + 0.0 + 0.05))
    outs = [b.reply("$90,000") for _ in range(4)]
    assert [o[2] for o in outs] == [False, False, False, True] and outs[-1][1] is None


def test_seller_can_take_the_counter_offer():
    env = gym.make("archer/CarDealer-v0")
    env.reset(seed=0, options={"target": "buyer-000"})
    p = env.unwrapped.buyer.profile
    _, r, term, _, info = env.step(f"A {p.car_type} for $200,000.")
    assert (r, term) == (0.0, False) and "I could pay" in info["reply"]
    counter = parse_price(info["reply"])
    _, r, term, trunc, info = env.step("Deal.")
    assert (r, term, trunc, info["success"], info["price"]) == (counter / 1000, True, False, True, counter)


def test_nothing_to_answer_is_a_costly_invalid_turn_and_the_cap_truncates():
    env = gym.make("archer/CarDealer-v0", max_turns=2)
    env.reset(seed=0)
    _, r, term, trunc, info = env.step("blah")
    assert (r, term, trunc, info["invalid_action"]) == (0.0, False, False, True)
    _, r, term, trunc, info = env.step("")
    assert (term, trunc, info["episode"]["return"], info["episode"]["success"]) == (False, True, 0.0, False)


def test_no_buyer_ever_says_its_budget():
    env = gym.make("archer/CarDealer-v0", holdout_fraction=0.0)
    rng = np.random.default_rng(0)
    for name in profile_names():
        budget = Profile.from_name(name).budget
        for policy in ("expert", "random"):
            ep = run_episode(env, scripted_policy(env, policy, rng), seed=0, options={"target": name})
            buyer_text = " ".join(line for line in ep.transitions[-1].next_observation.split("\n")
                                  if line.startswith("Buyer:"))
            assert f"{budget:,}" not in buyer_text and str(budget) not in buyer_text, name


def test_expert_sells_at_97_percent_of_a_full_fit():
    env = gym.make("archer/CarDealer-v0")
    for name in ("buyer-000", "buyer-123", "buyer-389"):
        ep = run_episode(env, scripted_policy(env, "expert", None), seed=0, options={"target": name})
        budget = Profile.from_name(name).budget
        assert ep.success and ep.length == 5 and ep.ret == int(budget * 0.97) // 100 * 100 / 1000


def test_splits_are_disjoint_and_expert_beats_random():
    tr = gym.make("archer/CarDealer-v0", split="train").unwrapped.targets
    ev = gym.make("archer/CarDealer-v0", split="eval").unwrapped.targets
    assert (len(tr), len(ev)) == (312, 78) and not set(tr) & set(ev)
    env = gym.make("archer/CarDealer-v0", split="eval")
    rng = np.random.default_rng(0)
    ret = {n: np.mean([run_episode(env, scripted_policy(env, n, rng), seed=0 if i == 0 else None).ret
                       for i in range(20)]) for n in ("expert", "random")}
    assert ret["expert"] > 2 * ret["random"] + 10, ret
