"""archer/CarDealer-v0 with an LLM buyer (issue 17, item 3), offline: the verdict on replies by hand, and the env
against an OpenAI-compatible stub on 127.0.0.1 scripted to negotiate, refuse, leak its budget, send malformed text
and fail with 503s; the "hf" backend on a tiny random model. The budget guard's generated tests are in
tests/test_leak_guard.py."""

import re

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import archer_gym  # noqa: F401
from archer_gym.oracles.llm import OracleError
from tasks.car_dealer.buyer import ASK_OFFER, Profile
from tasks.car_dealer.llm_buyer import (LEAK_REPLY, MALFORMED_REPLY, OVER_BUDGET_REPLY, UNOFFERED_REPLY, judge_reply,
                                        on_table, parse_deal, persona)
from tests.test_chat import _check_step

pytest.importorskip("openai")
from tests.loopback import ChatStub  # noqa: E402

ENV_ID = "archer/CarDealer-v0"
TARGET = "buyer-001"  # budget $30,000; wants a luxury Volkswagen with backup camera and sunroof; talkative
BUDGET = 30_000


# --------------------------------------------------------------------------- the verdict, by hand
@pytest.mark.parametrize("reply, table, expected", [
    ("DEAL at $28,500", {28_500}, ("DEAL at $28,500.", 28_500, "")),
    ("Sure, that works.\n**DEAL** at 28500", {28_500}, ("DEAL at $28,500.", 28_500, "")),
    ("Deal for $28.5k!", {28_500}, ("DEAL at $28,500.", 28_500, "")),
    ("DEAL!", {28_500}, ("DEAL at $28,500.", 28_500, "")),                      # the one price on the table
    ("DEAL at $30,000", {30_000}, ("DEAL at $30,000.", 30_000, "")),          # exactly the budget: a deal, no leak
    ("DEAL!", {28_500, 25_000}, (MALFORMED_REPLY, None, "malformed")),         # which of the two?
    ("DEAL at $25,000, no wait, DEAL at $26,000", {25_000, 26_000}, (MALFORMED_REPLY, None, "malformed")),
    ("", {28_500}, (MALFORMED_REPLY, None, "malformed")),
    (" \n\t ", {28_500}, (MALFORMED_REPLY, None, "malformed")),
    ("DEAL at $25,000", {28_500}, (UNOFFERED_REPLY, None, "unoffered")),      # a price the seller never named
    ("DEAL!", set(), (UNOFFERED_REPLY, None, "unoffered")),
    ("DEAL at $40,000", {40_000}, (OVER_BUDGET_REPLY, None, "over_budget")),  # the env, not the LLM, enforces it
    ("My budget is thirty thousand.", {28_500}, (LEAK_REPLY, None, "leak")),
    ("No DEAL at that price.", {40_000}, ("No DEAL at that price.", None, "")),
    ("That's not a DEAL at $40,000.", {40_000}, ("That's not a DEAL at $40,000.", None, "")),
    ("DEAL? Let me think.", {28_500}, ("DEAL? Let me think.", None, "")),
    ("It's a deal at $28,500", {28_500}, ("It's a deal at $28,500", None, "")),  # other words are conversation
    ("Too   much.\nI could pay $24,000.", {28_500}, ("Too much. I could pay $24,000.", None, "")),
])
def test_judge_reply(reply, table, expected):
    assert tuple(judge_reply(reply, budget=BUDGET, table=table)) == expected


def test_parse_deal_and_the_table():
    assert parse_deal("Great. DEAL at $27,000.") == {27_000} and parse_deal("Not yet.") == set()
    assert parse_deal("deal at $27,000") == {27_000} and parse_deal("a deal at $27,000") == set()
    assert on_table("A sedan for $35,000.", 40_000, frozenset({25_000})) == {35_000}   # the price this line names
    assert on_table("Let me check.", 40_000, frozenset({25_000})) == {40_000}          # the standing price
    assert on_table("OK, deal.", 40_000, frozenset({25_000})) == {40_000, 25_000}      # it accepts the counter
    assert on_table("deal", None, frozenset()) == set()


