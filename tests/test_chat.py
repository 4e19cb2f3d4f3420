"""Chat messages (issue 16, item 2): every env gives its episode as OpenAI chat messages that render back to the very
text observation it showed, at every step, for every registered id."""

import gymnasium as gym
import numpy as np
import pytest

import archer_gym
from archer_gym.chat import chat_messages, observation_messages, split_dialogue, split_user_message
from archer_gym.env import MAX_OBSERVATION_LENGTH, OMITTED_MARKER, clean_text
from archer_gym.evaluation import scripted_policy

IDS = archer_gym.list_ids()
#: Actions that stress the rendering: empty, a blank line inside, unicode, over-long, the word WebShop's
#: observation uses for "no action yet", brackets and braces (format strings).
ODD_ACTIONS = ["", "look\n\naround", "caf\u00e9 \u4f60\u597d?", "x" * 900, "none", "search[{}]", "click[ Next > ]"]


def _check_step(env, obs, info):
    u = env.unwrapped
    msgs = info["messages"]
    assert msgs == chat_messages(env)
    assert msgs is not chat_messages(env)  # a fresh copy: a caller may mutate it
    assert u.observation_from_messages(msgs) == obs
    instruction, opening, turns = split_dialogue(msgs)
    assert instruction == obs.split("\n\n", 1)[0]
    assert len(turns) == info["turn"]
    if turns:
        assert turns[-1][0] == u.exchanges[-1][0]  # the utterance as the env read it
        reply = turns[-1][1] if type(u).chat_view is archer_gym.TextGameEnv.chat_view else split_user_message(turns[-1][1])[0]
        assert reply == clean_text(info["reply"], MAX_OBSERVATION_LENGTH)


def _play(env, policy, seed, extra_actions=()):
    obs, info = env.reset(seed=seed)
    _check_step(env, obs, info)
    actions = list(extra_actions)
    while True:
        action = actions.pop(0) if actions else policy(obs)
        obs, r, term, trunc, info = env.step(action)
        _check_step(env, obs, info)
        if term or trunc:
            return info


@pytest.mark.parametrize("env_id", IDS)
def test_messages_render_back_to_the_observation_at_every_step(env_id):
    env = gym.make(env_id, split="eval")
    for name, seed in (("expert", 0), ("random", 1), ("random", 2)):
        info = _play(env, scripted_policy(env, name, np.random.default_rng(seed)), seed)
        assert info["messages"][0]["role"] == "system"
    _play(env, scripted_policy(env, "random", np.random.default_rng(3)), 3, ODD_ACTIONS)


@pytest.mark.parametrize("env_id", IDS)
def test_a_changed_message_no_longer_renders_the_observation(env_id):
    """Negative control: the equality above is not vacuous. The instruction, the last utterance and the last user
    message are all in every observation (older turns may be out of a windowed view)."""
    env = gym.make(env_id)
    env.reset(seed=0)
    for a in ("look", "search[coffee]", "Is it an animal?"):
        obs, r, term, trunc, info = env.step(a)
    for i in (0, -2, -1):
        changed = [dict(m) for m in info["messages"]]
        changed[i]["content"] = changed[i]["content"].replace(" ", "  ", 1) + " changed"
        assert env.unwrapped.observation_from_messages(changed) != obs, (env_id, i)


def test_detective_variants_render_too():
    for kwargs in ({"history_turns": 0}, {"history_turns": 1, "show_valid_actions": True}):
        env = gym.make("archer/Detective-v0", **kwargs)
        _play(env, scripted_policy(env, "expert", np.random.default_rng(0)), 0, ["look", "", "go north"])


def test_over_long_transcript_keeps_rendering_with_the_omitted_marker():
    env = gym.make("archer/TwentyQuestionsSubset-v0", max_turns=60)
    obs, info = env.reset(seed=0)
    for i in range(60):
        obs, r, term, trunc, info = env.step(f"Is it number {i}? " + "very " * 90)
        assert env.unwrapped.observation_from_messages(info["messages"]) == obs
    assert OMITTED_MARKER in obs and len(obs) <= MAX_OBSERVATION_LENGTH
    assert len(info["messages"]) == 1 + 2 * 60  # the messages keep every turn


