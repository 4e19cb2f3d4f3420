"""Agent core on the toy task: rollout counts and equivalence, replay buffer, trainer resume, CLI errors."""

import dataclasses
import math
from unittest import mock

import numpy as np
import pytest
import torch

from archer_gym import Episode, Transition, make_vec
from agents.buffer import ReplayBuffer
from agents.models import ModelConfig
from agents.rollout import EpisodeSpec, collect
from agents.sft import SFTConfig, load_sft_actor, run_sft
from agents.trainer import TrainConfig, Trainer
from tests import toy  # noqa: F401

ENV = "archer/ToyColour-v0"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    import os
    d = tmp_path_factory.mktemp("cache")
    old = os.environ.get("ARCHER_GYM_CACHE")
    os.environ["ARCHER_GYM_CACHE"] = str(d)
    yield d
    if old is None:
        os.environ.pop("ARCHER_GYM_CACHE")
    else:
        os.environ["ARCHER_GYM_CACHE"] = old


def sft_cfg():
    return SFTConfig(env_id=ENV, episodes=200, epochs=2, model=ModelConfig())


@pytest.fixture(scope="module")
def actor(cache):
    return load_sft_actor(run_sft(sft_cfg(), progress=False), ModelConfig())


def test_sft_is_cached(cache, actor, monkeypatch):
    """A second build with the same config reads the cache: no data is generated and nothing is trained (checked by
    making both impossible, not by timing it), and the cached files are left as they were."""
    import agents.sft as sft

    first = run_sft(sft_cfg(), progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in first.rglob("*") if p.is_file()}

    def never(*args, **kwargs):
        raise AssertionError("run_sft rebuilt a cached SFT actor")

    monkeypatch.setattr(sft, "generate_rows", never)
    monkeypatch.setattr(sft, "supervised_epochs", never)
    assert run_sft(sft_cfg(), progress=False) == first
    assert {p: p.stat().st_mtime_ns for p in first.rglob("*") if p.is_file()} == stamps
    assert len(list((cache / "sft").iterdir())) == 1


#: sha256 of what agents.sft wrote as its data (data.jsonl, archer_gym.records.write_jsonl) at d09f43f, the last commit
#: before the data went through archer_gym.dataset's rows, for 50 episodes at expert_prob 0.75 and seed 0.
OLD_SFT_DATA_SHA256 = {"archer/ToyColour-v0": "bbca034a2eca36fb5bd5779e60a9ffb0e141152fb438d4e72a7cff045c5cc4d5",
                       "archer/TwentyQuestionsSubset-v0":
                           "a959175f3922b731900ba0e13088526a76cd4638e38c080b36cc05acee9e83de"}


def old_sft_episodes(env_id, episodes, expert_prob, seed):
    """agents.sft.generate_dataset as it was at d09f43f: run_episode with the mixture policy, an independent loop."""
    import gymnasium as gym

    from agents.sft import MixturePolicy
    from archer_gym.evaluation import run_episode, scripted_policy

    env = gym.make(env_id, split="train")
    rng = np.random.default_rng(seed)
    out = []
    for i in range(episodes):
        pol = MixturePolicy(scripted_policy(env, "expert", rng), scripted_policy(env, "random", rng), expert_prob, rng)
        out.append(run_episode(env, pol, seed=seed * 1_000_003 + i, env_id=env_id, policy_name=f"mix{expert_prob}"))
    env.close()
    return out


@pytest.mark.parametrize("env_id", sorted(OLD_SFT_DATA_SHA256))
def test_sft_rows_give_back_exactly_the_old_writers_episodes(env_id, tmp_path):
    """The SFT data now goes through archer_gym.dataset's rows (record_episode, rows.jsonl, load_episodes); the
    episodes read back, which the actor is trained on, are the old writer's exactly (texts, rewards, flags, seeds,
    targets, order), and the old writer's bytes are the ones d09f43f wrote: so the SFT actor is the same, and cached
    bundles (same key) stay valid."""
    import hashlib

    from agents.sft import generate_rows
    from archer_gym.dataset import load_episodes, write_rows_jsonl
    from archer_gym.records import read_jsonl, write_jsonl

    old = old_sft_episodes(env_id, 50, 0.75, 0)
    write_jsonl(tmp_path / "data.jsonl", old)
    assert hashlib.sha256((tmp_path / "data.jsonl").read_bytes()).hexdigest() == OLD_SFT_DATA_SHA256[env_id]
    rows = generate_rows(env_id, 50, 0.75, 0, progress=False)
    write_rows_jsonl(rows, tmp_path / "rows.jsonl")
    new = load_episodes(tmp_path / "rows.jsonl")
    assert new == old == list(read_jsonl(tmp_path / "data.jsonl"))
    assert [r["messages"][-1] for r in rows] and all(r["split"] == "train" for r in rows)  # a dataset row, in full