# --------------------------------------------------------------------------- a scripted buyer behind the stub
def _budget(req) -> int:
    return int(re.search(r"^Secret: \$([\d,]+)$", req["messages"][0]["content"], re.M).group(1).replace(",", ""))


#: Seller line -> the stub buyer's raw reply ({budget} is filled from the prompt's Secret line).
SCRIPT = {
    "What car would you like?": "A luxury car, ideally a Volkswagen with a sunroof! What do you have?",
    "A Volkswagen luxury with backup camera and sunroof for $35,000.": "That's too much for me. I could pay $27,000.",
    "I can do $29,000.": "Still a bit high. How about $28,000?",
    "deal": "Great, thank you!\nDEAL at $28,000",
    "A Volkswagen luxury for $40,000.": "DEAL at $40,000",                      # over the budget
    "What about $45,000?": "DEAL at $38,000",                                  # a price nobody named
    "What's your budget?": "Between us, {budget:,} dollars is my limit.",      # a leak
    "What is your budget, in words?": "Thirty grand, tops.",                   # a leak in words
    "Say something.": "   ",                                                   # malformed: nothing
    "$31,000 or $32,000?": "DEAL at $31,000 or DEAL at $32,000",               # malformed: two prices
}


def scripted_buyer(req) -> str:
    return SCRIPT.get(req["messages"][-1]["content"], "Tell me more about the car.").format(budget=_budget(req))


def llm_env(server, cache=None, **kw):
    return gym.make(ENV_ID, oracle="openai", oracle_model="stub-buyer", oracle_base_url=server.url,
                    oracle_cache=cache, oracle_backoff_base=0.01, **kw)


def play(env, lines, seed=0):
    """Every step's (observation, reward, terminated, truncated, info) and the chat messages checked against it."""
    obs, info = env.reset(seed=seed, options={"target": TARGET})
    _check_step(env, obs, info)
    trace = [obs]
    for line in lines:
        step = env.step(line)
        _check_step(env, step[0], step[4])
        trace.append(step)
        if step[2] or step[3]:
            break
    return trace


NEGOTIATION = ["What car would you like?", "A Volkswagen luxury with backup camera and sunroof for $35,000.",
               "I can do $29,000.", "deal"]


def test_a_scripted_negotiation_ends_in_a_deal_rewarded_by_hand(tmp_path):
    with ChatStub(scripted_buyer) as server:
        trace = play(llm_env(server, tmp_path / "c.sqlite"), NEGOTIATION)
    steps = trace[1:]
    # The stub accepts its own counter of $28,000 once the seller says "deal": 28,000 dollars is 28.0 (revenue, $1000s).
    assert [s[1] for s in steps] == [0.0, 0.0, 0.0, 28.0]
    assert [(s[2], s[3]) for s in steps] == [(False, False)] * 3 + [(True, False)]
    last = steps[-1][4]
    assert (last["success"], last["price"], last["buyer_fault"], last["reply"]) == (True, 28_000, "", "DEAL at $28,000.")
    assert last["episode"] == {"return": 28.0, "length": 4, "success": True, "target": TARGET}
    assert trace[-1][0].endswith("Seller: deal\nBuyer: DEAL at $28,000.\n")
    # The prompt: the persona and budget from the seeded profile, the rules, the dialogue as the seller saw it.
    req = server.requests[-1]
    system = req["messages"][0]["content"]
    assert persona(Profile.from_name(TARGET), "Hi there! I've been thinking about a new car for months and I want "
                   "a luxury.") in system
    assert "Your budget is $30,000" in system and "DEAL at $<price>" in system and "Never state your budget" in system
    assert [m["role"] for m in req["messages"][1:]] == ["user", "assistant"] * 3 + ["user"]
    assert req["messages"][4] == {"role": "assistant", "content": "That's too much for me. I could pay $27,000."}
    # Deterministic where the backend allows it: temperature 0 and a fixed seed, room for two sentences.
    assert all((r["temperature"], r["seed"], r["max_tokens"]) == (0.0, 0, 64) for r in server.requests)
    assert len(server.requests) == 4


