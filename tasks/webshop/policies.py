"""Scripted WebShop policies: ``expert`` and ``random``.

A policy is ``policy(observation: str) -> str``. Both read only the instruction text (the first
paragraph of the observation) and the env's public page state (:meth:`WebShopEnv.valid_actions`,
``page``, ``results_on_page()``, ``item``, ``selected_options``, ``actions_taken``), never the hidden
goal: the expert parses its requirements from the instruction.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from tasks.webshop.catalog import tokens

# Template words of instructions ("size" comes from "size 8.5"-style option phrases).
_STOP = frozenset("""i im m need am looking for want to buy find me searching get a an the that is are with in and or
                     of it its some please price lower than dollars webshop instruction best matching product
                     size""".split())
_PRICE = re.compile(r"price lower than\s+([0-9]+(?:\.[0-9]+)?)\s+dollars")


@dataclass(frozen=True)
class ParsedInstruction:
    """What the expert reads from an instruction: its content words and price bound."""

    words: tuple[str, ...]  # instruction tokens without the price clause, in order
    content: frozenset[str]  # words minus stop words
    price_upper: float | None


def instruction_of(observation: str) -> str:
    """The instruction sentence from the observation's first paragraph."""
    first = observation.split("\n\n", 1)[0]
    m = re.search(r"Instruction:\s*(.*?)\.\s*Buy the best matching product\.", first)
    return m.group(1) if m else first


def parse_instruction(text: str) -> ParsedInstruction:
    m = _PRICE.search(text)
    price = float(m.group(1)) if m else None
    words = tuple(tokens(_PRICE.sub(" ", text)))
    return ParsedInstruction(words=words, content=frozenset(w for w in words if w not in _STOP), price_upper=price)


def _phrase_in(words: tuple[str, ...], phrase: str) -> bool:
    p = tokens(phrase)
    n = len(p)
    return n > 0 and any(list(words[i:i + n]) == p for i in range(len(words) - n + 1))


def best_option_values(item_options: dict[str, tuple[str, ...]], words: tuple[str, ...]) -> dict[str, str]:
    """Per dimension, the value named by the instruction (the longest match: "x-large" over "large")."""
    out = {}
    for dim, values in item_options.items():
        hits = [v for v in values if _phrase_in(words, v)]
        if hits:
            out[dim] = max(hits, key=lambda v: len(tokens(v)))
    return out


class ExpertPolicy:
    """Search the instruction's key words, open the result whose title best covers them (within the
    price bound), click the option values the instruction names, buy. If the opened item misses
    words of the instruction and there is budget, it goes back once to try the next-best result."""

    def __init__(self, env, rng: random.Random | None = None, max_items: int = 2):
        self.env = env
        self.max_items = max_items

    def _score(self, product, want: ParsedInstruction) -> float:
        title = set(tokens(product.title))
        price_ok = want.price_upper is None or product.price <= want.price_upper
        return len(want.content & title) + (2.0 if price_ok else 0.0)

    def __call__(self, observation: str) -> str:
        env = self.env
        want = parse_instruction(instruction_of(observation))
        taken = env.actions_taken
        turns_left = env.max_turns - len(taken)
        opened = [a[6:-1] for a in taken if a.startswith("click[B0")]
        if env.page == "search":
            return "search[" + " ".join(w for w in want.words if w in want.content) + "]"
        if env.page in ("description", "features"):
            return "click[< Prev]"
        if env.page == "results":
            candidates = [p for p in env.results_on_page() if p.asin not in opened]
            if not candidates:
                return "click[Next >]" if "click[Next >]" in env.valid_actions() else "click[Back to Search]"
            best = max(candidates, key=lambda p: self._score(p, want))  # max keeps the first (best BM25) on ties
            return f"click[{best.asin}]"
        # item page
        item = env.item
        wanted = best_option_values(item.options, want.words)
        for dim, value in wanted.items():
            if env.selected_options.get(dim) != value:
                return f"click[{value}]"
        explained = set(tokens(item.title)) | {t for v in wanted.values() for t in tokens(v)}
        missing = want.content - explained
        # Going back costs 2 steps, opening and selecting on the next item up to 4 more.
        if missing and len(opened) < self.max_items and turns_left >= 6:
            return "click[< Prev]"
        return "click[Buy Now]"


class RandomPolicy:
    """Uniform over the page's valid actions; a search query is 1-4 random words of the instruction."""

    def __init__(self, env, rng: random.Random | None = None):
        self.env = env
        # Scripted-policy factories receive a numpy Generator (archer_gym.evaluation); derive a
        # random.Random from it so choice/sample keep their stdlib semantics.
        if isinstance(rng, np.random.Generator):
            rng = random.Random(int(rng.integers(2**63)))
        self.rng = rng if rng is not None else random.Random(0)

    def __call__(self, observation: str) -> str:
        action = self.rng.choice(self.env.valid_actions())
        if action == "search[...]":
            words = tokens(instruction_of(observation)) or ["product"]
            k = self.rng.randint(1, min(4, len(words)))
            return "search[" + " ".join(self.rng.sample(words, k)) + "]"
        return action


POLICIES: dict[str, Callable] = {"expert": ExpertPolicy, "random": RandomPolicy}


def make_policy(name: str, env, rng: random.Random | None = None) -> Callable[[str], str]:
    """Build the scripted policy ``name`` ("expert" | "random") for ``env`` (unwrapped WebShopEnv)."""
    if name not in POLICIES:
        raise ValueError(f"unknown WebShop policy {name!r}; choose one of {sorted(POLICIES)}.")
    return POLICIES[name](getattr(env, "unwrapped", env), rng)
