"""archer/Wordle-v0: guess a hidden five-letter word in six tries, LMRL-Gym's feedback and reward."""

from __future__ import annotations

import re
from typing import Any

from archer_gym.chat import split_dialogue
from archer_gym.env import MAX_OBSERVATION_LENGTH, StepResult, TextGameEnv, clean_text, fit_observation
from tasks.wordle.game import WORD_LENGTH, feedback, guess_set, solutions

INVALID_REPLY = "not a valid guess (reply with one five-letter English word from the word list)"
_ECHO_CHARS = 40
_SEPARATORS = re.compile(r"[\s.,!?;:'\"`()\[\]-]+")


def normalise_guess(action: str) -> str:
    """The word an action guesses: lower-cased, spaces and punctuation removed ("C r a n e." -> "crane")."""
    return _SEPARATORS.sub("", action).lower()


def is_valid_guess(word: str) -> bool:
    """A normalised guess the rules accept: a five-letter word of ``guesses.txt``."""
    return len(word) == WORD_LENGTH and word in guess_set()


def turn_lines(number: int, action: str, reply: str) -> list[str]:
    """The two observation lines of guess ``number`` (from 1): the guess as read (the normalised word, or the
    refused text cut to 40 characters) and the feedback or why it was refused."""
    word = normalise_guess(action)
    echo = word if is_valid_guess(word) else (action[:_ECHO_CHARS] + ("..." if len(action) > _ECHO_CHARS else "")
                                              or "(nothing)")
    return [f"Guess {number}: {echo}", f"Feedback: {reply}"]


