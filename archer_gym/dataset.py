"""Trajectory datasets on the Hugging Face stack: one row per episode, written with ``datasets`` (issue 16, item 3).

    python -m archer_gym dataset archer/TwentyQuestionsSubset-v0 --policy expert --episodes 1000 --out data/tq
    python -m archer_gym dataset archer/TwentyQuestionsSubset-v0 --policy runs/sft --out data/sft   # replay JSONL

    import datasets
    ds = datasets.load_from_disk("data/tq")                  # a datasets.Dataset, one row per episode
    from archer_gym.dataset import load_episodes
    episodes = load_episodes("data/tq")                      # the same episodes as archer_gym.Episode, exactly

``DIR`` is what ``Dataset.save_to_disk`` writes (Arrow, read by ``datasets.load_from_disk``) plus
``DIR/parquet/episodes.parquet``, the same rows for pandas, polars, DuckDB or ``load_dataset("parquet")``.
Columns (:func:`features`): ``env_id``, ``split``, ``seed`` (null when not seeded), ``target``, ``policy``, ``oracle``
(who answered: ``kb``, ``engine`` for game engines, ``openai:<model>``, ...), ``messages`` (the whole episode as
OpenAI chat messages, :mod:`archer_gym.chat`), ``observations`` (the text observation before each turn and after
the last: length + 1), ``actions`` (as the policy wrote them), ``replies``, ``rewards``, ``terminated``,
``truncated`` (per turn), ``return``, ``length``, ``success``, and ``action_ids`` / ``log_probs`` (per turn, null for
scripted policies).

The same rows can also be stored as JSON Lines, one row per line (:func:`write_rows_jsonl`), which needs no
``datasets``: that is how ``agents.sft`` stores its scripted episodes (``rows.jsonl`` of an SFT bundle), and
:func:`load_rows` / :func:`load_episodes` read either storage. With ``datasets`` installed, a rows file is a
``datasets.Dataset`` too: ``datasets.Dataset.from_json(path, features=features())``.

Push to the Hub (needs a token; not done in tests)::

    huggingface-cli login
    python -c "import datasets; datasets.load_from_disk('data/tq').push_to_hub('<user>/archer-tq-expert')"

``datasets`` is an optional dependency: ``pip install 'archer-gym[data]'`` (the JSON Lines storage needs nothing).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import gymnasium as gym
import numpy as np

from archer_gym.records import Episode, Transition, read_jsonl

#: Shown when ``datasets`` is missing: the one line the CLI prints.
MISSING = "trajectory datasets need Hugging Face datasets: pip install 'archer-gym[data]' (or pip install datasets)"
PARQUET_FILE = Path("parquet") / "episodes.parquet"


def require_datasets():
    try:
        import datasets
    except ImportError as e:
        raise ImportError(MISSING) from e
    return datasets


def features():
    """The column types of an episode dataset (explicit, so an empty or all-scripted dataset has the same schema)."""
    d = require_datasets()
    s, i, f, b = d.Value("string"), d.Value("int64"), d.Value("float64"), d.Value("bool")
    return d.Features({
        "env_id": s, "split": s, "seed": i, "target": s, "policy": s, "oracle": s,
        "messages": d.List({"role": s, "content": s}),
        "observations": d.List(s), "actions": d.List(s), "replies": d.List(s),
        "rewards": d.List(f), "terminated": d.List(b), "truncated": d.List(b),
        "return": f, "length": i, "success": b,
        "action_ids": d.List(d.List(i)), "log_probs": d.List(d.List(f)),
    })


def oracle_name(env: gym.Env) -> str:
    """Who answers in ``env``: ``kb``, ``engine`` (a game engine, no oracle), or ``<backend>:<model>``."""
    oracle = env.unwrapped.oracle
    if oracle is None:
        return "engine"
    backend = getattr(oracle, "backend", None)
    if backend is not None:
        return f"{backend.name}:{backend.model}"
    return "kb" if type(oracle).__name__ == "KnowledgeBaseOracle" else type(oracle).__name__


def record_episode(env: gym.Env, policy: Callable[[str], str], *, seed: int | None = None,
                   options: dict | None = None, env_id: str = "", policy_name: str = "", split: str = "") -> dict:
    """Play one episode of ``policy`` and return its dataset row (see the module doc for the columns)."""
    obs, info = env.reset(seed=seed, options=options)
    observations, actions, replies, rewards, terms, truncs = [obs], [], [], [], [], []
    while True:
        action = policy(obs)
        obs, r, term, trunc, info = env.step(action)
        observations.append(obs)
        actions.append(action)
        replies.append(info["reply"])
        rewards.append(float(r))
        terms.append(bool(term))
        truncs.append(bool(trunc))
        if term or trunc:
            break
    return {"env_id": env_id, "split": split, "seed": seed, "target": str(env.unwrapped.target),
            "policy": policy_name, "oracle": oracle_name(env), "messages": info["messages"],
            "observations": observations, "actions": actions, "replies": replies, "rewards": rewards,
            "terminated": terms, "truncated": truncs, "return": float(sum(rewards)), "length": len(actions),
            "success": bool(info["episode"]["success"]), "action_ids": None, "log_probs": None}


def row_to_episode(row: dict) -> Episode:
    """The :class:`Episode` a dataset row holds (exactly what :func:`record_episode` or :func:`replay_row` played)."""
    obs = row["observations"]
    ids = row["action_ids"] or [None] * row["length"]
    lps = row["log_probs"] or [None] * row["length"]
    transitions = [Transition(obs[t], row["actions"][t], row["rewards"][t], obs[t + 1], row["terminated"][t],
                              row["truncated"][t], ids[t], lps[t]) for t in range(row["length"])]
    return Episode(env_id=row["env_id"], target=row["target"], transitions=transitions, success=row["success"],
                   seed=row["seed"], policy=row["policy"])


def replay_row(env: gym.Env, episode: Episode, *, split: str = "") -> dict:
    """Replay a recorded :class:`Episode` (e.g. one of a run's replay or start data) in ``env`` from its seed and target to
    recover its replies and chat messages; ``ValueError`` if the env no longer plays it the same way."""
    actions = [t.action for t in episode.transitions]

    def recorded(_observation: str) -> str:
        if len(actions) == 0:
            raise ValueError(f"episode (seed {episode.seed}, target {episode.target!r}) does not replay in "
                             f"{episode.env_id or 'the env'}: it goes on past its {episode.length} recorded turns")
        return actions.pop(0)

    row = record_episode(env, recorded, seed=episode.seed, options={"target": episode.target},
                         env_id=episode.env_id, policy_name=episode.policy, split=split)
    ids = [t.action_ids for t in episode.transitions]
    lps = [t.log_probs for t in episode.transitions]
    row["action_ids"] = None if all(x is None for x in ids) else [x or [] for x in ids]
    row["log_probs"] = None if all(x is None for x in lps) else [x or [] for x in lps]
    again = row_to_episode(row)
    if again != episode:
        t = next((i for i, (a, b) in enumerate(zip(again.transitions, episode.transitions)) if a != b),
                 min(again.length, episode.length))
        raise ValueError(f"episode (seed {episode.seed}, target {episode.target!r}) does not replay in "
                         f"{episode.env_id or 'the env'}: it differs at turn {t}")
    return row


def write_dataset(rows: Sequence[dict], out: str | os.PathLike) -> Path:
    """Write rows as a ``datasets`` dataset at ``out`` (``save_to_disk``) and as ``out/parquet/episodes.parquet``."""
    d = require_datasets()
    out = Path(out)
    ds = d.Dataset.from_list(list(rows), features=features())
    ds.save_to_disk(str(out))
    (out / PARQUET_FILE).parent.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(out / PARQUET_FILE))
    return out


#: The columns a row must have (every column of :func:`features`), checked where rows are read from JSON Lines.
COLUMNS = ("env_id", "split", "seed", "target", "policy", "oracle", "messages", "observations", "actions", "replies",
           "rewards", "terminated", "truncated", "return", "length", "success", "action_ids", "log_probs")


def write_rows_jsonl(rows: Iterable[dict], path: str | os.PathLike) -> int:
    """Write rows as JSON Lines at ``path``, one row per line, atomically (temp file + rename); returns how many. Needs
    no ``datasets``; JSON keeps every float exactly (shortest repr), so :func:`read_rows_jsonl` gives the rows back."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({k: row[k] for k in COLUMNS}, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def read_rows_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """The rows :func:`write_rows_jsonl` wrote; a line that is not a row raises ``ValueError`` naming it."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                missing = [k for k in COLUMNS if k not in row]
            except (json.JSONDecodeError, TypeError) as e:
                raise ValueError(f"{path}:{lineno}: not a dataset row ({e})") from e
            if not isinstance(row, dict) or missing:
                raise ValueError(f"{path}:{lineno}: not a dataset row (no {', '.join(missing) or 'object'})")
            yield row


def load_rows(path: str | os.PathLike) -> Iterator[dict]:
    """The rows of a dataset: a directory :func:`write_dataset` wrote (needs ``datasets``) or a JSON Lines file
    :func:`write_rows_jsonl` wrote (needs nothing)."""
    path = Path(path)
    if path.is_file():
        yield from read_rows_jsonl(path)
        return
    d = require_datasets()
    if not (path / "dataset_info.json").exists():
        raise FileNotFoundError(f"no episode dataset at {path} (write one with `python -m archer_gym dataset`)")
    yield from d.load_from_disk(str(path))


def load_episodes(path: str | os.PathLike) -> list[Episode]:
    """The episodes of a dataset (:func:`load_rows`: written by :func:`write_dataset` or :func:`write_rows_jsonl`),
    as :class:`archer_gym.Episode`."""
    return [row_to_episode(r) for r in load_rows(path)]


def scripted_rows(env_id: str, policy: str, *, episodes: int, split: str = "train", seed: int = 0,
                  progress: bool = False, **env_kwargs: Any) -> list[dict]:
    """``episodes`` rows of a task's scripted policy; episode i is seeded ``seed + i`` (every row can be replayed)."""
    from archer_gym.evaluation import scripted_policy

    env = gym.make(env_id, split=split, **env_kwargs)
    rng = np.random.default_rng(seed)
    it: Iterable[int] = range(episodes)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc=f"{policy} on {env_id}", unit="ep")
    rows = [record_episode(env, scripted_policy(env, policy, rng), seed=seed + i, env_id=env_id, policy_name=policy,
                           split=split) for i in it]
    env.close()
    return rows


