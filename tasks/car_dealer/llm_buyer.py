"""The LLM buyer of archer/CarDealer-v0 (``oracle="openai" | "hf"``, or any Oracle object): what it is told, and how
the env judges what it says.

**The prompt** (the ``car_dealer`` template in :mod:`archer_gym.oracles.llm`): a system message with the persona
(:func:`persona`: the car type, brand and features it wants, its manner, the greeting it opened with, all from the
same seeded profile the scripted buyer plays), its budget ("Your budget is $30,000: you will not pay more"), and the
rules: never state the budget or any figure for it; answer in one or two sentences; accept the salesperson's price by
the phrase ``DEAL at $<price>``. Then the seller's lines as user messages and the buyer's earlier replies (as the
seller saw them) as assistant messages. The budget is also the prompt's ``Secret:`` line, so our ``serve-oracle``
parser and a stub server can read it back.

**The verdict on a reply** (:func:`judge_reply`), in this order; the env, never the LLM, makes a deal:

1. nothing left after cleaning (empty, blank): ``malformed``, shown as :data:`MALFORMED_REPLY`.
2. a deal claim (:func:`parse_deal`: the word ``DEAL`` in capitals anywhere, or "deal" in any case as the reply's
   first word, not after "no"/"not"/"never"/"without" and not asked, "DEAL?"), at the price right after it: "DEAL at
   $28,500", "**DEAL** at 28500", "Deal for $28.5k". A claim without a price ("DEAL!") takes the one price on the
   table; with two or more on the table it is ``malformed``, as are claims at two different prices, shown as
   :data:`MALFORMED_REPLY`. A price that is not on the table (:func:`on_table`; or "DEAL!" with nothing on it):
   ``unoffered``, shown as :data:`UNOFFERED_REPLY`. A price above the hidden
   budget: ``over_budget``, shown as :data:`OVER_BUDGET_REPLY`, so a deal above the budget is impossible whatever the
   LLM says. Otherwise a deal at that price, shown as ``DEAL at $X.`` (the env's words: nothing else the LLM wrote
   on that line reaches the seller).
3. any other reply that states the budget in a form a reader decodes ("$30,000", "30k", "thirty thousand", ...;
   :func:`archer_gym.oracles.guard.mentions_amount`): ``leak``, shown as :data:`LEAK_REPLY`. As in Twenty Questions
   and Guess My City, a leaking reply is replaced, not asked again: a model at temperature 0 answers the same prompt
   the same way, and a replacement keeps the episode deterministic and cached.
4. otherwise the reply as it came: whitespace collapsed, mapped to the observation's charset, cut to
   :data:`MAX_REPLY_LENGTH` characters; fault ``""``. Agreeing in other words ("It's a deal at $30,000", "I'll
   take it") is conversation, not a deal: the seller may answer "deal", and the buyer confirm with the phrase.

Since replies that name the budget are replaced, a buyer that repeats a seller's price equal to its budget is
replaced too (a deal at that price is not: the env writes that line).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from archer_gym.env import clean_text
from archer_gym.oracles.base import OracleRequest
from archer_gym.oracles.guard import mentions_amount
from tasks.car_dealer.buyer import _PRICE, Profile, accepts, and_list, article, parse_price, prices

TASK = "car_dealer"
#: Longest buyer reply shown (LLMs can ramble; Guess My City keeps as much).
MAX_REPLY_LENGTH = 300
MALFORMED_REPLY = "Sorry, could you say that again?"
UNOFFERED_REPLY = "Let's agree on a price first. What's your offer?"
OVER_BUDGET_REPLY = "That's more than I can spend."
LEAK_REPLY = "I'd rather not say what I can spend. What's your best price?"
#: ``info["buyer_fault"]`` values besides "" (the reply was used as it came, or made the deal).
FAULTS = ("malformed", "unoffered", "over_budget", "leak")
MANNERS = {"polite": "You are polite and friendly.", "talkative": "You are chatty and like to explain what you need.",
           "curt": "You are curt and use few words.", "grumpy": "You are grumpy and impatient."}

_DEAL_CAPS = re.compile(r"(?<![A-Za-z])DEAL(?![A-Za-z])")
_DEAL_FIRST = re.compile(r"^[\s\"'*_`(\[]*(deal)(?![A-Za-z])", re.IGNORECASE)
_NEGATION = re.compile(r"(?:\b(?:no|not|never|without)(?:\s+a)?)[\s*_`\"']*$", re.IGNORECASE)
_DEAL_PRICE = re.compile(r"[\s*_`\"':!,.-]*(?:(?:at|for|@)\b)?[\s*_`\"':]*(" + _PRICE.pattern + ")", re.IGNORECASE)


def persona(profile: Profile, greeting: str) -> str:
    """The buyer's persona for the prompt: what it wants, its manner, and the greeting the env showed for it."""
    p = profile
    car = p.car_type + (" car" if p.car_type in ("luxury", "electric") else "")
    return (f"You want to buy {article(car)}, preferably {article(p.brand)} with {and_list(p.features)}. "
            f"{MANNERS[p.personality]} You opened the conversation by saying: \"{greeting}\"")


