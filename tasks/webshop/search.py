"""Product search: SQLite FTS5 with BM25 ranking (Python's standard ``sqlite3``).

WebShop searches with Pyserini's BM25; we use SQLite's built-in FTS5 ``bm25()`` over three columns
(title, attributes, description+features), with the title weighted highest. Queries are sanitised
by :func:`fts_query`: user text is cut into word tokens, each token double-quoted, joined with
``OR``, so no user text (quotes, brackets, ``NEAR``, ``*``, unicode) can be an FTS syntax error.
The index is built once per catalog fingerprint and cached next to the catalog.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Sequence

from tasks.webshop.catalog import Product, cache_dir, tokens

#: Longest query the index reads (tokens); more adds nothing to BM25 but costs time.
MAX_QUERY_TOKENS = 32
#: BM25 column weights: (asin, title, attributes, text). asin is unindexed (weight unused).
BM25_WEIGHTS = (0.0, 4.0, 2.0, 1.0)
INDEX_VERSION = 1


def fts_query(text: str) -> str:
    """A safe FTS5 MATCH expression for user ``text``: quoted word tokens joined by OR ("" if none)."""
    toks = []
    for t in tokens(text):
        for part in t.split("."):  # the index tokenizer splits "8.5" into "8" "5"
            if part and part not in toks:
                toks.append(part)
    return " OR ".join(f'"{t}"' for t in toks[:MAX_QUERY_TOKENS])


def build_index(products: Sequence[Product], path: Path | str) -> None:
    """Write a fresh FTS5 index of ``products`` to ``path`` (atomically: temp file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    if tmp.exists():
        tmp.unlink()
    con = sqlite3.connect(tmp)
    try:
        # porter stemming so "shoe" finds "shoes"; unicode61 folds case and diacritics.
        con.execute("CREATE VIRTUAL TABLE products USING fts5(asin UNINDEXED, title, attributes, text, "
                    "tokenize='porter unicode61')")
        con.executemany(
            "INSERT INTO products(rowid, asin, title, attributes, text) VALUES (?, ?, ?, ?, ?)",
            [(i, p.asin, p.title, " ; ".join(p.attributes), p.description + " " + " ; ".join(p.features))
             for i, p in enumerate(products)],
        )
        con.execute("INSERT INTO products(products) VALUES ('optimize')")
        con.commit()
    finally:
        con.close()
    os.replace(tmp, path)


class SearchIndex:
    """Read-only BM25 search over a built index. Picklable: the connection reopens lazily."""

    def __init__(self, path: Path | str):
        self.path = str(path)
        self._con: sqlite3.Connection | None = None
        self._pid = -1

    def _connection(self) -> sqlite3.Connection:
        # One connection per process: a connection inherited through fork() must not be reused.
        if self._con is None or self._pid != os.getpid():
            self._con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._pid = os.getpid()
        return self._con

    def search(self, query: str, limit: int = 50) -> list[int]:
        """Row indices (catalog positions) of the best ``limit`` products for ``query``, best first.

        Ties in BM25 break by catalog position, so results are deterministic.
        """
        match = fts_query(query)
        if not match:
            return []
        w = ", ".join(str(x) for x in BM25_WEIGHTS)
        rows = self._connection().execute(
            f"SELECT rowid FROM products WHERE products MATCH ? ORDER BY bm25(products, {w}), rowid LIMIT ?",
            (match, int(limit)),
        ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __getstate__(self) -> dict:
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])


def load_index(products: Sequence[Product], fingerprint: str, directory: Path | None = None) -> SearchIndex:
    """The cached index for a catalog with this ``fingerprint``, built on first use."""
    directory = Path(directory) if directory is not None else cache_dir()
    path = directory / f"index_v{INDEX_VERSION}_{fingerprint[:16]}.sqlite"
    if not path.exists():
        build_index(products, path)
    return SearchIndex(path)