#: The recorded-episode files ``--policy DIR`` looks for, in order: an SFT bundle's rows (agents.sft), an SFT bundle
#: built before its data went through these rows (Episode records), a run's or anyone's Episode records.
RECORDED_FILES = ("rows.jsonl", "data.jsonl", "episodes.jsonl")


def recorded_episodes_file(path: str | os.PathLike) -> Path:
    """The JSONL episode file that ``--policy PATH`` names: the file itself, or the first of :data:`RECORDED_FILES`
    inside a directory."""
    path = Path(path)
    if path.is_file():
        return path
    for name in RECORDED_FILES:
        if (path / name).is_file():
            return path / name
    raise FileNotFoundError(f"{path} holds no recorded episodes ({', '.join(RECORDED_FILES)}); give a scripted policy "
                            "name or a JSONL episode file")


def read_recorded(path: str | os.PathLike) -> Iterator[Episode]:
    """The episodes of :func:`recorded_episodes_file`: JSON Lines of dataset rows (:func:`write_rows_jsonl`) or of
    :class:`archer_gym.Episode` records (:func:`archer_gym.records.write_jsonl`), told apart by the first line."""
    file = recorded_episodes_file(path)
    with open(file, encoding="utf-8") as f:
        first = next((line for line in f if line.strip()), "{}")
    try:
        rows = "observations" in json.loads(first)
    except (json.JSONDecodeError, TypeError):
        rows = False  # read_jsonl names the line
    if rows:
        yield from map(row_to_episode, read_rows_jsonl(file))
    else:
        yield from read_jsonl(file)


