"""A persistent SQLite cache of LLM-oracle completions, so reruns and evaluations replay identically
and cost nothing.

One row per completion, keyed by the SHA-256 of ``(backend, model, prompt, parameters)`` as canonical
JSON. The raw completion text is stored (normalisation and the no-leak guard run after the cache, so
changing them never needs a new cache). Only successful completions are written: a failed call
leaves no trace.

Where the cache lives (:func:`resolve_cache`):

* ``oracle_cache="default"`` (the env default): ``$ARCHER_GYM_CACHE/oracle_cache.sqlite`` if set, else
  ``~/.cache/archer_gym/oracle_cache.sqlite``; ``ARCHER_GYM_CACHE=off`` disables it. ``$ARCHER_GYM_CACHE`` is
  the one cache root directory of the project (SFT actors, models, WebShop, oracle), never a file;
* ``oracle_cache="/some/file.sqlite"`` (str or ``Path``): that file;
* ``oracle_cache=None`` or ``"off"``: no cache.

The file is opened in WAL mode, so several processes (rollout workers) may share one file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

#: Environment variable that moves (or, with ``off``, disables) the default cache.
CACHE_ENV_VAR = "ARCHER_GYM_CACHE"
DEFAULT_CACHE_PATH = Path("~/.cache/archer_gym/oracle_cache.sqlite")
_OFF = {"off", "none", "false", "0", ""}


def cache_key(backend: str, model: str, prompt: Any, params: dict[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of everything that determines a completion."""
    blob = json.dumps({"backend": backend, "model": model, "prompt": prompt, "params": params},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class OracleCache:
    """Key -> (completion text, prompt tokens, completion tokens), in one SQLite file; thread-safe."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS completions ("
                " key TEXT PRIMARY KEY, text TEXT NOT NULL,"
                " prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL)"
            )
            self._conn.commit()

    def get(self, key: str) -> tuple[str, int, int] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT text, prompt_tokens, completion_tokens FROM completions WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else (row[0], int(row[1]), int(row[2]))

    def put(self, key: str, text: str, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO completions (key, text, prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?)",
                (key, text, int(prompt_tokens), int(completion_tokens)),
            )
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"OracleCache({str(self.path)!r})"

    # sqlite connections do not pickle; an env holding a cached oracle must (contract suite): reopen.
    def __getstate__(self) -> dict:
        return {"path": str(self.path)}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])


def resolve_cache(spec: "str | os.PathLike | OracleCache | None" = "default") -> OracleCache | None:
    """The cache an oracle kwarg ``oracle_cache=spec`` names (see the module docstring)."""
    if spec is None or isinstance(spec, OracleCache):
        return spec
    if isinstance(spec, str) and spec.strip().lower() in _OFF:
        return None
    if isinstance(spec, str) and spec == "default":
        env = os.environ.get(CACHE_ENV_VAR)
        if env is not None:
            if env.strip().lower() in _OFF:
                return None
            root = Path(env).expanduser()
            if root.exists() and not root.is_dir():
                raise ValueError(f"${CACHE_ENV_VAR}={env} is a file; it must be the cache root directory (the "
                                 f"oracle cache is {DEFAULT_CACHE_PATH.name} inside it). To keep using that file, "
                                 f"pass oracle_cache={env!r}")
            return OracleCache(root / DEFAULT_CACHE_PATH.name)
        return OracleCache(DEFAULT_CACHE_PATH)
    if isinstance(spec, (str, os.PathLike)):
        return OracleCache(spec)
    raise TypeError(
        f"oracle_cache={spec!r} is not a cache; pass a file path, 'default', or None/'off' to disable."
    )
