"""Trajectory datasets (issue 16, item 3): rows written with Hugging Face datasets load back with load_from_disk and
round-trip exactly into the episodes that archer_gym's own episode loop plays."""

import json
import sys

import gymnasium as gym
import numpy as np
import pytest

datasets = pytest.importorskip("datasets")

import archer_gym  # noqa: E402
from archer_gym.__main__ import main  # noqa: E402
from archer_gym.dataset import (PARQUET_FILE, features, load_episodes, load_rows, read_rows_jsonl,  # noqa: E402
                                replayed_rows, scripted_rows, write_dataset, write_rows_jsonl)
from archer_gym.evaluation import run_episode, scripted_policy  # noqa: E402
from archer_gym.records import write_jsonl  # noqa: E402

IDS = archer_gym.list_ids()


def _episodes_by_run_episode(env_id, policy, n, seed, split="train"):
    """The same episodes through evaluation.run_episode, an independent loop."""
    env = gym.make(env_id, split=split)
    rng = np.random.default_rng(seed)
    return [run_episode(env, scripted_policy(env, policy, rng), seed=seed + i, env_id=env_id, policy_name=policy)
            for i in range(n)]


@pytest.mark.parametrize("env_id", IDS)
def test_rows_load_back_and_round_trip_into_episodes(env_id, tmp_path):
    rows = scripted_rows(env_id, "expert", episodes=3, seed=7) + scripted_rows(env_id, "random", episodes=2, seed=9)
    write_dataset(rows, tmp_path / "ds")
    ds = datasets.load_from_disk(str(tmp_path / "ds"))
    assert ds.num_rows == 5 and list(ds) == rows  # every column, exactly (floats, nulls, nested messages)
    expected = _episodes_by_run_episode(env_id, "expert", 3, 7) + _episodes_by_run_episode(env_id, "random", 2, 9)
    assert load_episodes(tmp_path / "ds") == expected
    env = gym.make(env_id).unwrapped
    for row in rows:
        assert row["length"] == len(row["actions"]) == len(row["replies"]) == len(row["observations"]) - 1
        assert row["return"] == sum(row["rewards"]) and (row["terminated"][-1] or row["truncated"][-1])
        assert env.observation_from_messages(row["messages"]) == row["observations"][-1]
        assert row["oracle"] == ("kb" if env.oracle is not None else "engine")
    parquet = datasets.load_dataset("parquet", data_files=str(tmp_path / "ds" / PARQUET_FILE), split="train")
    assert list(parquet) == rows


def test_sft_data_replays_into_a_dataset_exactly(tmp_path):
    """An SFT bundle's data.jsonl as bundles held it before rows.jsonl (episodes as Episode records, here with token
    ids and log-probs, as a run's) becomes rows that load back as the same episodes: the replay recovers replies and
    messages, and checks every observation and reward."""
    env_id = "archer/TwentyQuestionsSubset-v0"
    eps = _episodes_by_run_episode(env_id, "noisy", 4, 3)
    for e in eps:
        for k, t in enumerate(e.transitions):
            t.action_ids, t.log_probs = [k, 5, 2], [-0.125, -1.0 / 3.0, -2.5e-7]
    write_jsonl(tmp_path / "sft" / "data.jsonl", eps)
    rows = replayed_rows(env_id, tmp_path / "sft")
    write_dataset(rows, tmp_path / "ds")
    assert load_episodes(tmp_path / "ds") == eps


def test_rows_as_json_lines_are_the_same_rows_and_a_dataset(tmp_path):
    """The JSON Lines storage of rows (agents.sft's rows.jsonl; no datasets needed to write or read it) gives back the
    rows exactly, and the episodes of the independent loop; with datasets it loads as the same Dataset rows as
    save_to_disk's; --policy DIR of a directory holding rows.jsonl (an SFT bundle) replays them into a dataset."""
    env_id = "archer/TwentyQuestionsSubset-v0"
    rows = scripted_rows(env_id, "noisy", episodes=4, seed=3)
    path = tmp_path / "bundle" / "rows.jsonl"
    assert write_rows_jsonl(rows, path) == 4 and [p.name for p in path.parent.iterdir()] == ["rows.jsonl"]
    assert list(read_rows_jsonl(path)) == list(load_rows(path)) == rows
    assert load_episodes(path) == _episodes_by_run_episode(env_id, "noisy", 4, 3)
    ds = datasets.Dataset.from_json(str(path), features=features(), cache_dir=str(tmp_path / "hf"))
    write_dataset(rows, tmp_path / "ds")
    assert list(ds) == list(load_rows(tmp_path / "ds")) == rows
    assert main(["dataset", env_id, "--policy", str(path.parent), "--out", str(tmp_path / "replayed")]) == 0
    assert load_episodes(tmp_path / "replayed") == load_episodes(path)
    path.write_text(path.read_text().splitlines()[0] + '\n{"env_id": "x"}\n')
    with pytest.raises(ValueError, match=r"rows.jsonl:2: not a dataset row \(no split, seed"):
        list(read_rows_jsonl(path))


def test_a_recorded_episode_that_does_not_replay_is_one_clear_error(tmp_path):
    env_id = "archer/TwentyQuestionsSubset-v0"
    (ep,) = _episodes_by_run_episode(env_id, "random", 1, 0)
    ep.transitions[1].reward = 5.0
    write_jsonl(tmp_path / "eps.jsonl", [ep])
    with pytest.raises(ValueError, match="does not replay .* differs at turn 1"):
        replayed_rows(env_id, tmp_path / "eps.jsonl")
    ep.transitions[1].reward = -1.0
    ep.transitions = ep.transitions[:2]  # a cut episode: the env goes on
    write_jsonl(tmp_path / "eps.jsonl", [ep])
    with pytest.raises(ValueError, match="goes on past its 2 recorded turns"):
        replayed_rows(env_id, tmp_path / "eps.jsonl")


def test_cli_writes_a_dataset_and_reports_size_and_speed(tmp_path, capsys):
    out = tmp_path / "tq"
    assert main(["dataset", "archer/TwentyQuestionsSubset-v0", "--policy", "noisy", "--episodes", "6", "--out",
                 str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert stats["episodes"] == 6 and stats["arrow_bytes"] > 0 and stats["parquet_bytes"] > 0
    assert stats["policy"] == "noisy" and stats["episodes_written_per_second"] > 0
    assert datasets.load_from_disk(str(out)).num_rows == 6


@pytest.mark.parametrize("argv, message", [
    (["--policy", "clever"], "--policy: .* has no scripted policy 'clever'"),
    (["--policy", "no/such/run"], "--policy: no/such/run holds no recorded episodes"),
    (["--out", "FILE"], "--out .* exists and is not an empty directory"),
    (["--episodes", "0"], "--episodes: .*must be >= 1"),
])
def test_cli_bad_input_is_one_line(argv, message, tmp_path, capsys):
    (tmp_path / "FILE").write_text("x")
    argv = [str(tmp_path / "FILE") if a == "FILE" else a for a in argv]
    base = ["dataset", "archer/TwentyQuestionsSubset-v0", "--out", str(tmp_path / "new")]
    with pytest.raises(SystemExit) as e:
        main(base + argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1
    assert __import__("re").search(message, err), err


def test_cli_without_datasets_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # `import datasets` raises ImportError
    with pytest.raises(SystemExit) as e:
        main(["dataset", "archer/TwentyQuestionsSubset-v0", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "pip install 'archer-gym[data]'" in err and len(err.strip().splitlines()) == 1
