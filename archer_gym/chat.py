"""The dialogue of an episode as OpenAI chat messages: the one rendering every chat-speaking consumer uses.

    import gymnasium as gym, archer_gym
    from archer_gym.chat import chat_messages

    env = gym.make("archer/TwentyQuestionsSubset-v0")
    obs, info = env.reset(seed=0)
    obs, r, term, trunc, info = env.step("Is it an animal?")
    chat_messages(env) == info["messages"]
    # [{"role": "system", "content": "Let's play Twenty Questions. ..."},
    #  {"role": "assistant", "content": "Is it an animal?"},
    #  {"role": "user", "content": "No."}]

* **system**: the task's instruction, exactly the first paragraph of the text observation.
* **user** (only where the task shows something before the first turn: Detective's room, WebShop's search page,
  Maze's state line, MazePO's walls at the start, CarDealer's buyer greeting, ChessEndgame's start position): that
  opening state.
* **assistant**: each of the agent's utterances *as the env read it* (characters outside the charset mapped,
  newlines made spaces, cut to the action space's length), so a model trained on these messages learns what the
  env saw.
* **user**: each reply, then, for tasks with a state beside the dialogue (Detective, WebShop, fully observed Maze,
  ChessEndgame's position), a blank line and the state after the turn.

Each env's ``observation_from_messages(messages)`` renders the text observation back from the messages, and
``tests/test_chat.py`` holds the two equal at every step of every registered env. The text observation of
Detective, Maze and ChessEndgame shows only the last few turns and of WebShop only the current page; the messages
keep the whole episode.

Used by the LLM agent (``python -m archer_gym evaluate --policy openai``, :mod:`archer_gym.llm_agent`), the
trajectory datasets (:mod:`archer_gym.dataset`), and the actor's chat-template path (:func:`observation_messages`).
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym

Messages = list[dict[str, str]]
ROLES = ("system", "user", "assistant")


def chat_messages(env: gym.Env) -> Messages:
    """The episode so far in ``env`` (any wrapper of an archer-gym env) as OpenAI chat messages."""
    return env.unwrapped.messages()


def validate_messages(messages: Any) -> Messages:
    """``messages`` if it is a list of ``{"role", "content"}`` dicts with str contents and known roles; else
    ``ValueError`` naming the first bad entry."""
    if not isinstance(messages, (list, tuple)):
        raise ValueError(f"messages must be a list of {{'role', 'content'}} dicts, got {type(messages).__name__}")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or set(m) != {"role", "content"}:
            raise ValueError(f"messages[{i}] must be a dict with exactly 'role' and 'content', got {m!r:.120}")
        if m["role"] not in ROLES or not isinstance(m["content"], str):
            raise ValueError(f"messages[{i}] has role {m['role']!r} (choose one of {list(ROLES)}) and content of "
                             f"type {type(m['content']).__name__} (must be str)")
    return list(messages)


def split_dialogue(messages: Sequence[dict[str, str]]) -> tuple[str, str | None, list[tuple[str, str]]]:
    """``(instruction, opening state or None, [(utterance, user message), ...])`` of messages laid out as
    :func:`chat_messages` lays them out; ``ValueError`` on any other layout."""
    messages = validate_messages(messages)
    if not messages or messages[0]["role"] != "system":
        raise ValueError("chat messages of an episode start with the system message (the instruction)")
    rest = messages[1:]
    opening = None
    if rest and rest[0]["role"] == "user":
        opening, rest = rest[0]["content"], rest[1:]
    if len(rest) % 2 or any(m["role"] != ("assistant", "user")[i % 2] for i, m in enumerate(rest)):
        raise ValueError("after the system message (and an optional opening user message) the messages alternate "
                         "assistant, user, one pair per turn")
    turns = [(rest[i]["content"], rest[i + 1]["content"]) for i in range(0, len(rest), 2)]
    return messages[0]["content"], opening, turns


def split_user_message(content: str) -> tuple[str, str]:
    """``(reply, state)`` of a user message of a task with a state beside the dialogue (``reply + "\\n\\n" +
    state``); the reply of such a task never holds a blank line."""
    reply, _, state = content.partition("\n\n")
    return reply, state


def observation_messages(observation: str) -> Messages:
    """The chat prompt of a memoryless policy that sees only the text observation: the same system message as
    :func:`chat_messages` (the instruction, the observation's first paragraph), then the rest of the observation
    as one user message (left out when empty, as at the first turn of Twenty Questions). The actor's
    chat-template path (``agents.policy.Actor``) renders its prompts with it."""
    instruction, sep, body = observation.partition("\n\n")
    out = [{"role": "system", "content": instruction}]
    if body:
        out.append({"role": "user", "content": body})
    return out


def window_from_messages(messages: Sequence[dict[str, str]], transcript_lines, history_turns: int
                         ) -> tuple[str, list[str], str]:
    """``(instruction, the last history_turns turns' transcript lines, the state)`` of the messages of a task whose
    user messages hold ``reply + "\\n\\n" + state`` (see :func:`split_user_message`): the state after the last turn,
    or the opening state before any. ``transcript_lines(action, reply)`` is the env's."""
    instruction, opening, turns = split_dialogue(messages)
    lines = [line for action, user in turns for line in transcript_lines(action, split_user_message(user)[0])]
    recent = lines[-2 * history_turns:] if history_turns else []
    state = split_user_message(turns[-1][1])[1] if turns else (opening or "")
    return instruction, recent, state