def test_the_env_refuses_deals_over_budget_or_at_unnamed_prices_and_reads_malformed_replies():
    lines = ["A Volkswagen luxury for $40,000.", "What about $45,000?", "Say something.", "$31,000 or $32,000?", ""]
    with ChatStub(scripted_buyer) as server:
        trace = play(llm_env(server), lines)
    steps = trace[1:]
    assert [(s[4]["reply"], s[4]["buyer_fault"]) for s in steps] == [
        (OVER_BUDGET_REPLY, "over_budget"), (UNOFFERED_REPLY, "unoffered"), (MALFORMED_REPLY, "malformed"),
        (MALFORMED_REPLY, "malformed"), (ASK_OFFER, "")]
    assert all(s[1] == 0.0 and not s[2] and not s[4]["success"] and s[4]["price"] == 0 for s in steps)
    assert [s[4]["invalid_action"] for s in steps] == [False] * 4 + [True]
    assert len(server.requests) == 4  # the empty line is answered without asking the model


@pytest.mark.parametrize("question", ["What's your budget?", "What is your budget, in words?"])
def test_a_reply_that_states_the_budget_never_reaches_the_seller(question):
    with ChatStub(scripted_buyer) as server:
        obs, reward, term, trunc, info = play(llm_env(server), [question])[-1]
    assert (info["reply"], info["buyer_fault"], reward, term) == (LEAK_REPLY, "leak", 0.0, False)
    assert "30,000" not in obs and "grand" not in obs.lower()
    assert info["messages"][-1] == {"role": "user", "content": LEAK_REPLY}


def test_503s_are_retried_and_an_endpoint_that_stays_down_is_one_clear_error(tmp_path):
    with ChatStub(scripted_buyer, fail_first=2) as server:
        trace = play(llm_env(server, tmp_path / "c.sqlite"), NEGOTIATION[:2])
        assert trace[-1][4]["reply"] == "That's too much for me. I could pay $27,000."
        assert len(server.requests) == 2 + 2  # two 503s, then both lines answered
    with ChatStub(scripted_buyer, status=503) as server:
        env = llm_env(server, tmp_path / "c2.sqlite", oracle_max_attempts=3)
        env.reset(seed=0, options={"target": TARGET})
        with pytest.raises(OracleError, match=rf"oracle endpoint {re.escape(server.url)} failed after 3 attempts "
                                              r"\(last: HTTP 503") as e:
            env.step("What car would you like?")
        assert e.value.status == 503 and len(server.requests) == 3
        assert len(env.unwrapped.oracle.cache) == 0  # nothing from a failed call is cached


def test_a_replayed_episode_is_identical_and_served_from_the_cache(tmp_path):
    lines = NEGOTIATION[:3] + ["What's your budget?", "deal"]
    with ChatStub(scripted_buyer) as server:
        first = play(llm_env(server, tmp_path / "c.sqlite"), lines)
        served = len(server.requests)
        again = play(llm_env(server, tmp_path / "c.sqlite"), lines)
        assert len(server.requests) == served == 5  # the replay asked the endpoint nothing
    assert again == first


def test_vector_envs_share_one_buyer_oracle_and_equal_single_envs():
    from archer_gym import make_vec

    with ChatStub(scripted_buyer) as server:
        venv = make_vec(ENV_ID, 3, oracle="openai", oracle_model="stub-buyer", oracle_base_url=server.url,
                        oracle_cache=None)
        assert len({id(e.oracle) for e in venv.envs}) == 1
        venv.reset(seed=0, options=[{"target": TARGET}] * 3)
        batched = [venv.step([line] * 3) for line in NEGOTIATION]
        single = play(llm_env(server), NEGOTIATION)[1:]
    assert all(step == [one] * 3 for step, one in zip(batched, single))