def buyer_request(profile: Profile, greeting: str, seller_line: str,
                  history: tuple[tuple[str, str], ...]) -> OracleRequest:
    """The oracle request for the buyer's next reply; the budget is the secret the prompt states and forbids."""
    return OracleRequest(task=TASK, secret=f"${profile.budget:,}", question=seller_line, history=history,
                         context=persona(profile, greeting))


def parse_deal(text: str) -> set[int | None]:
    """The prices of the deals ``text`` claims (empty: it claims none; ``None``: a claim without a price, "DEAL!").
    A claim is ``DEAL`` in capitals, or "deal" in any case as the first word, not after "no"/"not"/"never"/"without"
    and not asked ("DEAL?"); its price is the amount right after it, with "at", "for" or "@" between."""
    starts = [m.end() for m in _DEAL_CAPS.finditer(text)]
    first = _DEAL_FIRST.match(text)
    if first:
        starts.append(first.end(1))
    claimed: set[int | None] = set()
    for end in sorted(set(starts)):
        if _NEGATION.search(text[:end - 4]) or text[end:].lstrip().startswith("?"):
            continue  # "no DEAL", "not a DEAL at that price", "DEAL?"
        m = _DEAL_PRICE.match(text, end)
        claimed.add(parse_price(m.group(1)) if m else None)
    return claimed


def on_table(seller_line: str, asked: int | None, buyer_prices: frozenset[int]) -> set[int]:
    """The prices a deal may be made at after ``seller_line``: the price it names, else the seller's standing price
    ``asked`` (the last it named); and, when the line accepts ("deal", "ok", ...) without naming a price, the prices
    of the buyer's last counter-offer ``buyer_prices``."""
    named = parse_price(seller_line)
    if named is not None:
        return {named}
    table = {asked} if asked is not None else set()
    return table | set(buyer_prices) if accepts(seller_line) else table


class Verdict(NamedTuple):
    """What the env makes of one buyer reply: the line the seller is shown, the sale price if a deal is made,
    and the fault ("" or one of :data:`FAULTS`)."""

    reply: str
    price: int | None
    fault: str


def judge_reply(raw: str, *, budget: int, table: set[int]) -> Verdict:
    """The verdict on the buyer's reply ``raw`` (see the module docstring for the order of the checks)."""
    text = clean_text(" ".join(str(raw).split()), MAX_REPLY_LENGTH)
    if not text:
        return Verdict(MALFORMED_REPLY, None, "malformed")
    claims = parse_deal(text)
    if claims:
        priced = claims - {None}
        if len(priced) > 1 or (not priced and len(table) > 1):
            return Verdict(MALFORMED_REPLY, None, "malformed")  # two prices, or "DEAL!" with two on the table
        price = priced.pop() if priced else next(iter(table), None)  # "DEAL!": the one price on the table
        if price is None or price not in table:
            return Verdict(UNOFFERED_REPLY, None, "unoffered")
        if price > budget:
            return Verdict(OVER_BUDGET_REPLY, None, "over_budget")
        return Verdict(f"DEAL at ${price:,}.", price, "")
    if mentions_amount(str(raw), budget) or mentions_amount(text, budget):
        return Verdict(LEAK_REPLY, None, "leak")
    return Verdict(text, None, "")


def counter_prices(reply: str) -> frozenset[int]:
    """The prices a shown buyer reply names (its counter-offer, which a seller's "deal" accepts)."""
    return frozenset(prices(reply))