def test_sft_bundle_holds_the_rows_it_was_trained_on(cache, actor, tmp_path):
    """A bundle's rows.jsonl are the old writer's episodes for its config, and are what training read; a bundle built
    before the rows (data.jsonl only, same cache key) gives the same episodes, to the trainer and to the dataset CLI's
    replay, and a directory with neither is one clear error."""
    import shutil

    from agents.sft import sft_episodes
    from archer_gym.dataset import replayed_rows
    from archer_gym.records import write_jsonl

    bundle = run_sft(sft_cfg(), progress=False)
    cfg = sft_cfg()
    expected = old_sft_episodes(ENV, cfg.episodes, cfg.expert_prob, cfg.seed)
    assert (bundle / "rows.jsonl").exists() and not (bundle / "data.jsonl").exists()
    assert sft_episodes(bundle) == expected
    legacy = tmp_path / "legacy"
    shutil.copytree(bundle, legacy)
    (legacy / "rows.jsonl").unlink()
    write_jsonl(legacy / "data.jsonl", expected)  # what the old code left in the cache
    assert sft_episodes(legacy) == expected
    assert replayed_rows(ENV, legacy, episodes=5) == replayed_rows(ENV, bundle, episodes=5)
    (legacy / "data.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="no SFT data at .*rows.jsonl"):
        sft_episodes(legacy)


def test_sft_training_reads_the_stored_rows(cache, tmp_path, monkeypatch):
    """run_sft trains on the episodes read back from the rows it stored, in order (the data file is what the actor
    learned), and a failed build leaves no temp directory in the cache."""
    import agents.sft as sft

    seen = []

    def fake_train(cfg, episodes, actor_dir, progress):
        seen.extend(episodes)
        raise RuntimeError("stop after reading the data")

    monkeypatch.setenv("ARCHER_GYM_CACHE", str(tmp_path / "c"))
    monkeypatch.setattr(sft, "train_actor", fake_train)
    cfg = SFTConfig(env_id=ENV, episodes=20, epochs=1, model=ModelConfig())
    with pytest.raises(RuntimeError, match="stop after"):
        run_sft(cfg, progress=False)
    assert seen == old_sft_episodes(ENV, 20, cfg.expert_prob, cfg.seed)
    assert list((tmp_path / "c" / "sft").iterdir()) == []


def test_collector_counts_and_lockstep(actor):
    venv = make_vec(ENV, 3)
    calls = []

    def act(obs):
        calls.append(len(obs))
        return actor.sample(obs, greedy=True)

    res = collect(venv, act, [EpisodeSpec(seed=i) for i in range(7)])
    assert res.counts.trajectories == 7 == len(res.episodes)
    assert res.counts.env_steps == sum(e.length for e in res.episodes)
    assert res.counts.tokens == sum(len(t.action_ids) for e in res.episodes for t in e.transitions)
    assert max(calls) == 3  # one batched call per turn over the unfinished envs
    assert sum(calls) == res.counts.env_steps
    for e in res.episodes:
        for t in e.transitions:
            assert len(t.action_ids) == len(t.log_probs) > 0


def test_batched_rollout_equals_one_at_a_time(actor):
    specs = [EpisodeSpec(seed=i, options={"target": t}) for i, t in enumerate(["red", "blue", "green", "orange"])]
    act = lambda obs: actor.sample(obs, greedy=True)  # noqa: E731
    batched = collect(make_vec(ENV, 4), act, specs).episodes
    single = collect(make_vec(ENV, 1), act, specs).episodes
    assert [[t.action for t in e.transitions] for e in batched] == [[t.action for t in e.transitions] for e in single]
    for eb, es in zip(batched, single):
        for tb, ts in zip(eb.transitions, es.transitions):
            assert tb.action_ids == ts.action_ids
            np.testing.assert_allclose(tb.log_probs, ts.log_probs, atol=1e-4)


def test_buffer_capacity_sampling_and_round_trip(tmp_path):
    buf = ReplayBuffer(capacity=3)
    for i in range(5):
        buf.add(Transition(f"o{i}", "a", -1.0, "o", False, False, [1], [-0.5]))
    assert len(buf) == 3 and {t.observation for t in buf._items} == {"o2", "o3", "o4"}
    rng = np.random.default_rng(0)
    assert len(buf.sample(10, rng)) == 10
    buf.save(tmp_path / "b.jsonl")
    back = ReplayBuffer.load(tmp_path / "b.jsonl")
    assert back._items == buf._items and back._next == buf._next and back.capacity == 3
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(2).sample(1, rng)


def _cfg(tmp_path, algo, name):
    return TrainConfig(algo=algo, env_id=ENV, trajectories=64, rollout_trajectories=16, num_envs=8,
                       eval_every=32, eval_episodes=8, out=str(tmp_path / name), sft=sft_cfg(), start_episodes=32,
                       algo_config={"warmup_iterations": 1, "critic_updates": 2, "batch_size": 16, "critic_warmup_steps": 4}
                       if algo == "archer" else {})


def test_filtered_bc_filters_every_trajectory_so_far(cache, tmp_path):
    trainer = Trainer(_cfg(tmp_path, "filtered_bc", "fbc"), progress=False)
    rows = trainer.train()
    assert len(trainer.buffer.episodes()) == 64  # the replay kept all of them (it once held one transition)
    # The row averages the two iterations since the last evaluation, which filter the top 10% of all 48 and then all
    # 64 episodes so far: at least 5 and 7 (ties kept), so at least 6; filtering the 16 new episodes alone keeps ~2.
    assert rows[-1]["kept_episodes"] >= 6


@pytest.mark.parametrize("algo", ["archer", "ppo", "filtered_bc"])
def test_resumed_run_equals_uninterrupted(cache, tmp_path, algo):
    full = Trainer(_cfg(tmp_path, algo, "full"), progress=False).train()
    part = Trainer(_cfg(tmp_path, algo, "part"), progress=False)
    part.train(max_iterations=3)  # stops between evaluations, checkpoints
    assert part.counts.trajectories == 48
    resumed = Trainer(_cfg(tmp_path, algo, "part"), resume=True, progress=False).train()
    def strip(rows):  # wall-clock differs; NaN (no training yet at row 0) compares unequal to itself
        return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items() if not k.endswith("seconds")}
                for r in rows]
    assert strip(resumed) == strip(full)
    assert [r["trajectories"] for r in full] == [0, 32, 64]


