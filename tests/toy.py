"""A toy task for testing the core and the agents without any real game: guess a colour.

Target: one of four colours. "Is it warm?" is answered from a tiny knowledge base; naming the colour
("red") wins. The expert asks the warm question once, then guesses; random says random words.
"""

from __future__ import annotations

import numpy as np

from archer_gym import KnowledgeBaseOracle, OracleRequest, StepResult, TaskSpec, TextGameEnv, register_task

WARM = {"red": True, "orange": True, "blue": False, "green": False}


def _answer(secret: str, question: str) -> str:
    if "warm" in question.lower().replace("?", " ").split():
        return "Yes." if WARM[secret] else "No."
    return "No."


class ToyColourEnv(TextGameEnv):
    all_targets = ("red", "orange", "blue", "green")

    def __init__(self, max_turns: int = 6, oracle=None, **kw):
        super().__init__(max_turns=max_turns, oracle=oracle or KnowledgeBaseOracle(_answer, "toy"), **kw)

    def instruction(self) -> str:
        return "Guess my colour."

    def _request(self, action: str):
        return OracleRequest(task="toy", secret=self.target, question=action) if action else None

    def _apply(self, action: str, reply):
        words = action.lower().replace("?", " ").split()
        win = self.target in words and len([w for w in words if w in WARM]) == 1
        reply = "Yes!" if win else (reply or "What?")
        return StepResult(reward=0.0 if win else -1.0, terminated=win, success=win, reply=reply,
                          history_lines=[f"Q: {action}", f"A: {reply}"], info={"invalid_action": not action})

    def scripted_policies(self):
        return {"expert": lambda env, rng: _expert, "random": lambda env, rng: _Random(rng)}


def _expert(observation: str) -> str:
    lines = observation.split("\n\n", 1)[1].splitlines() if "\n\n" in observation else []
    answers = [l[3:] for l in lines if l.startswith("A: ")]
    questions = [l[3:] for l in lines if l.startswith("Q: ")]
    if not questions or "warm" not in questions[0]:
        return "Is it warm?"
    pool = ["red", "orange"] if answers[0] == "Yes." else ["blue", "green"]
    tried = {q for q in questions}
    for c in pool:
        if c not in tried:
            return c
    return pool[0]


class _Random:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def __call__(self, observation: str) -> str:
        return str(self.rng.choice(["Is it warm?", "red", "orange", "blue", "green", "hello"]))


register_task(TaskSpec(id="archer/ToyColour-v0", entry_point="tests.toy:ToyColourEnv", max_turns=6, task="toy",
                       description="test-only toy task"))
