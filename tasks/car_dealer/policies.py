"""Scripted sellers of archer/CarDealer-v0: ``expert`` and ``random``.

A policy is ``policy(observation: str) -> str``; factories take ``(env, rng)``. Neither reads the buyer's profile:
the expert reads the dialogue and knows the buyer's public script (``buyer.py``).

- ``expert``: asks what the buyer wants, offers that car (type, brand, every feature) at a high anchor price
  until the buyer's fourth offer (every buyer has patience for four), reads the worth of the car to the buyer
  from its first counter-offer (``counter = 0.70 * worth``) and asks the most it accepts at the fourth offer
  (``0.97 * worth``), rounded down to $100.
- ``random``: a random line from a pool: a random car at a random price ($5,000 to $100,000), a question,
  small talk, or "deal".
"""

from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np

from tasks.car_dealer.buyer import BRANDS, FEATURES, TYPES, _mentions, article, parse_price

Policy = Callable[[str], str]
ANCHOR = 150_000
_TALK = ["Welcome to our dealership!", "What are you looking for today?", "deal", "Let me check the lot.",
         "What brand and features would you like?", "This one is very popular."]


def _dialogue(observation: str) -> list[tuple[str, str]]:
    _, _, body = observation.partition("\n\n")
    return [tuple(line.split(": ", 1)) for line in body.split("\n") if ": " in line]


class ExpertPolicy:
    def __init__(self, env: Any = None, rng: Any = None):
        pass  # memoryless: the dialogue holds everything it needs

    def __call__(self, observation: str) -> str:
        lines = _dialogue(observation)
        buyer = " ".join(text for who, text in lines if who == "Buyer")
        seller_lines = [text for who, text in lines if who == "Seller"]
        if not any("?" in s for s in seller_lines):
            return "What brand and features would you like?"
        types = _mentions(lines[0][1], TYPES) if lines else []
        brands, feats = _mentions(buyer, BRANDS), _mentions(buyer, FEATURES)
        car = article(" ".join(([brands[0]] if brands else []) + [types[0] if types else "car"]))
        if feats:
            car += " with " + ", ".join(feats)
        offers = sum(parse_price(s) is not None for s in seller_lines)
        counters = [parse_price(text) for who, text in lines if who == "Buyer" and "I could pay" in text]
        if offers < 3 or not counters:
            return f"I have {car}. It's yours for ${ANCHOR:,}."
        worth = round(counters[0] / 0.70, 2)  # a lower bound: the counter was rounded down to $100
        return f"I have {car}. It's yours for ${int(round(worth * 0.97, 2)) // 100 * 100:,}."


class RandomPolicy:
    def __init__(self, env: Any = None, rng: np.random.Generator | int | None = None):
        self.rng = np.random.default_rng(rng)

    def __call__(self, observation: str) -> str:
        if self.rng.random() < 0.4:
            return _TALK[int(self.rng.integers(len(_TALK)))]
        k = int(self.rng.integers(0, 4))
        feats = [FEATURES[int(i)] for i in self.rng.choice(len(FEATURES), size=k, replace=False)]
        car = article(f"{BRANDS[int(self.rng.integers(len(BRANDS)))]} {TYPES[int(self.rng.integers(len(TYPES)))]}")
        price = int(self.rng.integers(50, 1001)) * 100
        return f"How about {car}{' with ' + ', '.join(feats) if feats else ''} for ${price:,}?"


#: Name -> factory(env, rng) -> policy.
POLICIES: dict[str, Callable[[Any, Any], Policy]] = {"expert": ExpertPolicy, "random": RandomPolicy}


def make_policy(name: str, env: Any = None, rng: np.random.Generator | int | None = None) -> Policy:
    if name not in POLICIES:
        raise ValueError(f"unknown CarDealer policy {name!r}; choose one of {sorted(POLICIES)}.")
    return POLICIES[name](env, rng)
