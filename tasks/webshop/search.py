"""Product search: SQLite FTS5 with BM25 ranking (Python's standard ``sqlite3``).

WebShop searches with Pyserini's BM25; we use SQLite's built-in FTS5 ``bm25()`` over three columns
(title, attributes, description+features), with the title weighted highest. Queries are sanitised
by :func:`fts_query`: user text is cut into word tokens, each token double-quoted, joined with
``OR``, so no user text (quotes, brackets, ``NEAR``, ``*``, unicode) can be an FTS syntax error.
The index is built once per catalog fingerprint and cached next to the catalog.

Issue 19: SQLite's ``bm25()`` is an auxiliary function called once per matching row, and an OR query of common words
matches a third of the catalog, so a search took about 3 ms, most of a WebShop step. :class:`SearchIndex` reads the
index's term postings once (FTS5's own tokens, through its ``fts5vocab`` table; cached beside the index as ``.npz``)
and scores a query with numpy by FTS5's bm25 formula, the same floating-point operations in the same order, so the
scores, hence the ranking, are the very ones SQLite gives (``tests/test_webshop.py`` compares them query by query).
SQLite still reads the query's words (its porter stemmer, once per word) and answers any query whose word is not
one index term (:meth:`SearchIndex.search_sql`, the reference).
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

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


#: FTS5's bm25 constants (``fts5_aux.c``).
BM25_K1, BM25_B = 1.2, 0.75
#: Distinct query words whose stems :class:`SearchIndex` remembers.
STEM_CACHE_SIZE = 200_000


class SearchIndex:
    """Read-only BM25 search over a built index. Picklable: the connection and the postings reload lazily."""

    def __init__(self, path: Path | str):
        self.path = str(path)
        self._con: sqlite3.Connection | None = None
        self._pid = -1
        self._postings: _Postings | None = None
        self._stems: dict[str, tuple[str, ...]] = {}
        self._stemmer: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # the stemmer's table and the postings' first load, for envs in threads

    def _connection(self) -> sqlite3.Connection:
        # One connection per process: a connection inherited through fork() must not be reused.
        if self._con is None or self._pid != os.getpid():
            self._con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._pid = os.getpid()
        return self._con

    def search(self, query: str, limit: int = 50) -> list[int]:
        """Row indices (catalog positions) of the best ``limit`` products for ``query``, best first.

        Ties in BM25 break by catalog position, so results are deterministic. The same rows as :meth:`search_sql`,
        scored in numpy (see the module docstring)."""
        words = _query_words(query)
        if not words:
            return []
        terms = [self._stem(w) for w in words]
        if any(len(t) != 1 for t in terms):
            return self.search_sql(query, limit)  # a word FTS5 reads as no term or as several: let SQLite answer
        return self._postings_loaded().top(tuple(t[0] for t in terms), int(limit))

    def search_sql(self, query: str, limit: int = 50) -> list[int]:
        """:meth:`search` answered by SQLite's FTS5 ``bm25()`` (the reference the numpy scoring reproduces)."""
        match = fts_query(query)
        if not match:
            return []
        w = ", ".join(str(x) for x in BM25_WEIGHTS)
        rows = self._connection().execute(
            f"SELECT rowid FROM products WHERE products MATCH ? ORDER BY bm25(products, {w}), rowid LIMIT ?",
            (match, int(limit)),
        ).fetchall()
        return [r[0] for r in rows]

    def _stem(self, word: str) -> tuple[str, ...]:
        """The index terms FTS5's tokenizer makes of one query word (its porter stem), asked of SQLite once."""
        terms = self._stems.get(word)
        if terms is None:
            with self._lock:
                if self._stemmer is None:
                    self._stemmer = sqlite3.connect(":memory:", check_same_thread=False)
                    self._stemmer.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61')")
                    self._stemmer.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
                with self._stemmer:
                    self._stemmer.execute("INSERT INTO t(rowid, x) VALUES (1, ?)", (word,))
                    terms = tuple(r[0] for r in self._stemmer.execute("SELECT term FROM v ORDER BY offset"))
                    self._stemmer.execute("DELETE FROM t")
            if len(self._stems) < STEM_CACHE_SIZE:
                self._stems[word] = terms
        return terms

    def _postings_loaded(self) -> "_Postings":
        if self._postings is None:
            with self._lock:
                if self._postings is None:
                    self._postings = _Postings.load(self.path, self._connection())
        return self._postings

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __getstate__(self) -> dict:
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])


def _query_words(text: str) -> list[str]:
    """The words of a query as :func:`fts_query` quotes them, in order (each one FTS5 phrase)."""
    words: list[str] = []
    for t in tokens(text):
        for part in t.split("."):
            if part and part not in words:
                words.append(part)
    return words[:MAX_QUERY_TOKENS]


