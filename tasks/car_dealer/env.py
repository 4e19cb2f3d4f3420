"""archer/CarDealer-v0: sell a car to a buyer (scripted, or an LLM) with a hidden budget; the reward is the sale
price."""

from __future__ import annotations

from typing import Any

from archer_gym.chat import split_dialogue
from archer_gym.env import MAX_OBSERVATION_LENGTH, StepResult, TextGameEnv, clean_text, fit_observation
from archer_gym.oracles.base import Oracle, OracleRequest
from archer_gym.oracles.factory import env_oracle
from tasks.car_dealer import llm_buyer
from tasks.car_dealer.buyer import ASK_OFFER, Buyer, Profile, parse_price, profile_names

_ECHO_CHARS = 300
#: Generation defaults of the LLM buyer where the caller sets none: room for two sentences (the guessing games'
#: oracles answer in a word or a line: 32 and 16 tokens), and a sampling seed sent to OpenAI-compatible endpoints
#: beside temperature 0, so that a backend that honours it answers the same prompt the same way.
LLM_BUYER_DEFAULTS = {"openai": {"oracle_max_tokens": 64, "oracle_seed": 0}, "hf": {"oracle_max_new_tokens": 64}}


def _no_knowledge_base(secret: str, question: str) -> str:
    raise RuntimeError("CarDealer's scripted buyer answers by itself; it has no knowledge-base oracle.")


