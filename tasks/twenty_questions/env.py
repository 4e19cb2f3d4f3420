"""Twenty Questions (LMRL-Gym word list) as an archer-gym text env."""

from __future__ import annotations

from typing import Any

from archer_gym.env import MAX_OBSERVATION_LENGTH, StepResult, TextGameEnv, clean_text
from archer_gym.oracles.guard import disguised_mention, letter_hint
from archer_gym.oracles.base import Oracle, OracleRequest
from archer_gym.oracles.factory import CHOICES as ORACLE_CHOICES, env_oracle
from tasks.twenty_questions.questions import CORRECT, DONT_UNDERSTAND, NO, answer, load_knowledge

INSTRUCTION = (
    "Let's play Twenty Questions. I am thinking of an object. Ask yes/no questions to find out what it "
    "is, and guess it by asking \"Is it a ...?\"."
)
WORD_SETS = ("full", "subset")
ORACLE_BACKENDS = ORACLE_CHOICES


class TwentyQuestionsEnv(TextGameEnv):
    """Find the hidden object by asking yes/no questions.

    ## Description
    The env thinks of one object from LMRL-Gym's Twenty Questions list (158 words in 17
    categories, ``word_set="full"``) or from a 10-word subset (``word_set="subset"``: Football, Dog,
    Banana, Truck, Pants, Computer, Piano, Chair, Pen, Scissors). The agent asks yes/no questions
    and wins by naming the object ("Is it a dog?"). By default a knowledge base answers: every word
    has 141 yes/no facts, each asked by several phrasings (see ``questions.py``).

    ## Action Space
    ``Text(max_length=500)``: one question. Any ``str`` is a legal, costly turn; longer text is cut
    and characters outside the charset are dropped. A non-``str`` raises ``TypeError``.

    ## Observation Space
    ``Text(max_length=20000)``: the instruction paragraph, a blank line, then two lines per turn::

        Let's play Twenty Questions. I am thinking of an object. Ask yes/no questions ... "Is it a ...?".

        Q: Is it an animal?
        A: No.

    ## Starting State
    ``reset(seed=s)`` draws the target from the split's targets; on the eval split episodes walk
    a fixed seeded sequence. ``reset(options={"target": name})`` picks a target (variants accepted:
    "Plane" gives Airplane).

    ## Rewards
    -1 per question; 0 on the turn the object is guessed. Returns lie in [-20, 0].

    ## Episode End
    Terminated when the object is guessed (a question naming the target or one of its variants and
    nothing else); truncated after ``max_turns`` questions (default 20).

    ## Information
    - ``turn`` (int): questions asked so far.
    - ``success`` (bool): the object was guessed on this turn.
    - ``reply`` (str): "Yes.", "No.", "I don't understand the question." or "Yes! You guessed it."
    - ``invalid_action`` (bool): the question was empty, cut, had characters dropped, or was not
      understood; it still cost the turn.
    - ``guess`` (str): the canonical word the question guessed, "" if it was not a guess.
    - ``episode`` (dict, at episode end only): ``return``, ``length``, ``success``, ``target``.
    - ``messages`` (list[dict], every step and reset): the episode so far as OpenAI chat messages (system: the
      instruction; assistant: the questions as read; user: the replies); see :mod:`archer_gym.chat`.

    ## Arguments
    - ``word_set``: "full" (158 words) or "subset" (10 words).
    - ``split``: "train" or "eval"; ``holdout_fraction``: 0 (both splits cover every word, as in
      the paper) or in (0, 1) for disjoint train/eval words.
    - ``max_turns``: question cap (truncation).
    - ``oracle``: None or "kb" (the knowledge base), "hf" or "openai" (an LLM plays the oracle; options
      ``oracle_model=``, ``oracle_base_url=``, ... see docs/oracles.md), or any :class:`Oracle` object (shared by vector
      envs). Whatever the oracle says, success is decided by the env's own guess parser, a wrong
      guess is answered "No.", and a reply that names the secret is replaced.
    - ``render_mode``: "ansi", "human" or None.

    ## References
    - Abdulhai et al., "LMRL Gym: Benchmarks for Multi-Turn Reinforcement Learning with Language
      Models", 2023 (word list and reward).
    - Zhou et al., "ArCHer: Training Language Model Agents via Hierarchical Multi-Turn RL", 2024.

    ## Version History
    - v0: initial release (knowledge-base oracle, 141 attributes).
    """

    def __init__(
        self,
        word_set: str = "full",
        split: str = "train",
        holdout_fraction: float = 0.0,
        max_turns: int = 20,
        oracle: Oracle | str | None = None,
        render_mode: str | None = None,
        **oracle_kwargs: Any,
    ):
        if word_set not in WORD_SETS:
            raise ValueError(f"word_set={word_set!r}; choose one of {list(WORD_SETS)}.")
        self.kb = load_knowledge()
        self.word_set = word_set
        # The base class reads all_targets in __init__, so it is set per instance first.
        self.all_targets = self.kb.subset if word_set == "subset" else self.kb.words
        oracle = env_oracle(oracle, task="twenty_questions", kb_answer=answer, **oracle_kwargs)
        super().__init__(split=split, holdout_fraction=holdout_fraction, max_turns=max_turns,
                         oracle=oracle, render_mode=render_mode)

    # ----------------------------------------------------------------- task hooks
    def instruction(self) -> str:
        return INSTRUCTION

    def resolve_target(self, name: str) -> str:
        word = self.kb.resolve(name)
        if word is None or word not in self.all_targets:
            raise ValueError(f"unknown target {name!r} for word_set={self.word_set!r}; "
                             f"valid targets: {list(self.all_targets)}")
        return word

    def _request(self, action: str) -> OracleRequest | None:
        if not action:
            return None
        return OracleRequest(task="twenty_questions", secret=self._target, question=action,
                             history=self.exchanges, aliases=self.kb.variants[self._target][1:])

    def _apply(self, action: str, reply: str | None) -> StepResult:
        guess = self.kb.parse_guess(action) if action else None
        success = guess == self._target
        if success:
            reply = CORRECT
        elif guess is not None:
            reply = NO  # the env, not the oracle, judges guesses
        elif reply is None or self.kb.mentions(reply, self._target) or self._disguised(reply):
            reply = DONT_UNDERSTAND  # empty question, or an oracle reply that would leak the secret
        reply = reply.strip() or DONT_UNDERSTAND
        return StepResult(
            reward=0.0 if success else -1.0, terminated=success, success=success, reply=reply,
            history_lines=self.transcript_lines(action, reply),
            info={"invalid_action": reply == DONT_UNDERSTAND, "guess": guess or ""},
        )

    def _disguised(self, reply: str) -> bool:
        """The secret in a disguise (spelled out, reversed, split, glued to digits, fullwidth, homoglyphs, accents
        or zero-width characters) or its first letter stated, read both as ``info["reply"]`` holds it and as the
        observation shows it."""
        names = self.kb.variants[self._target]
        return any(disguised_mention(text, names) or letter_hint(text, names)
                   for text in (reply, clean_text(reply, MAX_OBSERVATION_LENGTH)))

    # ----------------------------------------------------------------- scripted policies
    def scripted_policies(self) -> dict[str, Any]:
        """Name -> factory(env, rng) for ``expert``, ``noisy`` and ``random`` (see ``policies.py``)."""
        from tasks.twenty_questions.policies import POLICIES, make_policy

        return {name: (lambda env, rng=None, _n=name: make_policy(_n, env.word_set, rng=rng)) for name in POLICIES}
