"""archer/WebShop-v0: shop for a product from an instruction on an embedded, offline catalog."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from archer_gym.chat import split_dialogue, split_user_message
from archer_gym.env import StepResult, TextGameEnv, clean_text
from tasks.webshop.catalog import (DEFAULT_PER_CATEGORY, DEFAULT_SEED, Product, catalog_fingerprint, load_catalog,
                                   normalize)
from tasks.webshop.goals import N_EVAL, Goal, generate_goals, split_goals
from tasks.webshop.reward import RewardParts, webshop_reward
from tasks.webshop.search import SearchIndex, load_index

#: Products shown per results page, and how many results a search returns in all (WebShop: 10 and 50).
RESULTS_PER_PAGE = 10
MAX_RESULTS = 50
INVALID = "Invalid action."

BACK = "Back to Search"
NEXT = "Next >"
PREV = "< Prev"
DESCRIPTION = "Description"
FEATURES = "Features"
BUY = "Buy Now"

_ACTION = re.compile(r"^(search|click)\s*\[(.*)\]$", re.IGNORECASE | re.DOTALL)


@dataclass
class World:
    """Everything shared by the envs of one catalog: products, goals, splits, the search index."""

    products: list[Product]
    by_asin: dict[str, Product]
    goals: list[Goal]
    goal_by_id: dict[str, Goal]
    splits: dict[str, list[str]]
    index: SearchIndex


_WORLDS: dict[tuple[int, int], World] = {}


def load_world(per_category: int = DEFAULT_PER_CATEGORY, catalog_seed: int = DEFAULT_SEED) -> World:
    """The (process-wide memoised) world of a catalog; generated and indexed once, then read from cache."""
    key = (per_category, catalog_seed)
    if key not in _WORLDS:
        products = load_catalog(per_category, catalog_seed)
        goals = generate_goals(products)
        n_eval = min(N_EVAL, max(1, len(goals) // 10))
        _WORLDS[key] = World(products=products, by_asin={p.asin: p for p in products}, goals=goals,
                             goal_by_id={g.goal_id: g for g in goals}, splits=split_goals(goals, n_eval),
                             index=load_index(products, catalog_fingerprint(products)))
    return _WORLDS[key]


def parse_action(text: str) -> tuple[str, str] | None:
    """``("search" | "click", argument)`` for ``search[...]`` / ``click[...]``, else ``None``.

    The argument is everything between the first ``[`` and the last ``]`` (nested brackets kept).
    """
    m = _ACTION.match(text.strip())
    if m is None:
        return None
    return m.group(1).lower(), m.group(2).strip()


class WebShopEnv(TextGameEnv):
    """Shop for the product an instruction asks for: search, open products, pick options, buy.

    ## Description
    An embedded, offline version of WebShop (Yao et al. 2022), the hardest task of the ArCHer paper.
    The agent reads a shopping instruction ("i need gluten free ground coffee, in medium roast and
    12 oz, and price lower than 20.00 dollars"), searches a catalog of 10,800 generated products in
    12 categories (SQLite FTS5, BM25), pages through results, opens products, reads their
    Description / Features tabs, clicks option values and presses Buy Now. The reward scores how
    well the bought product and chosen options match the instruction.

    ## Action Space
    ``Text(max_length=500)`` (printable ASCII + newline). Two commands, as in WebShop:
    ``search[query]`` (only on the search page) and ``click[button text]`` (a button of the current
    page, matched case- and punctuation-insensitively: ``Back to Search``, ``Next >``, ``< Prev``, a
    product id such as ``B0XXXXXXXX``, an option value, ``Description``, ``Features``, ``Buy Now``).
    Anything else, including a button not on the page or a search with no words, gets the reply
    "Invalid action.", leaves the page unchanged, costs the step and sets
    ``info["invalid_action"] = True``. Non-``str`` actions raise ``TypeError``.

    ## Observation Space
    ``Text(max_length=20000)``. The first paragraph (one line) is the instruction::

        WebShop. Instruction: <instruction>. Buy the best matching product.

    then a blank line, then ``Step t of 10.``, a ``History:`` line with the actions so far (each cut to
    80 characters), ``Last action: <action> -> <reply>``, and the current page as text: the search
    box, a results page (10 products: ``[B0...] title | $price``, with ``[Next >]`` / ``[< Prev]``),
    an item page (title, price, one line of ``[value]`` buttons per option dimension with the
    selection, ``[Description] [Features] [Buy Now]``) or a Description / Features tab. Bounded by
    the turn cap (a few thousand characters).

    ## Starting State
    ``reset(seed=s)`` draws a goal of the split (``train``: uniform; ``eval``: the base class's fixed
    seeded sequence) and shows the search page. ``reset(options={"target": "g01234"})`` picks a goal.

    ## Rewards
    0 on every step but Buy Now. On Buy Now WebShop's score (Yao et al. 2022, appendix; see
    :mod:`tasks.webshop.reward`)::

        r = r_type * (|U_att ∩ Y_att| + |U_opt ∩ Y_opt| + 1[y_price <= u_price]) / (|U_att| + |U_opt| + 1)

    in [0, 1]; success is ``r == 1``. No reward if the turn cap comes first.

    ## Episode End
    Terminated on Buy Now. Truncated after ``max_turns`` (10) actions, invalid ones included.

    ## Information
    - ``turn`` (int): actions taken.
    - ``success`` (bool): bought with reward 1.0.
    - ``reply`` (str): the engine's reply ("Invalid action.", "Searched.", "Opened B0...", ...).
    - ``invalid_action`` (bool): the action was not available on the page (or was cut/mapped).
    - ``valid_actions`` (list[str]): the actions of the new page: ``"search[...]"`` (any query) on the
      search page, else ``"click[<button>]"`` for each button; ``[]`` after Buy Now.
    - ``page`` (str): ``"search" | "results" | "item" | "description" | "features"``, ``"done"`` after
      Buy Now.
    - ``purchased`` (dict, on Buy Now): ``{"asin", "options"}`` bought.
    - ``reward_parts`` (dict, on Buy Now): every factor of the reward (:class:`RewardParts`).
    - ``episode`` (dict, at episode end): ``{"return", "length", "success", "target"}``.
    - ``messages`` (list[dict], every step and reset): the episode so far as OpenAI chat messages (system: the
      instruction; assistant: the actions as read; user: the reply, a blank line,
      then the step line and the page; a first user message holds the search page); see :mod:`archer_gym.chat`.

    ## Arguments
    - ``split`` ("train" | "eval"): disjoint goal sets: 1,000 eval goals, 9,800 train goals.
    - ``max_turns`` (int, 10): the step cap.
    - ``per_category`` (int, 900), ``catalog_seed`` (int, 0): the generated catalog (and its goals).
    - ``render_mode`` ("ansi" | "human" | None).
    - ``holdout_fraction`` must be 0 (the splits are already disjoint); ``oracle`` must be None (the
      shop engine answers every action itself).
    The catalog and its index are cached under ``$ARCHER_GYM_CACHE`` or ``~/.cache/archer_gym``.

    ## References
    - Yao, Chen, Yang, Narasimhan. "WebShop: Towards Scalable Real-World Web Interaction with Grounded
      Language Agents". NeurIPS 2022. https://arxiv.org/abs/2207.01206
    - Zhou, Zanette, Pan, Levine, Kumar. "ArCHer: Training Language Model Agents via Hierarchical
      Multi-Turn RL". ICML 2024. https://arxiv.org/abs/2402.19446

    ## Version History
    - v0: initial version (generated catalog of 10,800 products, FTS5 BM25 search, WebShop reward).
    """

    def __init__(self, *, split: str = "train", max_turns: int = 10, per_category: int = DEFAULT_PER_CATEGORY,
                 catalog_seed: int = DEFAULT_SEED, render_mode: str | None = None,
                 holdout_fraction: float = 0.0, oracle: Any = None, max_action_length: int = 500):
        if holdout_fraction != 0.0:
            raise ValueError(f"holdout_fraction={holdout_fraction!r}: WebShop's train/eval goals are already "
                             "disjoint; use split='train' or split='eval' with holdout_fraction=0.")
        if oracle is not None:
            raise ValueError(f"oracle={oracle!r}: WebShop's shop engine answers every action; pass oracle=None.")
        self._world_key = (per_category, catalog_seed)
        self._world = load_world(per_category, catalog_seed)
        self.all_targets = [g.goal_id for g in self._world.goals]  # read by the base __init__
        super().__init__(split=split, holdout_fraction=0.0, max_turns=max_turns, render_mode=render_mode,
                         max_action_length=max_action_length)
        self.targets = list(self._world.splits[split])  # disjoint, unlike the base's closed-list splits
        self._reset_page()

    # ----------------------------------------------------------------- pickling (the world is shared)
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_world")
        state.pop("all_targets")
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._world = load_world(*self._world_key)
        self.all_targets = [g.goal_id for g in self._world.goals]

    # ----------------------------------------------------------------- public page state
    @property
    def goal(self) -> Goal | None:
        """The hidden goal (for analysis and tests; scripted policies must not read it)."""
        return self._world.goal_by_id.get(self._target) if self._target else None

    @property
    def page(self) -> str:
        return self._page

    @property
    def query(self) -> str:
        return self._query

    def results_on_page(self) -> list[Product]:
        """The products listed on the current results page (what the page shows: id, title, price)."""
        if self._page != "results":
            return []
        start = self._page_no * RESULTS_PER_PAGE
        return [self._world.products[i] for i in self._results[start:start + RESULTS_PER_PAGE]]

    @property
    def item(self) -> Product | None:
        """The product whose item page (or tab) is open."""
        return self._world.by_asin.get(self._asin) if self._asin else None

    @property
    def selected_options(self) -> dict[str, str]:
        return dict(self._chosen)

    @property
    def actions_taken(self) -> list[str]:
        return list(self._actions)

    def buttons(self) -> list[str]:
        """Button texts of the current page, in page order."""
        if self._page == "search":
            return []
        if self._page == "results":
            out = [BACK]
            if self._page_no > 0:
                out.append(PREV)
            if (self._page_no + 1) * RESULTS_PER_PAGE < len(self._results):
                out.append(NEXT)
            return out + [p.asin for p in self.results_on_page()]
        if self._page == "item":
            values = [v for vals in self.item.options.values() for v in vals]
            return [BACK, PREV] + values + [DESCRIPTION, FEATURES, BUY]
        return [BACK, PREV]

    def valid_actions(self) -> list[str]:
        if self._page == "search":
            return ["search[...]"]
        return [f"click[{b}]" for b in self.buttons()]

    # ----------------------------------------------------------------- task hooks
    def instruction(self) -> str:
        goal = self.goal
        text = goal.instruction if goal else ""
        return f"WebShop. Instruction: {text}. Buy the best matching product."

    def resolve_target(self, name: str) -> str:
        key = str(name).strip().lower()
        if key in self._world.goal_by_id:
            return key
        raise ValueError(f"unknown WebShop goal {name!r}; goal ids are 'g00000'..'g{len(self._world.goals) - 1:05d}' "
                         f"(env.targets lists this split's {len(self.targets)}).")

    def _reset_page(self) -> None:
        self._page = "search"
        self._query = ""
        self._results: list[int] = []
        self._page_no = 0
        self._asin = ""
        self._chosen: dict[str, str] = {}
        self._actions: list[str] = []
        self._last = ("none", "")

    def _on_reset(self, target: str) -> None:
        self._reset_page()

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        obs, info = super().reset(seed=seed, options=options)
        info.update(valid_actions=self.valid_actions(), page=self._page)
        return obs, info

    def _request(self, action: str) -> None:
        return None  # the shop engine answers every action itself

    def _apply(self, action: str, reply: str | None) -> StepResult:
        self._actions.append(action)
        parsed = parse_action(action)
        extra: dict[str, Any] = {}
        reward, terminated, success = 0.0, False, False
        if parsed is None:
            text, invalid = INVALID, True
        elif parsed[0] == "search":
            text, invalid = self._search(parsed[1])
        else:
            text, invalid = self._click(parsed[1])
            if text == BUY:
                parts = self.purchase_reward()
                reward, terminated, success = parts.reward, True, parts.reward >= 1.0 - 1e-9
                extra = {"purchased": {"asin": self._asin, "options": dict(self._chosen)},
                         "reward_parts": parts.to_dict()}
                text = f"Bought {self._asin}. Reward {parts.reward:.3f}."
        self._last = (action, text)
        info = {"invalid_action": invalid, "valid_actions": [] if terminated else self.valid_actions(),
                "page": "done" if terminated else self._page, **extra}
        return StepResult(reward=reward, terminated=terminated, success=success, reply=text,
                          history_lines=[f"> {action[:200]}", text], info=info)

    def purchase_reward(self) -> RewardParts:
        """WebShop's reward for buying the open item with the selected options now."""
        return webshop_reward(self.item, self._chosen, self.goal)

    # ----------------------------------------------------------------- the shop engine
    def _search(self, query: str) -> tuple[str, bool]:
        if self._page != "search" or not normalize(query):
            return INVALID, True
        self._query = query[:200]
        self._results = self._world.index.search(query, MAX_RESULTS)
        self._page, self._page_no = "results", 0
        return f"Searched: {len(self._results)} results.", False

    def _click(self, button: str) -> tuple[str, bool]:
        wanted = normalize(button)
        match = next((b for b in self.buttons() if normalize(b) == wanted), None) if wanted else None
        if match is None:
            return INVALID, True
        if match == BACK:
            self._reset_search()
        elif match == NEXT:
            self._page_no += 1
        elif match == PREV:
            if self._page == "results":
                self._page_no -= 1
            elif self._page == "item":
                self._page, self._asin, self._chosen = "results", "", {}
            else:
                self._page = "item"
        elif self._page == "results":
            self._page, self._asin, self._chosen = "item", match, {}
            return f"Opened {match}.", False
        elif match == DESCRIPTION:
            self._page = "description"
        elif match == FEATURES:
            self._page = "features"
        elif match == BUY:
            return BUY, False
        else:  # an option value of the open item
            dim = next(d for d, vals in self.item.options.items() if match in vals)
            self._chosen[dim] = match
            return f"Selected {dim}: {match}.", False
        return f"Clicked {match}.", False

    def _reset_search(self) -> None:
        self._page, self._query, self._results, self._page_no, self._asin, self._chosen = "search", "", [], 0, "", {}

    # ----------------------------------------------------------------- observation
    def page_text(self) -> str:
        """The current page as text."""
        if self._page == "search":
            return "[Search] Type search[your query] to search the catalog."
        if self._page == "results":
            n = len(self._results)
            pages = max(1, -(-n // RESULTS_PER_PAGE))
            head = (f"Results for \"{self._query[:100]}\" (page {self._page_no + 1} of {pages}, {n} results)\n"
                    + " ".join(f"[{b}]" for b in self.buttons() if b in (BACK, PREV, NEXT)))
            rows = [f"[{p.asin}] {p.title} | ${p.price:.2f}" for p in self.results_on_page()]
            return "\n".join([head] + (rows or ["No products match your search."]))
        item = self.item
        head = f"[{BACK}] [{PREV}]\nItem {item.asin}: {item.title}"
        if self._page == "description":
            return f"{head}\nDescription: {item.description}"
        if self._page == "features":
            return f"{head}\nFeatures:\n" + "\n".join(f"- {f}" for f in item.features)
        lines = [head, f"Price: ${item.price:.2f}"]
        for dim, vals in item.options.items():
            chosen = self._chosen.get(dim)
            lines.append(f"{dim}: " + " ".join(f"[{v}]" for v in vals)
                         + (f" (selected: {chosen})" if chosen else ""))
        lines.append(f"[{DESCRIPTION}] [{FEATURES}] [{BUY}]")
        return "\n".join(lines)

    def observation(self) -> str:
        history = " | ".join(a[:80] for a in self._actions) or "none"
        action, reply = self._last
        last = "none" if action == "none" else f"{action[:200]} -> {reply}"
        text = (self.instruction() + "\n\n" + f"Step {self._turn} of {self.max_turns}.\nHistory: {history}\n"
                f"Last action: {last}\n" + self.page_text() + "\n")
        return clean_text(text, 20_000)

    def chat_view(self) -> str:
        """The step line and the current page, after each reply in the chat messages (and alone at reset)."""
        return f"Step {self._turn} of {self.max_turns}.\n" + self.page_text()

    def observation_from_messages(self, messages) -> str:
        instruction, opening, turns = split_dialogue(messages)
        history = " | ".join(a[:80] for a, _ in turns) or "none"
        if turns:
            action, (reply, state) = turns[-1][0], split_user_message(turns[-1][1])
        else:
            action, reply, state = "none", "", opening or ""
        last = "none" if action == "none" else f"{action[:200]} -> {reply}"  # as observation() (an action "none" too)
        step, _, page = state.partition("\n")
        return clean_text(instruction + "\n\n" + f"{step}\nHistory: {history}\nLast action: {last}\n" + page + "\n",
                          20_000)

    # ----------------------------------------------------------------- scripted policies
    def scripted_policies(self) -> dict[str, Callable]:
        from tasks.webshop.policies import POLICIES

        return dict(POLICIES)
