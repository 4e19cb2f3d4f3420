"""WebShop's reward for a purchase (Yao et al. 2022, Sec. 3.2 and Appendix; ``web_agent_site/engine/goal.py``).

For goal ``U`` and bought product ``Y`` with chosen options::

    r = r_type * (|U_att ∩ Y_att| + |U_opt ∩ Y_opt| + 1[y_price <= u_price]) / (|U_att| + |U_opt| + 1)

* ``|U_att ∩ Y_att|`` (:func:`attribute_matches`): a required attribute counts if it is one of the
  product's attributes, or (as WebShop's fallback) appears in its title, features or description.
  WebShop matches attributes with a fuzzy ratio > 85; ours are generated from one vocabulary, so an
  exact match of normalised text is the same test.
* ``|U_opt ∩ Y_opt|`` (:func:`option_matches`): a required option value counts if it is among the
  options the agent *clicked* (exact normalised match, WebShop: fuzzy > 85).
* ``1[y_price <= u_price]`` (:func:`price_ok`).
* ``r_type`` (:func:`type_reward`): WebShop's product-type factor. ``title_score`` is the fraction of
  the goal's type nouns found in the bought product's title (WebShop POS-tags the goal title with
  spaCy and keeps nouns; our grammar knows the noun phrase, the product type, so we use its words);
  ``query_match`` is same product type (WebShop: same search query), ``category_match`` is >= 2
  shared breadcrumb levels (as WebShop). Then ``r_type`` = 1; 0.5 if no query match, no category match
  and ``title_score <= 0.2``; 0.1 if ``title_score < 0.1``; 0 if ``title_score == 0``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

from tasks.webshop.catalog import Product, normalize, tokens
from tasks.webshop.goals import Goal


@dataclass(frozen=True)
class RewardParts:
    """Every factor of one purchase's reward (reported in ``info["reward_parts"]``)."""

    reward: float
    r_type: float
    title_score: float
    query_match: bool
    category_match: bool
    attributes_matched: int
    attributes_required: int
    options_matched: int
    options_required: int
    r_price: bool

    def to_dict(self) -> dict:
        return asdict(self)


def type_reward(product: Product, goal: Goal) -> tuple[float, float, bool, bool]:
    """``(r_type, title_score, query_match, category_match)`` as in WebShop's ``get_type_reward``."""
    query_match = product.product_type == goal.product_type
    category_match = len(set(product.path) & set(goal.path)) >= 2
    desired = set(tokens(goal.product_type))
    bought = set(tokens(product.title)) | set(tokens(product.product_type))
    title_score = len(desired & bought) / len(desired) if desired else 0.2
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, title_score, query_match, category_match


def _contains_phrase(haystack: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return n > 0 and any(haystack[i:i + n] == phrase for i in range(len(haystack) - n + 1))


def attribute_matches(product: Product, attributes: tuple[str, ...]) -> int:
    """How many required ``attributes`` the product has (attribute list first, then its text)."""
    own = {normalize(a) for a in product.attributes}
    text = tokens(" ".join((product.title, " ".join(product.features), product.description)))
    return sum(1 for a in attributes if normalize(a) in own or _contains_phrase(text, tokens(a)))


def option_matches(chosen: Mapping[str, str], options: tuple[tuple[str, str], ...]) -> int:
    """How many required option values are among the ``chosen`` ones (dimension -> value)."""
    picked = {normalize(v) for v in chosen.values()}
    return sum(1 for _, v in options if normalize(v) in picked)


def price_ok(price: float, price_upper: float) -> bool:
    return price <= price_upper


def webshop_reward(product: Product, chosen: Mapping[str, str], goal: Goal) -> RewardParts:
    """WebShop's reward for buying ``product`` with ``chosen`` options under ``goal`` (see module doc)."""
    r_type, title_score, query_match, category_match = type_reward(product, goal)
    n_att = attribute_matches(product, goal.attributes)
    n_opt = option_matches(chosen, goal.options)
    r_price = price_ok(product.price, goal.price_upper)
    total = (n_att + n_opt + int(r_price)) / (len(goal.attributes) + len(goal.options) + 1)
    return RewardParts(reward=float(r_type * total), r_type=r_type, title_score=title_score,
                       query_match=query_match, category_match=category_match, attributes_matched=n_att,
                       attributes_required=len(goal.attributes), options_matched=n_opt,
                       options_required=len(goal.options), r_price=r_price)