def test_rows_say_where_the_time_went(cache, tmp_path):
    """metrics.csv's cumulative phase seconds: rollout + update make up ``seconds``, evaluation is counted apart and
    grows with every row, and ArCHer's critic and actor split its update (no actor time in its critic-only first
    iteration)."""
    cfg = dataclasses.replace(_cfg(tmp_path, "archer", "t"), eval_every=16)
    first = Trainer(cfg, progress=False).train(max_iterations=1)[-1]
    assert first["trajectories"] == 16 and first["actor_seconds"] == 0.0 and first["critic_seconds"] > 0
    rows = Trainer(cfg, resume=True, progress=False).train()
    assert [r["trajectories"] for r in rows] == [0, 16, 32, 48, 64]
    for r in rows[1:]:
        assert r["rollout_seconds"] > 0 and r["update_seconds"] > 0
        assert abs(r["rollout_seconds"] + r["update_seconds"] - r["seconds"]) <= 0.02
        assert r["critic_seconds"] + r["actor_seconds"] <= r["update_seconds"] + 0.01
    assert rows[-1]["actor_seconds"] > 0
    evals = [r["eval_seconds"] for r in rows]
    assert all(b > a > 0 for a, b in zip(evals, evals[1:])), evals  # resumed: counts on from the checkpoint


def test_existing_run_needs_resume(cache, tmp_path):
    Trainer(_cfg(tmp_path, "bc", "x"), progress=False).train()
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(_cfg(tmp_path, "bc", "x"), progress=False)