class WordleEnv(TextGameEnv):
    """Guess the hidden five-letter word in six tries from per-letter feedback.

    ## Description
    The env hides one word of ``solutions.txt`` (2,132 common English base words built from SCOWL, see
    ``tasks/wordle/README.md``). Each turn the agent guesses a word of ``guesses.txt`` (6,734 words) and is told,
    for each letter, ``g`` (right letter, right place), ``y`` (the letter is in the word, elsewhere) or ``b``
    (not in the word). The rule is LMRL-Gym's: repeated letters are not counted, so a letter is ``y`` whenever
    it occurs anywhere else in the word ("eerie" against "crane" is ``y y y b g``). LMRL-Gym draws the word
    afresh among the words still consistent at every step; a word fixed at reset gives the same feedback
    distribution and lets ``reset(options={"target": w})`` replay a game.

    ## Action Space
    ``Text(max_length=500)``: one guess. Spaces and punctuation are dropped and case ignored, so "crane",
    "CRANE." and LMRL-Gym's spelled-out "c r a n e" are the same guess. Any ``str`` is a legal turn: text that
    is not a word of the guess list is refused, sets ``info["invalid_action"]`` and costs one of the six
    tries (LMRL-Gym's ``bad_word_reward``). A non-``str`` raises ``TypeError``.

    ## Observation Space
    ``Text(max_length=20000)``: the instruction paragraph, a blank line, then two lines per guess::

        Let's play Wordle. ... You have 6 guesses.

        Guess 1: raise
        Feedback: b y b b g
        Guess 2: hello world
        Feedback: not a valid guess (reply with one five-letter English word from the word list)

    ## Starting State
    ``reset(seed=s)`` draws the word from the split's words; on the eval split the episodes walk a fixed
    seeded sequence. ``reset(options={"target": word})`` picks any word of ``solutions.txt``.

    ## Rewards
    LMRL-Gym's: -1 for every guess that does not find the word (refused guesses included), 0 for the guess
    that does. Returns lie in [-6, 0].

    ## Episode End
    Terminated when the word is guessed (success) or after the sixth guess (the game is lost: a real end, so
    ``terminated``, never ``truncated``; ``max_turns`` sets the number of tries).

    ## Information
    - ``turn`` (int): guesses made; ``success`` (bool): this guess found the word.
    - ``reply`` (str): the feedback (``"b y b b g"``) or why the guess was refused.
    - ``invalid_action`` (bool): the guess was refused (not a listed word), empty, or had to be cut or mapped.
    - ``guess`` (str): the normalised guess (``""`` if empty); ``feedback`` (str): ``"bybbg"``, ``""`` if refused.
    - ``episode`` (dict, at episode end only): ``return``, ``length``, ``success``, ``target``.
    - ``messages`` (list[dict], every step and reset): the episode so far as OpenAI chat messages (system: the
      instruction; assistant: the guesses as read; user: the feedback or why the guess was refused); see
      :mod:`archer_gym.chat`.

    ## Arguments
    - ``split``: ``"train"`` or ``"eval"``; ``holdout_fraction``: the fraction of hidden words kept for eval
      only (0.2 in the registry: 426 eval words never trained on; 0 makes both splits cover every word).
    - ``max_turns``: number of tries (6).
    - ``oracle``: must be None (the rules answer by themselves); accepted so vector helpers can pass it.
    - ``render_mode``: ``"ansi"``, ``"human"`` or None.

    ## References
    - Abdulhai et al., "LMRL Gym: Benchmarks for Multi-Turn Reinforcement Learning with Language Models", 2023
      (the Wordle task, its feedback rule and reward).
    - K. Atkinson, SCOWL (Spell Checker Oriented Word Lists), the source of both word lists.

    ## Version History
    - v0: initial release (2,132 hidden words, 6,734 allowed guesses, LMRL-Gym's feedback and reward).
    """

    def __init__(self, *, split: str = "train", holdout_fraction: float = 0.0, max_turns: int = 6,
                 oracle: None = None, render_mode: str | None = None, max_action_length: int = 500):
        if oracle is not None:
            raise ValueError(f"oracle={oracle!r}: Wordle's rules answer by themselves; pass oracle=None.")
        self.all_targets = solutions()
        super().__init__(split=split, holdout_fraction=holdout_fraction, max_turns=max_turns, oracle=None,
                         render_mode=render_mode, max_action_length=max_action_length)

    def instruction(self) -> str:
        return ("Let's play Wordle. Guess the hidden five-letter English word. Reply with one five-letter word. "
                "After each guess you get one letter per position: g means the right letter in the right place, "
                "y means the letter is in the word but elsewhere, b means the letter is not in the word. "
                f"You have {self.max_turns} guesses.")

    def resolve_target(self, name: str) -> str:
        word = normalise_guess(str(name))
        if word not in self.all_targets:
            raise ValueError(f"unknown target {name!r} for Wordle: not one of the {len(self.all_targets)} hidden "
                             "words of tasks/wordle/solutions.txt.")
        return word

    def _request(self, action: str) -> None:
        return None  # the rules answer by themselves

    def _apply(self, action: str, reply: str | None) -> StepResult:
        word = normalise_guess(action)
        valid = is_valid_guess(word)
        fb = feedback(word, self._target) if valid else ""
        success = valid and word == self._target
        lost = self._turn + 1 >= self.max_turns
        reply = " ".join(fb) if valid else INVALID_REPLY
        return StepResult(reward=0.0 if success else -1.0, terminated=success or lost, success=success, reply=reply,
                          history_lines=turn_lines(self._turn + 1, action, reply),
                          info={"invalid_action": not valid, "guess": word, "feedback": fb})

    def observation_from_messages(self, messages) -> str:
        """The numbered ``Guess n:`` / ``Feedback:`` lines of every turn, as :meth:`observation` shows them."""
        instruction, _, turns = split_dialogue(messages)
        head = clean_text(instruction + "\n\n", MAX_OBSERVATION_LENGTH)
        lines = [clean_text(line, MAX_OBSERVATION_LENGTH) + "\n"
                 for n, (action, reply) in enumerate(turns, 1) for line in turn_lines(n, action, reply)]
        return fit_observation(head, lines)

    def scripted_policies(self) -> dict[str, Any]:
        from tasks.wordle.policies import POLICIES
        return dict(POLICIES)
