"""archer/WebShop-v0: an embedded, offline WebShop (Yao et al. 2022) with a generated catalog.

``catalog`` (per-category grammars -> 10,800 products, cached), ``search`` (SQLite FTS5 BM25),
``goals`` (instructions from products, disjoint train/eval), ``reward`` (WebShop's score),
``env`` (:class:`WebShopEnv`), ``policies`` (``expert``, ``random``).
"""

from tasks.webshop.env import WebShopEnv
from tasks.webshop.policies import POLICIES, make_policy

__all__ = ["WebShopEnv", "POLICIES", "make_policy"]