def replayed_rows(env_id: str, path: str | os.PathLike, *, episodes: int | None = None, split: str = "train",
                  **env_kwargs: Any) -> list[dict]:
    """Rows for the first ``episodes`` recorded episodes of ``path`` (see :func:`recorded_episodes_file`)."""
    env = gym.make(env_id, split=split, **env_kwargs)
    rows = []
    for ep in read_recorded(path):
        if episodes is not None and len(rows) >= episodes:
            break
        if ep.env_id and ep.env_id.split(":", 1)[-1] != env_id.split(":", 1)[-1]:
            raise ValueError(f"{path} holds episodes of {ep.env_id}, not {env_id}")
        rows.append(replay_row(env, ep, split=split))
    env.close()
    return rows


def dataset_stats(out: str | os.PathLike, rows: Sequence[dict], play_seconds: float, write_seconds: float) -> dict:
    """What the CLI prints: rows, turns, bytes on disk (Arrow and Parquet), time to play and to write."""
    out = Path(out)
    arrow = sum(p.stat().st_size for p in out.glob("*.arrow"))
    parquet = (out / PARQUET_FILE).stat().st_size
    return {"out": str(out), "episodes": len(rows), "turns": sum(r["length"] for r in rows), "arrow_bytes": arrow,
            "parquet_bytes": parquet, "play_seconds": round(play_seconds, 3), "write_seconds": round(write_seconds, 3),
            "episodes_written_per_second": round(len(rows) / max(write_seconds, 1e-9), 1)}


def build(env_id: str, policy: str, *, episodes: int, out: str | os.PathLike, split: str = "train", seed: int = 0,
          progress: bool = False) -> dict:
    """Play (or replay) and write one dataset; returns :func:`dataset_stats`."""
    require_datasets()
    t0 = time.perf_counter()
    if is_recorded_path(policy):
        rows = replayed_rows(env_id, policy, episodes=episodes, split=split)
    else:
        rows = scripted_rows(env_id, policy, episodes=episodes, split=split, seed=seed, progress=progress)
    t1 = time.perf_counter()
    write_dataset(rows, out)
    stats = dataset_stats(out, rows, t1 - t0, time.perf_counter() - t1)
    stats.update(env_id=env_id, policy=policy, split=split)
    return stats


def is_recorded_path(policy: str) -> bool:
    """Whether ``--policy`` names recorded episodes (a path) rather than a scripted policy."""
    return Path(policy).exists() or "/" in policy or os.sep in policy or policy.endswith(".jsonl")
