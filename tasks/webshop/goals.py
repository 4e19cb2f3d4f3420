"""Shopping goals generated from catalog products, as in WebShop.

WebShop's instructions were written by crowd workers from a product's attributes and options, with a
price bound; each goal keeps the product's type, title and category (for the type reward), a subset
of its attributes (required), one value per chosen option dimension (required) and ``price_upper``.
We generate the instruction text from templates, one goal per product, and split the goals into fixed
disjoint ``train`` / ``eval`` sets (``N_EVAL`` eval goals, the rest train).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Sequence

from tasks.webshop.catalog import GRAMMARS, Product

#: Size of the eval split (the rest of the goals are train); fixed with :data:`SPLIT_SEED`.
N_EVAL = 1000
SPLIT_SEED = 7
GOAL_SEED = 11

_OPENERS = ("i need", "i am looking for", "i want to buy", "find me", "i'm searching for", "get me")
_GRAMMAR_BY_KEY = {g.key: g for g in GRAMMARS}


@dataclass(frozen=True)
class Goal:
    """A hidden shopping goal. ``options`` is ((dimension, value), ...); ``name`` is the target's title."""

    goal_id: str
    asin: str
    instruction: str
    category: str
    path: tuple[str, ...]
    product_type: str
    name: str
    attributes: tuple[str, ...]
    options: tuple[tuple[str, str], ...]
    price_upper: float

    def to_json(self) -> dict[str, Any]:
        return {"goal_id": self.goal_id, "asin": self.asin, "instruction": self.instruction,
                "attributes": list(self.attributes), "options": [list(o) for o in self.options],
                "price_upper": self.price_upper}


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def make_goal(product: Product, index: int, rng: random.Random) -> Goal:
    """One goal for ``product``: 1-3 of its attributes, 1+ option dimensions, a price bound above its price."""
    grammar = _GRAMMAR_BY_KEY[product.category]
    n_att = rng.randint(1, min(3, len(product.attributes)))
    attributes = tuple(sorted(rng.sample(product.attributes, n_att), key=product.attributes.index))
    dims = [d for d in product.options if rng.random() < 0.75] or [rng.choice(list(product.options))]
    options = tuple((d, rng.choice(product.options[d])) for d in dims)
    # A bound the product satisfies, rounded up to a round number, as WebShop's "lower than 40.00 dollars".
    step = 10.0 if product.price >= 20 else 5.0
    price_upper = float(math.ceil(product.price * rng.uniform(1.05, 1.6) / step) * step)
    phrases = [grammar.option_phrases.get(d, "{v}").format(v=v) for d, v in options]
    if rng.random() < 0.5:
        body = f"{_join(list(attributes))} {product.product_type}"
    else:
        body = f"{product.product_type} that is {_join(list(attributes))}"
    connector = rng.choice(("in", "with"))
    instruction = (f"{rng.choice(_OPENERS)} {body}, {connector} {_join(phrases)}, "
                   f"and price lower than {price_upper:.2f} dollars")
    return Goal(goal_id=f"g{index:05d}", asin=product.asin, instruction=instruction, category=product.category,
                path=product.path, product_type=product.product_type, name=product.title,
                attributes=attributes, options=options, price_upper=price_upper)


def generate_goals(products: Sequence[Product], seed: int = GOAL_SEED) -> list[Goal]:
    """One goal per product, in catalog order, from a fixed-seed generator."""
    rng = random.Random(seed)
    return [make_goal(p, i, rng) for i, p in enumerate(products)]


def split_goals(goals: Sequence[Goal], n_eval: int = N_EVAL, seed: int = SPLIT_SEED) -> dict[str, list[str]]:
    """Disjoint goal ids: ``{"train": [...], "eval": [...]}``, each in catalog order.

    A fixed seeded permutation picks the ``n_eval`` eval goals, so every category is represented.
    """
    if not 0 < n_eval < len(goals):
        raise ValueError(f"n_eval={n_eval!r} must be between 1 and {len(goals) - 1}.")
    order = list(range(len(goals)))
    random.Random(seed).shuffle(order)
    eval_idx = set(order[:n_eval])
    return {"train": [g.goal_id for i, g in enumerate(goals) if i not in eval_idx],
            "eval": [g.goal_id for i, g in enumerate(goals) if i in eval_idx]}