def test_twenty_questions_messages_by_hand():
    env = gym.make("archer/TwentyQuestionsSubset-v0")
    env.reset(seed=0, options={"target": "Dog"})
    env.step("Is it an animal?")
    _, _, term, _, info = env.step("Is it a dog?")
    assert term
    assert info["messages"] == [
        {"role": "system", "content": env.unwrapped.instruction()},
        {"role": "assistant", "content": "Is it an animal?"},
        {"role": "user", "content": "Yes."},
        {"role": "assistant", "content": "Is it a dog?"},
        {"role": "user", "content": "Yes! You guessed it."},
    ]


def test_state_tasks_open_with_a_user_message():
    env = gym.make("archer/WebShop-v0")
    obs, info = env.reset(seed=0)
    assert [m["role"] for m in info["messages"]] == ["system", "user"]
    assert info["messages"][1]["content"].startswith("Step 0 of 10.\n")
    obs, *_, info = env.step("search[coffee]")
    reply, state = split_user_message(info["messages"][-1]["content"])
    assert reply == info["reply"] and state.startswith("Step 1 of 10.\n") and state.split("\n", 1)[1] in obs


@pytest.mark.parametrize("bad, match", [
    ("text", "must be a list"),
    ([{"role": "system"}], "exactly 'role' and 'content'"),
    ([{"role": "tool", "content": "x"}], "role 'tool'"),
    ([{"role": "user", "content": "x"}], "start with the system message"),
    ([{"role": "system", "content": "i"}, {"role": "assistant", "content": "a"}], "alternate"),
    ([{"role": "system", "content": "i"}, {"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
     "alternate"),
])
def test_malformed_messages_are_one_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        split_dialogue(bad)


@pytest.mark.parametrize("env_id", IDS)
def test_observation_messages_share_the_system_message(env_id):
    env = gym.make(env_id)
    obs, info = env.reset(seed=0)
    obs, *_, info = env.step("look")
    msgs = observation_messages(obs)
    assert msgs[0] == info["messages"][0]
    assert msgs[0]["content"] + "\n\n" + msgs[1]["content"] == obs


def test_maze_wordle_car_dealer_variants_render_too():
    """Settings the registry does not use: no or more recent turns in the fully observed maze, and transcripts long
    enough that the oldest turns give way to the omitted marker (MazePO, Wordle, CarDealer)."""
    rng = np.random.default_rng(0)
    for kwargs in ({"history_turns": 0}, {"history_turns": 5}):
        env = gym.make("archer/Maze-v0", **kwargs)
        _play(env, scripted_policy(env, "random", rng), 0, ["up", "", "move left"])
    long = ["x" * 400 + str(i) for i in range(200)]  # echoes are cut (to 60 in MazePO): 200 turns pass 20,000
    for env_id in ("archer/MazePO-v0", "archer/Wordle-v0", "archer/CarDealer-v0"):
        env = gym.make(env_id, max_turns=200)
        info = _play(env, scripted_policy(env, "random", rng), 0, long)
        obs = env.unwrapped.observation()
        assert OMITTED_MARKER in obs and len(obs) <= MAX_OBSERVATION_LENGTH, env_id
        assert env.unwrapped.observation_from_messages(info["messages"]) == obs


def test_maze_wordle_car_dealer_messages_by_hand():
    env = gym.make("archer/Maze-v0")
    obs, info = env.reset(options={"target": "1,1->8,6"})
    state = "The goal is at position 8, 6. Your current position is at position 1, 1. "
    start_walls = "There are walls to your left, above you, below you."
    assert info["messages"][1] == {"role": "user", "content": state + start_walls}
    obs, *_, info = env.step("Move Right.")
    assert info["messages"][2:] == [{"role": "assistant", "content": "Move Right."},
                                    {"role": "user", "content": "There are walls above you, below you.\n\n"
                                     + state.replace("1, 1", "1, 2") + "There are walls above you, below you."}]
    assert "> move right\n" in obs
    env = gym.make("archer/MazePO-v0")
    env.reset(options={"target": "1,1->8,6"})
    *_, info = env.step("move right")
    assert info["messages"][1:] == [{"role": "user", "content": start_walls},
                                    {"role": "assistant", "content": "move right"},
                                    {"role": "user", "content": "There are walls above you, below you."}]
    env = gym.make("archer/Wordle-v0")
    env.reset(options={"target": "crane"})
    *_, info = env.step("raise")
    assert info["messages"][1:] == [{"role": "assistant", "content": "raise"}, {"role": "user", "content": "y y b b g"}]
    env = gym.make("archer/CarDealer-v0")
    obs, info = env.reset(options={"target": "buyer-000"})
    greeting = env.unwrapped.buyer.opening()
    assert info["messages"][1] == {"role": "user", "content": greeting} and obs.endswith(f"\n\nBuyer: {greeting}\n")
    obs, *_, info = env.step("What would you like?")
    assert [m["role"] for m in info["messages"]] == ["system", "user", "assistant", "user"]
    assert obs.endswith(f"Seller: What would you like?\nBuyer: {info['messages'][-1]['content']}\n")


def test_chess_variants_render_too():
    """ChessEndgame with the diagram (show_board=True: the position spans 9 lines in every user message), with no or
    more recent turns shown, and with the random opponent (moves from the env's seeded generator)."""
    rng = np.random.default_rng(0)
    odd = ["a1a5", "Ra5!", "Rh1 .", "--", "You played Qd5."]  # UCI, SAN with a mark, illegal, the null move, a reply
    for kwargs in ({"show_board": True}, {"history_turns": 0}, {"history_turns": 5, "show_board": True},
                   {"opponent": "random"}):
        env = gym.make("archer/ChessEndgame-v0", **kwargs)
        _play(env, scripted_policy(env, "random", rng), 0, odd + ODD_ACTIONS)
    env = gym.make("archer/ChessEndgame-v0", show_board=True)  # to checkmate (the expert searches: one game, ~3 s)
    info = _play(env, scripted_policy(env, "expert", rng), 0)
    assert info["success"] and "Checkmate: you win." in info["messages"][-1]["content"]


def test_chess_messages_by_hand():
    kr = "8/8/8/4k3/8/8/8/R3K3 w - - 0 1"  # Ra5+ (said a1a5) is check; the defender answers Ke4
    after = "8/8/8/R7/4k3/8/8/4K3 w - - 2 2"
    env = gym.make("archer/ChessEndgame-v0")
    obs, info = env.reset(options={"target": kr})
    assert info["messages"][1:] == [{"role": "user", "content": f"Position (FEN): {kr}"}]
    env.step("a1a5")
    obs, *_, info = env.step("Rh1")
    assert info["messages"][2:] == [
        {"role": "assistant", "content": "a1a5"},
        {"role": "user", "content": f"You played Ra5+. Black played Ke4.\n\nPosition (FEN): {after}"},
        {"role": "assistant", "content": "Rh1"},
        {"role": "user",
         "content": f"Rh1 is not a legal move here: the board is unchanged.\n\nPosition (FEN): {after}"},
    ]
    # the observation shows the move in SAN however it was said, as the reply does
    assert obs.endswith("\n\n> Ra5+\nYou played Ra5+. Black played Ke4.\n> Rh1\n"
                        f"Rh1 is not a legal move here: the board is unchanged.\nPosition (FEN): {after}\n")
    empty = ". . . . . . . .\n"
    env = gym.make("archer/ChessEndgame-v0", show_board=True)
    obs, info = env.reset(options={"target": kr})
    board = empty * 3 + ". . . . k . . .\n" + empty * 3 + "R . . . K . . ."
    assert info["messages"][1:] == [{"role": "user", "content": f"Position (FEN): {kr}\n{board}"}]
    assert obs.endswith(f"\n\nPosition (FEN): {kr}\n{board}\n")
    obs, *_, info = env.step("a1a5")
    board = empty * 3 + "R . . . . . . .\n. . . . k . . .\n" + empty * 2 + ". . . . K . . ."
    assert info["messages"][2:] == [{"role": "assistant", "content": "a1a5"},
                                    {"role": "user", "content": "You played Ra5+. Black played Ke4.\n\n"
                                     f"Position (FEN): {after}\n{board}"}]
    assert obs.endswith(f"\n\n> Ra5+\nYou played Ra5+. Black played Ke4.\nPosition (FEN): {after}\n{board}\n")
