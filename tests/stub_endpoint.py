"""A stub OpenAI-compatible chat endpoint on 127.0.0.1 that plays Twenty Questions by a fixed rule, so every figure
of a prompted LLM's evaluation is known by hand: used by tests/test_llm_agent.py (the agent and its CLI) and
tests/test_compare.py (the comparison's prompted reference row). It is a :class:`tests.loopback.ChatStub`."""

from tests.loopback import ChatStub

#: The stub guesses these in order, one per turn: the target at index j is found with return -j.
WORDS = ["Football", "Dog", "Banana", "Truck", "Pants", "Computer", "Piano", "Chair", "Pen", "Scissors"]


def _guess_in_order(req: dict) -> str:
    k = sum(m["role"] == "assistant" for m in req["messages"])
    return f"Is it a {WORDS[k % len(WORDS)]}?\nI am reasoning about it."


def StubServer(fail_first: int = 0, status: int = 200, delay: float = 0.02) -> ChatStub:
    """Replies "Is it a <WORDS[k]>?" where k is the number of assistant messages so far (plus a second line the
    agent must drop). ``fail_first`` requests get HTTP 503 first; ``status`` forces a status."""
    return ChatStub(_guess_in_order, fail_first=fail_first, status=status, delay=delay)