class _Postings:
    """Each index term's rows and weighted hit count, and each row's length in tokens: what FTS5's bm25 reads.

    ``freq`` is FTS5's ``aFreq`` (the column weight summed over the term's hits in the row: integers, so exact in any
    order), ``length`` its ``xColumnSize(-1)`` and ``avgdl`` its total tokens over rows."""

    def __init__(self, terms: list[str], starts: np.ndarray, rows: np.ndarray, freq: np.ndarray,
                 length: np.ndarray, n_rows: int):
        self.index = {t: i for i, t in enumerate(terms)}
        self.starts, self.rows, self.freq = starts, rows, freq
        self.n_rows = n_rows  # xRowCount: the rows in the table (the arrays are as long as the largest rowid + 1)
        avgdl = float(length.sum()) / float(n_rows)
        # k1 * (1 - b + b * D / avgdl) of every row, in fts5Bm25Function's order of operations
        self.norm = BM25_K1 * ((1 - BM25_B) + (BM25_B * length.astype(np.float64)) / avgdl)

    @classmethod
    def load(cls, index_path: str, con: sqlite3.Connection) -> "_Postings":
        """From ``<index>.bm25.npz`` beside the index, written from the index's ``fts5vocab`` on first use."""
        cache = Path(index_path + ".bm25.npz")
        if not cache.exists():
            terms, starts, rows, freq, length = cls._read(con)
            n_rows = con.execute("SELECT count(*) FROM products").fetchone()[0]
            tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp.npz")
            np.savez(tmp, terms=np.array("\n".join(terms)), starts=starts, rows=rows, freq=freq, length=length,
                     n_rows=n_rows)
            os.replace(tmp, cache)
        with np.load(cache) as z:
            return cls(str(z["terms"]).split("\n"), z["starts"], z["rows"], z["freq"], z["length"], int(z["n_rows"]))

    @staticmethod
    def _read(con: sqlite3.Connection):
        """(terms, starts, rows, freq, length) from the index: term ``terms[i]``'s rows are
        ``rows[starts[i]:starts[i + 1]]``, with weighted hit counts ``freq[...]``; ``length[row]`` its tokens."""
        weight = dict(zip(("asin", "title", "attributes", "text"), BM25_WEIGHTS))
        size = con.execute("SELECT max(rowid) + 1 FROM products").fetchone()[0] or 0
        con.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.products_hits "
                    "USING fts5vocab(main, products, 'instance')")
        hits = con.execute("SELECT term, doc, col, count(*) FROM temp.products_hits GROUP BY term, doc, col "
                           "ORDER BY term, doc").fetchall()
        terms: list[str] = []
        starts: list[int] = []
        rows: list[int] = []
        freq: list[float] = []
        length = np.zeros(size, dtype=np.int64)
        last = None  # (term, row) of the last entry, whose other columns' hits add to it
        for term, row, col, count in hits:
            if last is None or term != last[0]:
                terms.append(term)
                starts.append(len(rows))
            if (term, row) == last:
                freq[-1] += weight[col] * count
            else:
                rows.append(row)
                freq.append(weight[col] * count)
                last = (term, row)
            length[row] += count
        starts.append(len(rows))
        return (terms, np.array(starts, dtype=np.int64), np.array(rows, dtype=np.int64),
                np.array(freq, dtype=np.float64), length)

    def top(self, terms: tuple[str, ...], limit: int) -> list[int]:
        """The ``limit`` best rows for a query of these terms (one FTS5 phrase each, in query order), by bm25 then
        row, as ``ORDER BY bm25(...), rowid`` orders them."""
        if limit == 0:
            return []
        score = np.zeros(len(self.norm))
        matched = np.zeros(len(self.norm), dtype=bool)
        for term in terms:
            i = self.index.get(term)
            if i is None:
                continue  # no row has it: it adds 0.0 to every score
            rows = self.rows[self.starts[i]:self.starts[i + 1]]
            freq = self.freq[self.starts[i]:self.starts[i + 1]]
            idf = math.log((self.n_rows - len(rows) + 0.5) / (len(rows) + 0.5))
            if idf <= 0.0:
                idf = 1e-6
            score[rows] += idf * ((freq * (BM25_K1 + 1.0)) / (freq + self.norm[rows]))
            matched[rows] = True
        found = np.flatnonzero(matched)
        if len(found) == 0:
            return []
        rank = -1.0 * score[found]  # what bm25() returns: lower is better
        if 0 < limit < len(found):  # keep the rows that can be among the best (ties at the cut included), then sort
            cut = np.partition(rank, limit - 1)[limit - 1]
            keep = rank <= cut
            found, rank = found[keep], rank[keep]
        order = np.lexsort((found, rank))[:limit] if limit > 0 else np.lexsort((found, rank))  # LIMIT -1: all
        return found[order].tolist()


def load_index(products: Sequence[Product], fingerprint: str, directory: Path | None = None) -> SearchIndex:
    """The cached index for a catalog with this ``fingerprint``, built on first use."""
    directory = Path(directory) if directory is not None else cache_dir()
    path = directory / f"index_v{INDEX_VERSION}_{fingerprint[:16]}.sqlite"
    if not path.exists():
        build_index(products, path)
    return SearchIndex(path)
