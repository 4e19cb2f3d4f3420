"""archer/GuessMyCity-v0: find a person's home town among LMRL-Gym's 100 cities by asking them."""

from __future__ import annotations

from typing import Any

from archer_gym.env import StepResult, TextGameEnv, clean_text
from archer_gym.oracles.guard import disguised_mention, letter_hint
from archer_gym.oracles.base import Oracle, OracleRequest
from archer_gym.oracles.factory import CHOICES as ORACLE_BACKENDS, env_oracle
from tasks.guess_my_city import questions as kb

INSTRUCTION = (
    "Let's play Guess My City. I am thinking of a city I call home. Ask me questions about it, "
    'and guess it by asking "Is it ...?".'
)
#: Longest oracle reply kept in the history (LLM oracles can ramble).
MAX_REPLY_LENGTH = 300
#: Oracle backends this env builds from a name.
ORACLE_CHOICES = ORACLE_BACKENDS


class GuessMyCityEnv(TextGameEnv):
    """Guess My City: find the secret home town of the oracle in at most ``max_turns`` questions.

    ## Description
    The env hides one of LMRL-Gym's 100 cities (Seoul, Sao Paulo, Mumbai, ..., Caracas). The agent
    talks to a person from that city: yes/no questions ("Is it in Asia?", "Is it on the coast?",
    "Do people speak Spanish there?") and open questions ("What country is it in?", "What's the
    weather like?", "What is it famous for?") get short natural replies built from a fact table
    (``cities.json``: country, continent, hemispheres, coast, capital, population band, languages,
    climate, river or sea, landmarks, foods, time zone, province). The person never says the city's
    name or an alias; every reply passes through an alias-redacting guard, whatever the oracle.
    A *guess* names one city or one of its aliases and nothing else ("Is it Bombay?", "Are you from
    Saint Petersburg?", "My guess is Kyiv"); the env itself judges guesses, so an LLM oracle can
    never grant or deny success.

    ## Action Space
    ``Text(max_length=500, charset=CHARSET)``: one utterance. Any ``str`` is a legal turn (longer
    text is cut, characters outside the charset dropped). Non-``str`` actions raise ``TypeError``.

    ## Observation Space
    ``Text(max_length=20000, charset=CHARSET)``: the instruction paragraph exactly
    ``Let's play Guess My City. I am thinking of a city I call home. Ask me questions about it, and
    guess it by asking "Is it ...?".`` then a blank line, then per turn the two lines
    ``Q: <question>`` and ``A: <reply>``.

    ## Starting State
    ``reset(seed=s)`` draws the city from the split's cities (train: uniformly; eval: a fixed seeded
    sequence that walks every city evenly). ``reset(options={"target": "Bombay"})`` picks a city by
    name or alias.

    ## Rewards
    -1 for every turn that does not guess the city (questions, wrong guesses, unanswerable text);
    0 on the turn that guesses it. Returns lie in [-max_turns, 0].

    ## Episode End
    Terminated when the city is guessed (success). Truncated after ``max_turns`` turns (20 by
    default) without the right guess.

    ## Information
    - ``turn`` (int): turns taken so far.
    - ``success`` (bool): this turn guessed the city.
    - ``reply`` (str): the oracle's (or the env's, for guesses) reply, as shown after ``A:``.
    - ``invalid_action`` (bool): the turn was empty, cut, mapped to the charset, or got a
      non-answer ("I'm not sure how to answer that.", a refusal to say the name, or the request to
      guess one city at a time). It still cost the turn.
    - ``guess`` (str | None): the canonical city the action guessed, ``None`` if it was no guess.
    - ``episode`` (dict, last step only): ``return``, ``length``, ``success``, ``target``.
    - ``messages`` (list[dict], every step and reset): the episode so far as OpenAI chat messages (system: the
      instruction; assistant: the questions as read; user: the replies); see :mod:`archer_gym.chat`.

    ## Arguments
    - ``split`` ("train" | "eval"): both cover all 100 cities unless ``holdout_fraction > 0``.
    - ``holdout_fraction`` (float in [0, 1)): fraction of cities held out for ``eval`` only.
    - ``max_turns`` (int, default 20): the turn cap (truncation).
    - ``oracle``: ``None`` or ``"kb"`` for the deterministic knowledge-base oracle, ``"hf"`` or
      ``"openai"`` for an LLM oracle (options ``oracle_model=``, ``oracle_base_url=``, ...; see
      docs/oracles.md), or any object with ``answer_batch(requests) -> list[str]``.
    - ``render_mode`` ("ansi" | "human" | None).

    ## References
    - Abdulhai et al., "LMRL Gym: Benchmarks for Multi-Turn Reinforcement Learning with Language
      Models" (2023): the Guess My City task and its 100 cities.
    - Zhou et al., "ArCHer: Training Language Model Agents via Hierarchical Multi-Turn RL" (2024).

    ## Version History
    - v0: initial version (knowledge-base oracle, env-judged guesses, alias redaction).
    """

    all_targets = kb.CITY_NAMES

    def __init__(self, split: str = "train", holdout_fraction: float = 0.0, max_turns: int = 20,
                 oracle: Oracle | str | None = None, render_mode: str | None = None, **oracle_kwargs: Any):
        oracle = env_oracle(oracle, task="guess_my_city", kb_answer=kb.answer, **oracle_kwargs)
        super().__init__(split=split, holdout_fraction=holdout_fraction, max_turns=max_turns,
                         oracle=oracle, render_mode=render_mode)

    # ----------------------------------------------------------------- task hooks
    def instruction(self) -> str:
        return INSTRUCTION

    def resolve_target(self, name: str) -> str:
        city = kb.CITY_INDEX.get(kb.normalize(str(name)))
        if city is None:
            raise ValueError(f"unknown city {name!r} for GuessMyCityEnv; valid cities: {list(kb.CITY_NAMES)}")
        return city

    def _request(self, action: str) -> OracleRequest | None:
        if kb.parse_guess(action) is not None:
            return None  # the env judges guesses itself
        return OracleRequest(task="guess_my_city", secret=self._target, question=action,
                             history=self.exchanges, aliases=kb.names_of(self._target)[1:])

    def _apply(self, action: str, reply: str | None) -> StepResult:
        guess = kb.parse_guess(action)
        if guess is not None:
            success = guess == self._target
            text = kb.CORRECT_GUESS_REPLY if success else kb.WRONG_GUESS_REPLY
        else:
            success = False
            text = kb.UNSURE_REPLY if reply is None else str(reply)
            raw = text
            # Last line of defence, whatever the oracle: one line, no name or alias, bounded length.
            text = clean_text(" ".join(text.split()), MAX_REPLY_LENGTH)
            text = clean_text(kb.redact(text, self._target), MAX_REPLY_LENGTH) or kb.UNSURE_REPLY
            names = kb.names_of(self._target)
            if disguised_mention(text, names) or disguised_mention(kb.redact(raw, self._target), names) \
                    or letter_hint(text, names):
                text = kb.UNSURE_REPLY  # the name in a disguise the redaction cannot cut out, or its first letter
        return StepResult(
            reward=0.0 if success else -1.0, terminated=success, success=success, reply=text,
            history_lines=self.transcript_lines(action, text),
            info={"invalid_action": text in kb.NON_ANSWERS, "guess": guess},
        )

    # ----------------------------------------------------------------- scripted policies
    def scripted_policies(self) -> dict[str, Any]:
        """Name -> ``factory(env, rng=None)`` of the scripted policies (``expert``, ``noisy``, ``random``);
        they consider the env split's cities."""
        from tasks.guess_my_city.policies import POLICIES, make_policy

        return {name: (lambda env, rng=None, _n=name: make_policy(_n, rng=rng, cities=env.targets))
                for name in POLICIES}