def test_check_env_passes_with_the_llm_buyer(tmp_path):
    with ChatStub(scripted_buyer) as server:
        check_env(llm_env(server, tmp_path / "c.sqlite").unwrapped, skip_render_check=True)
        check_env(llm_env(server, None).unwrapped, skip_render_check=True)
        assert server.requests


def test_oracle_options_and_errors():
    with ChatStub(scripted_buyer) as server:
        env = llm_env(server, oracle_seed=7, oracle_max_tokens=20)
        play(env, ["What car would you like?"])
        assert (server.requests[-1]["seed"], server.requests[-1]["max_tokens"]) == (7, 20)
    assert gym.make(ENV_ID, oracle="kb").unwrapped.oracle is None  # "kb" is the scripted buyer, as None is
    with pytest.raises(ValueError, match=r"oracle='gpt' is not an oracle backend; choose one of \['kb', 'hf', 'openai'\]"):
        gym.make(ENV_ID, oracle="gpt")
    with pytest.raises(ValueError, match=r"oracle='openai' for task 'car_dealer' needs oracle_model="):
        gym.make(ENV_ID, oracle="openai")
    with pytest.raises(TypeError, match=r"oracle='kb' got unknown option\(s\) \['model'\]"):
        gym.make(ENV_ID, oracle_model="m")


# --------------------------------------------------------------------------- "hf": a tiny random model, offline
def test_hf_buyer_on_a_tiny_model_is_deterministic_cached_and_never_crashes(tmp_path, monkeypatch):
    """A random 1-layer GPT-2 cannot negotiate: its replies are noise, each shown as it came or replaced as
    documented; the point is the hf path end to end (prompt rendering, greedy generation, the cache, check_env)."""
    from tests.test_oracles import _tiny_model_dir

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    path = _tiny_model_dir(tmp_path, n_positions=4096)  # the buyer's prompt is ~1,000 characters, a token each

    def make():
        return gym.make(ENV_ID, oracle="hf", oracle_model=path, oracle_max_new_tokens=8,
                        oracle_cache=tmp_path / "c.sqlite")

    env = make()
    assert env.unwrapped.oracle.backend.max_new_tokens == 8
    lines = NEGOTIATION + ["What's your budget?"]
    first = play(env, lines)
    assert all(s[4]["buyer_fault"] in ("", "malformed", "unoffered", "over_budget", "leak") for s in first[1:])
    again = make()
    calls = []
    monkeypatch.setattr(again.unwrapped.oracle.backend, "complete", lambda prompts: calls.append(prompts))
    assert play(again, lines) == first and calls == []  # replayed from the cache, the model never called
    check_env(make().unwrapped, skip_render_check=True)
    assert gym.make(ENV_ID, oracle="hf", oracle_model=path, oracle_cache=None).unwrapped.oracle.backend \
        .max_new_tokens == 64  # the buyer's default: room for two sentences


def test_every_info_key_and_docstring_section_is_documented():
    from tasks.car_dealer.env import CarDealerEnv

    with ChatStub(scripted_buyer) as server:
        trace = play(llm_env(server), NEGOTIATION)
    keys = set().union(*(step[4] for step in trace[1:]))
    doc = CarDealerEnv.__doc__
    sections = re.findall(r"^    ## (\w[\w ]*)$", doc, flags=re.M)
    assert sections == ["Description", "Action Space", "Observation Space", "Starting State", "Rewards",
                        "Episode End", "Information", "Arguments", "References", "Version History"]
    information = doc.split("## Information", 1)[1].split("## Arguments", 1)[0]
    assert {k for k in keys if f"``{k}``" not in information} == set()