def test_config_errors_name_the_choices():
    with pytest.raises(ValueError, match="choose one of archer"):
        TrainConfig(algo="dqn")
    with pytest.raises(ValueError, match="registered ids"):
        TrainConfig(env_id="archer/Nope-v0")
    with pytest.raises(ValueError, match="less than one iteration"):
        TrainConfig(trajectories=10, rollout_trajectories=64)
    with pytest.raises(ValueError, match="has no field 'gama'"):
        TrainConfig(algo="archer", algo_config={"gama": "0.9"})
    assert TrainConfig(algo="ppo", algo_config={"kl_coef": "0.1"}).algorithm_config().kl_coef == 0.1


def _strip(rows):  # wall-clock differs; NaN (no training yet at row 0) compares unequal to itself
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items() if not k.endswith("seconds")}
            for r in rows]


def test_crash_mid_checkpoint_then_resume_of_the_moved_run_continues_the_same_curve(cache, tmp_path, monkeypatch):
    """Issue 15, items 1, 3 and 5: a save that dies between its two renames leaves only checkpoint.old/; the run
    directory is then moved. --resume must continue from the surviving checkpoint (iteration 3, with the replay
    as it was then, not the one of the iteration whose save died) and give the uninterrupted curve."""
    import shutil

    import agents.checkpoint as checkpoint

    full = Trainer(_cfg(tmp_path, "archer", "full"), progress=False).train()
    Trainer(_cfg(tmp_path, "archer", "part"), progress=False).train(max_iterations=3)
    real_rename, calls = checkpoint._rename, []

    def rename_then_die(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # checkpoint -> checkpoint.old done, checkpoint.tmp -> checkpoint not yet
            raise OSError("killed")
        real_rename(src, dst)

    crashing = Trainer(_cfg(tmp_path, "archer", "part"), resume=True, progress=False)
    monkeypatch.setattr(checkpoint, "_rename", rename_then_die)
    with pytest.raises(OSError, match="killed"):
        crashing.train(max_iterations=1)
    monkeypatch.undo()
    assert not (tmp_path / "part" / "checkpoint").exists() and (tmp_path / "part" / "checkpoint.old").exists()

    shutil.move(tmp_path / "part", tmp_path / "moved")
    resumed = Trainer(_cfg(tmp_path, "archer", "moved"), resume=True, progress=False)
    assert resumed.counts.trajectories == 48 and resumed.iteration == 3  # continued, not started over
    assert _strip(resumed.train()) == _strip(full)


def test_a_crash_before_the_checkpoint_swap_resumes_the_same_curve_with_its_replay(cache, tmp_path, monkeypatch):
    """Issue 15, item 3 alone (the test above also moves the run and crashes later): a save killed before its first
    rename leaves checkpoint/ of iteration 3 in place. The replay it resumes with must be iteration 3's: when
    buffer.jsonl lived beside checkpoint/, it was already rewritten with iteration 4's episodes, so the resumed run
    replayed iteration 4 with its own episodes in the replay and the curve departed from the uninterrupted one."""
    import agents.checkpoint as checkpoint

    full = Trainer(_cfg(tmp_path, "archer", "full"), progress=False).train()
    Trainer(_cfg(tmp_path, "archer", "part"), progress=False).train(max_iterations=3)

    def die(src, dst):
        raise OSError("killed")

    crashing = Trainer(_cfg(tmp_path, "archer", "part"), resume=True, progress=False)
    monkeypatch.setattr(checkpoint, "_rename", die)  # everything of iteration 4 written, nothing swapped in
    with pytest.raises(OSError, match="killed"):
        crashing.train(max_iterations=1)
    monkeypatch.undo()
    resumed = Trainer(_cfg(tmp_path, "archer", "part"), resume=True, progress=False)
    assert resumed.counts.trajectories == 48 and resumed.iteration == 3
    assert _strip(resumed.train()) == _strip(full)


def test_resume_never_starts_over_where_a_run_was(cache, tmp_path):
    Trainer(_cfg(tmp_path, "bc", "x"), progress=False).train(max_iterations=1)
    run = tmp_path / "x"
    shutil_rmtree = __import__("shutil").rmtree
    shutil_rmtree(run / "checkpoint")
    before = (run / "metrics.csv").read_text()
    with pytest.raises(FileNotFoundError, match="no checkpoint") as err:
        Trainer(_cfg(tmp_path, "bc", "x"), resume=True, progress=False)
    assert "\n" not in str(err.value) and "metrics.csv" in str(err.value)
    assert (run / "metrics.csv").read_text() == before  # nothing rewritten


def test_resume_of_a_corrupt_checkpoint_stops_naming_the_file(cache, tmp_path):
    from agents.checkpoint import CheckpointError

    Trainer(_cfg(tmp_path, "filtered_bc", "x"), progress=False).train(max_iterations=1)
    buffer = tmp_path / "x" / "checkpoint" / "buffer.jsonl"
    buffer.write_bytes(buffer.read_bytes()[:-40])  # truncated
    with pytest.raises(CheckpointError, match="buffer.jsonl") as err:
        Trainer(_cfg(tmp_path, "filtered_bc", "x"), resume=True, progress=False)
    assert "\n" not in str(err.value)


def test_evaluate_cli_reads_a_runs_final_actor(cache, tmp_path):
    """``python -m agents.evaluate RUN --sft``: the checkpoint's actor (not the SFT start), on the eval split's fixed
    starts, one row per actor."""
    import json

    from agents import evaluate as ev

    trainer = Trainer(_cfg(tmp_path, "ppo", "run"), progress=False)
    trainer.train()
    actor, cfg = ev.load_run_actor(tmp_path / "run")
    assert cfg.env_id == ENV
    assert all(torch.equal(p, q) for p, q in zip(actor.model.parameters(), trainer.actor.model.parameters()))
    sft = load_sft_actor(run_sft(sft_cfg(), progress=False), ModelConfig())
    assert not all(torch.equal(p, q) for p, q in zip(actor.model.parameters(), sft.model.parameters()))
    assert ev.main([str(tmp_path / "run"), "--episodes", "8", "--sft", "--json", str(tmp_path / "e.json")]) == 0
    rows = json.loads((tmp_path / "e.json").read_text())
    assert [r["run"] for r in rows] == ["sft", str(tmp_path / "run")]
    from agents.evaluate import evaluate_actor
    assert rows[1]["mean_return"] == evaluate_actor(trainer.actor, ENV, episodes=8, greedy=False)["mean_return"]
    assert rows[0]["mean_return"] == evaluate_actor(sft, ENV, episodes=8, greedy=False)["mean_return"]


def test_evaluate_cli_scores_chai_by_its_pick_as_the_trainer_does(cache, tmp_path):
    """CHAI's policy is the best-of-k pick under its critic, not its (frozen) actor: ``agents.evaluate`` rebuilds the
    algorithm from the checkpoint, so its figure equals the trainer's own final sampled evaluation (same episodes,
    same seed). Evaluating the actor alone gave the SFT start's figure for every CHAI run (compare.py at 93e321c)."""
    import csv
    import json

    from agents import evaluate as ev

    cfg = TrainConfig(algo="chai", env_id=ENV, trajectories=16, rollout_trajectories=16, num_envs=8, eval_every=16,
                      eval_episodes=8, out=str(tmp_path / "chai"), sft=sft_cfg(), start_episodes=32,
                      algo_config={"k": 3, "critic.critic_warmup_steps": 4, "critic.critic_updates": 2,
                                   "critic.batch_size": 16})
    Trainer(cfg, progress=False).train()
    assert ev.main([str(tmp_path / "chai"), "--episodes", "8", "--json", str(tmp_path / "e.json")]) == 0
    with open(tmp_path / "chai" / "metrics.csv") as f:
        last = list(csv.DictReader(f))[-1]
    assert json.loads((tmp_path / "e.json").read_text())[0]["mean_return"] == float(last["eval_sampled_return"])


def test_eval_starts_cover_the_targets_evenly_and_every_evaluation_plays_them():
    from agents.evaluate import eval_specs
    from archer_gym.evaluation import evaluate_scripted

    env = "archer/TwentyQuestions-v0"
    import gymnasium as gym

    targets = list(gym.make(env, split="eval").unwrapped.targets)
    specs = eval_specs(env, 2 * len(targets) + 3)
    picked = [s.options["target"] for s in specs]
    counts = {t: picked.count(t) for t in targets}
    assert set(counts.values()) <= {2, 3} and sum(counts.values()) == len(picked)  # each equally often, up to one
    first = picked[:100]
    assert len(set(first)) == 100 and first != targets[:100]  # 100 distinct words, not the first 100 in list order
    assert eval_specs(env, 5) == specs[:5]  # a fixed sequence: any run's first N starts are the same
    # The scripted reference lines (python -m archer_gym evaluate, compare.py) play exactly these starts.
    _, eps = evaluate_scripted(env, "expert", episodes=20)
    assert [(e.seed, e.target) for e in eps] == [(s.seed, s.options["target"]) for s in specs[:20]]


def own_episodes(actor, episodes: int = 4, envs: int = 2):
    """(the SFT actor's own episodes, a function building a fresh replay buffer of them): start data in small."""
    eps = collect(make_vec(ENV, envs), lambda obs: actor.sample(obs, generator=torch.Generator().manual_seed(0)),
                  [EpisodeSpec(seed=i) for i in range(episodes)], env_id=ENV).episodes

    def data():
        buf = ReplayBuffer(100)
        buf.add_episodes(eps)
        return buf

    return eps, data


def test_the_critic_warm_up_is_the_same_whichever_process_builds_it(actor, tmp_path):
    """Two cache misses from different global torch streams (the trainer's seed, compare.py's unseeded process)
    build the same critic, and a miss leaves the global stream where it found it, as a hit does."""
    from agents.algos.critic_learner import CriticConfig, CriticLearner
    _, data = own_episodes(actor, episodes=8, envs=4)

    def build(global_seed: int, cache):
        torch.manual_seed(global_seed)
        learner = CriticLearner(CriticConfig(batch_size=4), ModelConfig(), actor, np.random.default_rng(0))
        gen = torch.Generator().manual_seed(0)
        before = torch.random.get_rng_state()
        learner.warm_start(data, lambda obs: actor.sample(obs, generator=gen).texts, 3, cache)
        assert torch.equal(torch.random.get_rng_state(), before)  # the run's own stream is untouched
        return learner.critic.state_dict()

    a, b = build(1, tmp_path / "a"), build(2, tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(1)
    fresh = CriticLearner(CriticConfig(), ModelConfig(), actor, np.random.default_rng(0)).critic.state_dict()
    assert not all(torch.equal(a[k], fresh[k]) for k in a)  # it did train


def test_the_monte_carlo_warm_up_regresses_q_on_each_episodes_returns(actor, tmp_path):
    """warmup_target="mc": every Q target the warm-up uses is the sampled transition's discounted return in its own
    episode (not a TD target), and start data that are not whole episodes are refused, in one line."""
    from agents.algos import critic_learner as cl
    from agents.algos.common import returns_to_go
    eps = collect(make_vec(ENV, 2), lambda obs: actor.sample(obs, generator=torch.Generator().manual_seed(0)),
                  [EpisodeSpec(seed=i) for i in range(4)], env_id=ENV).episodes
    cfg = cl.CriticConfig(batch_size=4, warmup_target="mc", gamma=0.9)
    expected = {}  # (s, a) -> its returns (two episodes may open alike)
    for ep in eps:
        for t, g in zip(ep.transitions, returns_to_go([t.reward for t in ep.transitions], 0.9)):
            expected.setdefault((t.observation, t.action), []).append(g)
    seen = []
    real = cl.critic_losses

    def spy(critic, target, batch, fresh, gamma, cap, q_target=None):
        assert q_target is not None
        seen.extend(zip(zip(batch.observations, batch.actions), q_target.tolist()))
        return real(critic, target, batch, fresh, gamma, cap, q_target)

    def data(whole=True):
        buf = ReplayBuffer(100)
        buf.add_episodes(eps)
        if not whole:
            buf.add(eps[0].transitions[0])  # a piece of an episode
        return buf

    learner = cl.CriticLearner(cfg, ModelConfig(), actor, np.random.default_rng(0))
    sample = lambda obs: actor.sample(obs, generator=torch.Generator().manual_seed(0)).texts  # noqa: E731
    with mock.patch.object(cl, "critic_losses", spy):
        learner.warm_start(data, sample, 3, tmp_path / "mc")
    assert len(seen) == 12 and all(any(g == pytest.approx(e) for e in expected[key]) for key, g in seen)
    with pytest.raises(ValueError, match="whole episodes"):
        cl.CriticLearner(cfg, ModelConfig(), actor, np.random.default_rng(0)).warm_start(
            lambda: data(whole=False), sample, 3, tmp_path / "partial")


def test_the_weight_average_is_the_bias_corrected_ema_of_the_trained_weights():
    """WeightAverage: avg <- d avg + (1 - d) w with d = min(decay, (1 + i) / (10 + i)) after step i, by hand; frozen
    parameters are left alone; a decay outside (0, 1) is refused in one line."""
    from agents.algos.critic_learner import CriticConfig, WeightAverage
    net = torch.nn.Linear(1, 1)
    net.bias.requires_grad_(False)
    average = WeightAverage(net, 0.5)
    expected = net.weight.item()
    for i, w in enumerate([1.0, 2.0, 4.0, 8.0]):
        with torch.no_grad():
            net.weight.fill_(w)
        average(i)
        d = min(0.5, (1 + i) / (10 + i))
        expected = d * expected + (1 - d) * w
        assert average.module.weight.item() == pytest.approx(expected)
    assert net.weight.item() == 8.0 and average.module.bias.item() == net.bias.item()
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(net, 1.0)
    with pytest.raises(ValueError, match="warmup_ema"):
        CriticConfig(warmup_ema=1.0)


def test_a_warm_up_with_a_weight_average_ends_on_the_average(actor, tmp_path):
    """warmup_ema > 0: the warm-up's critic and its target are both the average of the critic's weights over the
    warm-up's steps (the same steps as without it), and a cache hit loads that average again."""
    from agents.algos import critic_learner as cl
    _, data = own_episodes(actor)

    def warm(decay, cache):
        learner = cl.CriticLearner(cl.CriticConfig(batch_size=4, warmup_ema=decay), ModelConfig(), actor,
                                   np.random.default_rng(0))
        seen = []
        real = cl.WeightAverage.__call__

        def spy(self, step):
            real(self, step)
            seen.append({k: v.clone() for k, v in self.module.state_dict().items()})

        sample = lambda obs: actor.sample(obs, generator=torch.Generator().manual_seed(0)).texts  # noqa: E731
        with mock.patch.object(cl.WeightAverage, "__call__", spy):
            learner.warm_start(data, sample, 3, cache)
        return learner, seen

    plain, _ = warm(0.0, tmp_path / "plain")
    averaged, seen = warm(0.9, tmp_path / "ema")
    assert len(seen) == 3
    for module in (averaged.critic, averaged.target):
        state = module.state_dict()
        assert all(torch.equal(state[k], seen[-1][k]) for k in state)
    differs = [k for k, v in plain.critic.state_dict().items() if not torch.equal(v, averaged.critic.state_dict()[k])]
    assert differs  # the average is not the last step's weights
    again, seen_again = warm(0.9, tmp_path / "ema")  # a cache hit: no steps, the same averaged critic
    assert not seen_again
    assert all(torch.equal(v, again.critic.state_dict()[k]) for k, v in averaged.critic.state_dict().items())


def test_a_critic_update_without_a_sampler_regresses_v_on_each_transitions_own_action(actor):
    """update(buffer, None): V's target is Q' of the sampled transitions' own actions (the start data are the policy's
    own samples), and no action is drawn from the actor."""
    from agents.algos import critic_learner as cl
    buf = own_episodes(actor)[1]()
    seen = []
    real = cl.critic_losses

    def spy(critic, target, batch, fresh, *args, **kwargs):
        seen.append((list(batch.actions), list(fresh)))
        return real(critic, target, batch, fresh, *args, **kwargs)

    learner = cl.CriticLearner(cl.CriticConfig(batch_size=4), ModelConfig(), actor, np.random.default_rng(0))
    with mock.patch.object(cl, "critic_losses", spy), \
            mock.patch.object(type(actor), "sample", side_effect=AssertionError("sampled")):
        learner.update(buf, None, steps=2)
    assert len(seen) == 2 and all(actions == fresh for actions, fresh in seen)


def test_a_warm_up_with_logged_v_actions_never_calls_the_sampler(actor, tmp_path):
    """warmup_v_actions="logged": the warm-up regresses V on Q' of the start data's own actions (no sampler call);
    an unknown choice is refused in one line."""
    from agents.algos import critic_learner as cl
    _, data = own_episodes(actor)

    def sampler(obs):
        raise AssertionError("the warm-up sampled fresh actions")

    learner = cl.CriticLearner(cl.CriticConfig(batch_size=4, warmup_v_actions="logged"), ModelConfig(), actor,
                               np.random.default_rng(0))
    learner.warm_start(data, sampler, 2, tmp_path / "logged")
    assert (tmp_path / "logged" / "critic.safetensors").exists()
    with pytest.raises(ValueError, match="warmup_v_actions"):
        cl.CriticConfig(warmup_v_actions="replay")
