"""Episode and Transition records, and their JSONL form (datasets, replays, logs).

A :class:`Transition` is one utterance-level step ``(s, a, r, s', terminated, truncated)``; agents
may attach the sampled token ids and log-probs of ``a``. An :class:`Episode` is the list of its
transitions plus its target and outcome. One JSON object per line, one episode per object.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator


@dataclass
class Transition:
    observation: str
    action: str
    reward: float
    next_observation: str
    terminated: bool
    truncated: bool
    #: token ids of the action as sampled (including the stop token), if an LM produced it
    action_ids: list[int] | None = None
    #: per-token log-probs of ``action_ids`` under the sampling policy
    log_probs: list[float] | None = None

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


@dataclass
class Episode:
    env_id: str
    target: str
    transitions: list[Transition] = field(default_factory=list)
    success: bool = False
    seed: int | None = None
    policy: str = ""

    @property
    def ret(self) -> float:
        return float(sum(t.reward for t in self.transitions))

    @property
    def length(self) -> int:
        return len(self.transitions)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Episode":
        d = dict(d)
        d["transitions"] = [Transition(**t) for t in d.get("transitions", [])]
        return cls(**d)


def write_jsonl(path: str | os.PathLike, episodes: Iterable[Episode]) -> int:
    """Write episodes to ``path`` atomically (temp file + rename); returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for ep in episodes:
            f.write(json.dumps(ep.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def read_jsonl(path: str | os.PathLike) -> Iterator[Episode]:
    """Read episodes written by :func:`write_jsonl`; a malformed line raises ``ValueError`` naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no episode file at {path}")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield Episode.from_dict(json.loads(line))
            except (json.JSONDecodeError, TypeError) as e:
                raise ValueError(f"{path}:{lineno}: not an Episode record ({e})") from e
