"""Replay buffer of utterance-level transitions: capacity (FIFO), uniform sampling, save/load (JSONL)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

import numpy as np

from archer_gym import Episode, Transition
from agents.distributed import shard


class ReplayBuffer:
    def __init__(self, capacity: int = 100_000):
        if capacity < 1:
            raise ValueError(f"capacity={capacity} must be >= 1")
        self.capacity = capacity
        self._items: list[Transition] = []
        self._next = 0  # ring index once full
        self._overwrote = False  # an old transition has been overwritten (the oldest episode may be partial)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, transition: Transition) -> None:
        if len(self._items) < self.capacity:
            self._items.append(transition)
        else:
            self._items[self._next] = transition
            self._overwrote = True
        self._next = (self._next + 1) % self.capacity

    def add_episodes(self, episodes: Iterable[Episode]) -> None:
        for ep in episodes:
            for t in ep.transitions:
                self.add(t)

    def sample(self, batch_size: int, rng: np.random.Generator) -> list[Transition]:
        """``batch_size`` transitions drawn uniformly with replacement (multi-process, inside an update: this
        rank's slice of rank 0's draw, see agents.distributed.shard)."""
        if not self._items:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = shard(rng.integers(0, len(self._items), size=batch_size))
        return [self._items[i] for i in idx]

    def episodes(self) -> list[list[Transition]]:
        """The whole episodes held, oldest first: transitions in insertion order, cut after each done one. Once the
        ring has wrapped, the oldest piece may be the tail of an overwritten episode and is left out."""
        wrapped = self._overwrote
        ordered = self._items[self._next :] + self._items[: self._next] if wrapped else self._items
        out, current = [], []
        for t in ordered:
            current.append(t)
            if t.done:
                out.append(current)
                current = []
        return out[1:] if wrapped else out

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps({"capacity": self.capacity, "next": self._next, "overwrote": self._overwrote}) + "\n")
            for t in self._items:
                f.write(json.dumps(asdict(t)) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ReplayBuffer":
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no replay buffer at {path}")
        with open(path, encoding="utf-8") as f:
            head = json.loads(f.readline())
            buf = cls(head["capacity"])
            buf._items = [Transition(**json.loads(line)) for line in f if line.strip()]
            buf._next = head["next"]
            buf._overwrote = head.get("overwrote", len(buf._items) == buf.capacity)
        return buf
