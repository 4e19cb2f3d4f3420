"""The scripted buyer of archer/CarDealer-v0: seeded profiles, how it reads the seller, how it negotiates.

Profiles follow LMRL-Gym's buyer attributes (``llm_rl_scripts/car_dealer/env/data.py``): a budget of $10,000 to
$90,000, a car type, a brand, one to four features, a personality. The buyer never says its budget: it states
the type it wants, tells brand and features when asked, answers prices with counter-offers and accepts a price
at or below a threshold that rises with each offer, up to what the car is worth to it:

    worth = budget * (0.8 + 0.1 * [brand offered is the preferred one] + 0.1 * share of its features offered)
    offer k (1-based): accepts price p if p <= worth * min(0.97, 0.88 + 0.03 * (k - 1)); else counters
                       worth * min(0.85, 0.70 + 0.05 * (k - 1)), rounded down to $100
    after ``patience`` (4 to 7) refused offers it leaves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

BUDGETS = (10_000, 30_000, 50_000, 70_000, 90_000)  # LMRL-Gym's DEFAULT_BUDGETS
TYPES = ("luxury", "sedan", "convertible", "truck", "electric", "SUV")
BRANDS = ("Volkswagen", "Lexus", "Ford", "Mazda", "Hyundai", "Toyota", "Mercedes-Benz", "BMW", "Audi", "Subaru",
          "Honda", "Porsche", "Tesla")
FEATURES = ("backup camera", "navigation system", "heated seats", "leather seats", "third-row seating",
            "blind spot monitoring", "sunroof", "Apple CarPlay")
PERSONALITIES = ("polite", "talkative", "curt", "grumpy")
ACCEPT_WORDS = ("deal", "accept", "agreed", "agree", "sold", "ok", "okay", "yes")
#: The buyer's answer to a line it finds nothing in (no car, no price, no question, no acceptance).
ASK_OFFER = "So what can you offer me, and at what price?"

_PRICE = re.compile(r"\$?\s*(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(k\b|thousand\b)?", re.IGNORECASE)


def profile_names() -> tuple[str, ...]:
    """One opaque name per profile: ``buyer-000`` ... ``buyer-389`` (the name does not tell the budget)."""
    return tuple(f"buyer-{i:03d}" for i in range(len(BUDGETS) * len(TYPES) * len(BRANDS)))


@dataclass(frozen=True)
class Profile:
    budget: int
    car_type: str
    brand: str
    features: tuple[str, ...]
    personality: str
    patience: int

    @classmethod
    def from_name(cls, name: str) -> "Profile":
        i = int(name.split("-")[1])
        budget, rest = BUDGETS[i % len(BUDGETS)], i // len(BUDGETS)
        car_type, brand = TYPES[rest % len(TYPES)], BRANDS[rest // len(TYPES)]
        rng = np.random.default_rng(10_007 * i + 17)  # the rest of the profile, fixed per name
        k = int(rng.integers(1, 5))
        feats = tuple(FEATURES[j] for j in sorted(rng.choice(len(FEATURES), size=k, replace=False)))
        return cls(budget, car_type, brand, feats, PERSONALITIES[int(rng.integers(len(PERSONALITIES)))],
                   int(rng.integers(4, 8)))


def prices(text: str) -> list[int]:
    """Every dollar amount in ``text``, in order ("$28,500", "28500", "28.5k", "28 thousand"); amounts under $1,000
    are not prices."""
    values = [float(number.replace(",", "")) * (1000 if thousand else 1) for number, thousand in _PRICE.findall(text)]
    return [int(round(v)) for v in values if v >= 1000]


def parse_price(text: str) -> int | None:
    """The last dollar amount in ``text`` (see :func:`prices`), the price a seller's line names."""
    found = prices(text)
    return found[-1] if found else None


def accepts(text: str) -> bool:
    """Whether a line says yes to a standing price: one of :data:`ACCEPT_WORDS` (callers check it names no price)."""
    return bool(set(re.findall(r"[a-z]+", text.lower())) & set(ACCEPT_WORDS))


def and_list(items) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _mentions(text: str, names) -> list[str]:
    low = text.lower()
    return [n for n in names if re.search(r"\b" + re.escape(n.lower()) + r"\b", low)]


def article(word: str) -> str:
    """``"an SUV"``, ``"an electric"``, ``"a truck"``."""
    return ("an " if word[0].lower() in "aeiou" or word == "SUV" else "a ") + word


def _money(x: float) -> str:
    return f"${int(x):,}"


@dataclass
class Buyer:
    """One buyer's side of one negotiation (deterministic: the same seller lines give the same replies)."""

    profile: Profile
    offers: int = 0                  # priced offers the buyer has answered
    counter: int | None = None       # its last counter-offer, which the seller can accept
    told_preferences: bool = False
    car_type: str | None = None      # the car under discussion, as the seller has described it
    brand: str | None = None
    features: set[str] = field(default_factory=set)

    def opening(self) -> str:
        p = self.profile
        car = article(p.car_type)
        return {"polite": f"Hello! I'm looking for {car}. Could you help me?",
                "talkative": f"Hi there! I've been thinking about a new car for months and I want {car}.",
                "curt": f"I need {car}.",
                "grumpy": f"I want {car}, and I don't have all day."}[p.personality]

    def worth(self) -> float:
        p = self.profile
        share = len(self.features & set(p.features)) / len(p.features)
        return p.budget * (0.8 + 0.1 * (self.brand == p.brand) + 0.1 * share)

    def preferences(self) -> str:
        p = self.profile
        return f"I'd like {article(p.brand)} with {and_list(p.features)}."

    def reply(self, seller: str) -> tuple[str, int | None, bool]:
        """The buyer's answer to one seller line: (text, price if a deal is made, the buyer left)."""
        p = self.profile
        types = _mentions(seller, TYPES)
        if types:
            self.car_type = p.car_type if p.car_type in types else types[-1]
        brands = _mentions(seller, BRANDS)
        if brands:
            self.brand = p.brand if p.brand in brands else brands[-1]
        self.features |= set(_mentions(seller, FEATURES))
        price = parse_price(seller)
        if price is None:
            if self.counter is not None and accepts(seller):
                return f"Great, it's a deal at {_money(self.counter)}.", self.counter, False
            if "?" in seller:
                first = not self.told_preferences
                self.told_preferences = True
                return (self.preferences() if first else "As I said, " + self.preferences()), None, False
            return ASK_OFFER, None, False
        if self.car_type != p.car_type:
            return f"I'm only interested in {article(p.car_type)}. What do you have?", None, False
        self.offers += 1
        worth = self.worth()
        if price <= round(worth * min(0.97, 0.88 + 0.03 * (self.offers - 1)), 2):
            return f"Deal! I'll take it for {_money(price)}.", price, False
        if self.offers >= p.patience:
            return "That's still too much for me. I'll look elsewhere, goodbye.", None, True
        # rounded to cents first: 0.70 * 90,000 is 62,999.999... in floating point
        self.counter = int(round(worth * min(0.85, 0.70 + 0.05 * (self.offers - 1)), 2)) // 100 * 100
        lead = "That's way more than I want to spend." if price > 1.3 * worth else "That's a bit high for me."
        return f"{lead} I could pay {_money(self.counter)}.", None, False