class CarDealerEnv(TextGameEnv):
    """Negotiate as the seller with a buyer who has a hidden budget and preferences.

    ## Description
    LMRL-Gym's Car Dealer with a scripted, seeded buyer in place of its GPT-2 buyer, or an LLM buyer
    (``oracle="openai" | "hf"``, below). The scripted buyer (``buyer.py``)
    wants a car type (said at the start), a brand and one to four features (told when the seller asks a
    question), and has a budget of $10,000 to $90,000 that it never says. It answers each priced offer by
    accepting or with a counter-offer, and accepts more as the talk goes on, up to what the car is worth to it
    (its budget scaled by how well the car fits: 80% for the right type alone, 100% with its brand and every
    feature). After 4 to 7 refused offers, depending on the buyer, it leaves. Its personality changes only its
    greeting. The seller can also accept the buyer's last counter-offer ("deal").

    With ``oracle="openai"`` (an OpenAI-compatible endpoint), ``oracle="hf"`` (a local transformers model) or any
    :class:`~archer_gym.oracles.base.Oracle` object, a language model plays the same buyer instead: the same seeded
    profile and greeting, told to it as a persona with its budget, through the oracle machinery every LLM oracle uses
    (prompt template, SQLite cache, retries with backoff and per-attempt deadlines, ``OracleError`` when the attempts
    run out). It accepts a price by saying ``DEAL at $<price>``; the env, not the model, decides whether that is a
    deal (the price must be on the table and within the hidden budget), and replaces a reply that states the budget
    or cannot be read. ``llm_buyer.py`` documents the prompt and every rule of the verdict.

    ## Action Space
    ``Text(max_length=500)``: one seller line. The buyer reads car types, brands and features it knows, the
    last dollar amount ("$28,500", "28500", "28.5k"; amounts under $1,000 are not prices), a question mark,
    and acceptance words (deal, accept, agreed, ok, yes) when the line has no price. Any ``str`` is a legal
    turn; a line the buyer finds nothing in gets "So what can you offer me, and at what price?" and sets
    ``info["invalid_action"]``. A non-``str`` raises ``TypeError``. With an LLM buyer, every non-empty line goes to
    the model; an empty one gets the same "So what can you offer me, and at what price?" without asking it.

    ## Observation Space
    ``Text(max_length=20000)``: the instruction, a blank line, the buyer's greeting, then two lines per turn::

        You are a car dealer. ...

        Buyer: I need an SUV.
        Seller: What brand and features would you like?
        Buyer: I'd like a Toyota with heated seats and sunroof.

    ## Starting State
    390 buyers (``buyer-000`` ... ``buyer-389``: 5 budgets x 6 types x 13 brands, features, personality and
    patience fixed per buyer). ``reset(seed=s)`` draws one from the split; the eval split walks a fixed seeded
    sequence; ``reset(options={"target": "buyer-123"})`` picks one. The names do not tell the budget.

    ## Rewards
    LMRL-Gym's ``revenue`` reward: the sale price in thousands of dollars on the turn a deal is made
    ($45,300 gives 45.3), 0 on every other turn and when no deal is made. The same with an LLM buyer, whose deals
    are never above its budget (the env refuses them).

    ## Episode End
    Terminated when a deal is made (success) or the scripted buyer leaves (an LLM buyer does not leave). Truncated
    after ``max_turns`` seller lines (10) without either.

    ## Information
    - ``turn`` (int), ``success`` (bool: a deal was made on this turn).
    - ``reply`` (str): the buyer's line. ``invalid_action`` (bool): the buyer found nothing to answer in it, or
      it was empty, cut or mapped.
    - ``price`` (int): the sale price in dollars, 0 without a deal.
    - ``buyer_fault`` (str): ``""``, or why an LLM buyer's reply was replaced: ``"malformed"`` (empty, or an
      unreadable deal), ``"unoffered"`` (a deal at a price the seller has not named), ``"over_budget"`` (a deal above
      the hidden budget), ``"leak"`` (the reply stated the budget). Always ``""`` with the scripted buyer.
    - ``episode`` (dict, at episode end only): ``return``, ``length``, ``success``, ``target``.
    - ``messages`` (list[dict], every step and reset): the episode so far as OpenAI chat messages (system: the
      instruction; a first user message: the buyer's greeting; assistant: the seller's lines as read; user: the
      buyer's replies); see :mod:`archer_gym.chat`.

    ## Arguments
    - ``split``, ``holdout_fraction``: the fraction of buyers kept for eval only (0.2 in the registry: 78).
    - ``max_turns``: seller lines (10).
    - ``oracle``: None or ``"kb"``: the scripted buyer. ``"openai"`` or ``"hf"``: an LLM buyer, with the oracle
      options of docs/oracles.md (``oracle_model=`` required; ``oracle_base_url=``, ``oracle_cache=``,
      ``oracle_timeout=``, ``oracle_max_attempts=``, ...). Defaults that differ from the guessing games' oracles:
      64 tokens per reply (``oracle_max_tokens`` / ``oracle_max_new_tokens``) and ``oracle_seed=0`` for
      ``"openai"`` (temperature 0 either way; ``"hf"`` is greedy). Or any :class:`Oracle` object.
      Example, against any OpenAI-compatible server::

          gym.make("archer/CarDealer-v0", oracle="openai", oracle_model="Qwen/Qwen2.5-1.5B-Instruct",
                   oracle_base_url="http://127.0.0.1:8000/v1")
    - ``render_mode``: ``"ansi"``, ``"human"`` or None.

    ## References
    - Abdulhai et al., "LMRL Gym: Benchmarks for Multi-Turn Reinforcement Learning with Language Models", 2023
      (Car Dealer, the buyer's attributes and budgets, the revenue reward).

    ## Version History
    - v0: initial release (scripted buyer, 390 profiles, revenue reward in thousands of dollars); the LLM buyer
      (``oracle="openai" | "hf"``) added without changing the scripted buyer's episodes.
    """

    all_targets = profile_names()

    def __init__(self, *, split: str = "train", holdout_fraction: float = 0.0, max_turns: int = 10,
                 oracle: Oracle | str | None = None, render_mode: str | None = None, max_action_length: int = 500,
                 **oracle_kwargs: Any):
        scripted = oracle is None or (isinstance(oracle, str) and oracle.strip().lower() == "kb")
        if isinstance(oracle, str) and not scripted:
            oracle_kwargs = {**LLM_BUYER_DEFAULTS.get(oracle.strip().lower(), {}), **oracle_kwargs}
        # Validated (and built) by the one factory every oracle env uses; "kb" stands for the scripted buyer here.
        built = env_oracle(oracle, task=llm_buyer.TASK, kb_answer=_no_knowledge_base, **oracle_kwargs)
        super().__init__(split=split, holdout_fraction=holdout_fraction, max_turns=max_turns,
                         oracle=None if scripted else built, render_mode=render_mode,
                         max_action_length=max_action_length)
        self.buyer: Buyer | None = None
        self._greeting = ""
        self._asked: int | None = None  # the LLM buyer's table: the seller's standing price,
        self._countered: frozenset[int] = frozenset()  # and the prices of the buyer's last counter-offer

    def instruction(self) -> str:
        return ("You are a car dealer. Sell the customer a car for as high a price as you can. Ask what they want, "
                "describe a car (type, brand, features) and name a price in dollars; say deal to accept their "
                f"counter-offer. The customer has a budget they will not tell you. You have {self.max_turns} turns.")

    def _on_reset(self, target: str) -> None:
        self.buyer = Buyer(Profile.from_name(target))
        self._greeting = self.buyer.opening()
        self._history.append(f"Buyer: {self._greeting}")
        self._asked, self._countered = None, frozenset()

    def _request(self, action: str) -> OracleRequest | None:
        if self.oracle is None or not action:
            return None  # the scripted buyer answers by itself; an empty line is answered without asking the LLM
        return llm_buyer.buyer_request(self.buyer.profile, self._greeting, action, self.exchanges)

    def _apply(self, action: str, reply: str | None) -> StepResult:
        fault = ""
        if self.oracle is None:
            text, price, left = self.buyer.reply(action)
        elif reply is None:
            text, price, left = ASK_OFFER, None, False
        else:
            table = llm_buyer.on_table(action, self._asked, self._countered)
            text, price, fault = llm_buyer.judge_reply(reply, budget=self.buyer.profile.budget, table=table)
            left = False
            self._asked = parse_price(action) or self._asked
            self._countered = llm_buyer.counter_prices(text) or self._countered
        deal = price is not None
        invalid = text == ASK_OFFER if self.oracle is None else reply is None  # the buyer found nothing to answer
        return StepResult(reward=price / 1000.0 if deal else 0.0, terminated=deal or left, success=deal, reply=text,
                          history_lines=self.transcript_lines(action, text),
                          info={"invalid_action": invalid, "price": price or 0, "buyer_fault": fault})

    def transcript_lines(self, action: str, reply: str) -> list[str]:
        """``Seller: <line, cut to 300 characters>`` and ``Buyer: <reply>``."""
        echo = action if len(action) <= _ECHO_CHARS else action[:_ECHO_CHARS - 3] + "..."
        return [f"Seller: {echo or '(says nothing)'}", f"Buyer: {reply}"]

    # ----------------------------------------------------------------- chat messages
    def chat_view(self) -> str:
        """The buyer's greeting, the opening user message of the chat (the buyer speaks first); nothing after."""
        return self._greeting if self._turn == 0 else ""

    def observation_from_messages(self, messages) -> str:
        """The greeting (the opening user message) as the first ``Buyer:`` line, then the transcript."""
        instruction, opening, turns = split_dialogue(messages)
        head = clean_text(instruction + "\n\n", MAX_OBSERVATION_LENGTH)
        lines = ([f"Buyer: {opening}"] if opening is not None else []) + [
            line for action, reply in turns for line in self.transcript_lines(action, reply)]
        return fit_observation(head, [clean_text(line, MAX_OBSERVATION_LENGTH) + "\n" for line in lines])

    def scripted_policies(self) -> dict[str, Any]:
        from tasks.car_dealer.policies import POLICIES
        return dict(POLICIES)
