"""Episode groups in the trainer and the critic-free group baselines (grpo, rloo, turn_grpo, gigpo): advantages
and loss on hand-computed cases, one update per method, and the trainer's groups (same start, budget in
trajectories, exact resume)."""

import math

import gymnasium as gym
import pytest
import torch

import archer_gym
from agents.algos import build_algorithm, default_config, spec
from agents.algos.gigpo import gigpo_advantages
from agents.algos.group import k3_kl, policy_loss
from agents.algos.grpo import grpo_advantages
from agents.algos.rloo import rloo_advantages
from agents.algos.turn_grpo import turn_advantages
from agents.models import ModelConfig
from agents.rollout import EpisodeSpec, collect
from agents.trainer import TrainConfig, Trainer
from archer_gym import make_vec
from tests.test_agents import ENV, actor, cache, sft_cfg  # noqa: F401 (fixtures)

GROUP_ALGOS = ["grpo", "rloo", "turn_grpo", "gigpo"]


# ------------------------------------------------------------------ hand-computed advantages and loss
def test_grpo_advantage_by_hand():
    # returns -3 -5 -4 -8: mean -5, centred 2 0 1 -3, unbiased variance (4 + 0 + 1 + 9) / 3 = 14/3.
    assert grpo_advantages([-3, -5, -4, -8], normalize_std=False) == pytest.approx([2, 0, 1, -3])
    s = math.sqrt(14 / 3)
    assert grpo_advantages([-3, -5, -4, -8], eps=0.0) == pytest.approx([2 / s, 0, 1 / s, -3 / s])
    assert grpo_advantages([-4, -4], eps=1e-6) == [0.0, 0.0]  # a group that all failed alike teaches nothing


def test_rloo_advantage_by_hand():
    # -3 minus the mean of (-5, -4, -8) = -3 + 17/3 = 8/3; ... ; -8 + 4 = -4.
    assert rloo_advantages([-3, -5, -4, -8]) == pytest.approx([8 / 3, 0, 4 / 3, -4])


def test_turn_grpo_advantage_by_hand():
    rtg = [[-3, -2, -1], [-2, -1], [-4, -3, -2, -1]]
    # turn 0: -3 -2 -4 (mean -3); turn 1: -2 -1 -3 (mean -2); turn 2: -1 -2 (mean -1.5); turn 3: one episode -> 0.
    assert turn_advantages(rtg, normalize_std=False) == [pytest.approx([0, 0, 0.5]), pytest.approx([1, 1]),
                                                          pytest.approx([-1, -1, -0.5, 0])]
    # with std: turn 0's values -3 -2 -4 have std 1, so the same; turn 2's (-1, -2) std 0.7071 -> +-0.7071.
    got = turn_advantages(rtg, normalize_std=True, eps=0.0)
    assert got[0] == pytest.approx([0, 0, 0.5 / math.sqrt(0.5)]) and got[2][3] == 0.0


def test_gigpo_advantage_by_hand():
    obs = [["s0", "a", "b"], ["s0", "a"], ["s0", "c"]]
    rtg = [[-3, -2, -1], [-2, -1], [-2, -1]]
    got = gigpo_advantages([-3, -2, -2], obs, rtg, normalize_std=False, step_weight=1.0)
    # A^E = R - (-7/3): -2/3, 1/3, 1/3. Step groups: "s0" (-3, -2, -2) -> -2/3, 1/3, 1/3; "a" (-2, -1) -> -1/2, 1/2;
    # "b" and "c" alone -> 0.
    assert got == [pytest.approx([-4 / 3, -7 / 6, -2 / 3]), pytest.approx([2 / 3, 5 / 6]), pytest.approx([2 / 3, 1 / 3])]
    half = gigpo_advantages([-3, -2, -2], obs, rtg, step_weight=0.5)
    assert half[1] == pytest.approx([1 / 3 + 1 / 6, 1 / 3 + 1 / 4])


def test_group_policy_loss_and_its_normalisers_by_hand():
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.bool)
    old = torch.zeros(2, 3)
    logp = torch.tensor([[0.0, math.log(1.5), math.log(0.5)], [math.log(1.1), 0.0, 0.0]])
    adv = torch.tensor([1.0, -2.0])
    # Per-token terms -min(r A, clip(r) A): row 0 (A = 1): r 1 -> -1; r 1.5 -> -1.2 (clipped); r 0.5 -> -0.5.
    # Row 1 (A = -2): r 1.1 -> +2.2. Sum -0.5 over 4 tokens.
    assert policy_loss(logp, old, adv, mask, 0.2, "token", 4).item() == pytest.approx(-0.5 / 4)
    assert policy_loss(logp, old, adv, mask, 0.2, "sequence", 4).item() == pytest.approx((-2.7 / 3 + 2.2) / 2)
    assert policy_loss(logp, old, adv, mask, 0.2, "constant", 4).item() == pytest.approx(-0.5 / (2 * 4))
    # k3 KL: ref - logp = ln 2 -> 2 - ln 2 - 1; it adds kl_coef * kl per token.
    assert k3_kl(torch.tensor(0.0), torch.tensor(math.log(2.0))).item() == pytest.approx(1 - math.log(2))
    kl = torch.full((2, 3), 0.5)
    with_kl = policy_loss(logp, old, adv, mask, 0.2, "token", 4, kl, 0.1).item()
    assert with_kl == pytest.approx(-0.5 / 4 + 0.1 * 0.5)


# ------------------------------------------------------------------ every task starts a group alike
@pytest.mark.parametrize("env_id", [i for i in archer_gym.list_ids() if "Toy" not in i])
def test_every_task_restarts_the_same_start_by_seed_and_target(env_id):
    env = gym.make(env_id, split="train").unwrapped
    obs, _ = env.reset(seed=123)
    target = env.target
    for _ in range(2):
        again, _ = env.reset(seed=123, options={"target": target})
        assert again == obs and env.target == target
    env.close()


# ------------------------------------------------------------------ one update per method
def _group_episodes(actor, g=4, groups=2):
    specs = [EpisodeSpec(seed=k, options={"target": t}) for k, t in enumerate(["red", "blue"][:groups]) for _ in range(g)]
    gen = torch.Generator().manual_seed(0)
    eps = collect(make_vec(ENV, 4), lambda obs: actor.sample(obs, generator=gen), specs, env_id=ENV).episodes
    for i, ep in enumerate(eps):  # make sure each group's returns differ (sampled episodes may tie)
        ep.transitions[-1].reward -= i % 3
    return eps


@pytest.mark.parametrize("algo", GROUP_ALGOS)
def test_one_group_update_moves_the_actor_with_finite_losses(actor, algo):  # noqa: F811
    assert spec(algo).episode_groups and spec(algo).compare  # in the default comparison beside ArCHer and PPO
    before = {k: v.clone() for k, v in actor.model.state_dict().items()}
    cfg = default_config(algo)
    cfg.group_size, cfg.minibatch_size = 4, 8
    alg = build_algorithm(algo, actor, cfg, ModelConfig(), seed=0)
    try:
        stats = alg.update(_group_episodes(actor), None, iteration=0)
        assert all(math.isfinite(v) for v in stats.values()) and stats["zero_advantage_frac"] < 1
        moved = [k for k, v in actor.model.state_dict().items() if not torch.equal(v, before[k])]
        assert len(moved) > 0.9 * len(before)
    finally:
        actor.model.load_state_dict(before)  # the module-scoped actor is shared


def test_kl_to_the_sft_policy_is_zero_at_the_start(actor):  # noqa: F811
    cfg = default_config("grpo")
    cfg.group_size, cfg.minibatch_size, cfg.kl_coef, cfg.lr = 4, 64, 0.1, 0.0
    alg = build_algorithm("grpo", actor, cfg, ModelConfig(), seed=0)
    stats = alg.update(_group_episodes(actor), None, iteration=0)
    assert stats["kl_sft"] == pytest.approx(0.0, abs=1e-6) and "ref" in alg.modules()


# ------------------------------------------------------------------ the trainer's groups
def _cfg(tmp_path, name, algo="grpo", **kw):
    return TrainConfig(algo=algo, env_id=ENV, trajectories=48, rollout_trajectories=16, num_envs=8, eval_every=32,
                       eval_episodes=8, out=str(tmp_path / name), sft=sft_cfg(),
                       algo_config={"group_size": 4, "minibatch_size": 16}, **kw)


def test_trainer_collects_groups_from_one_start_counted_in_trajectories(cache, tmp_path):  # noqa: F811
    t = Trainer(_cfg(tmp_path, "g"), progress=False)
    specs = t.episode_specs(16)
    assert len(specs) == 16 and len({(s.seed, s.options["target"]) for s in specs}) <= 4
    for k in range(4):
        group = specs[4 * k : 4 * k + 4]
        assert {s.seed for s in group} == {t.cfg.seed * 10_000_000 + 4 * k}  # the first member's seed, as without groups
        assert len({s.options["target"] for s in group}) == 1
    episodes, counts = t._collect(16)
    assert counts.trajectories == 16 == len(episodes)
    assert all(len({e.target for e in episodes[i : i + 4]}) == 1 for i in range(0, 16, 4))
    assert len({tuple(t.action for t in e.transitions) for e in episodes}) > 4  # the members act differently


def test_group_size_must_divide_the_iteration_and_budget():
    with pytest.raises(ValueError, match="must be multiples of it"):
        TrainConfig(algo="rloo", rollout_trajectories=64, trajectories=640, algo_config={"group_size": 6})
    with pytest.raises(ValueError, match="group_size=1 must be >= 2"):
        TrainConfig(algo="grpo", algo_config={"group_size": 1})


@pytest.mark.parametrize("algo", GROUP_ALGOS)
def test_a_group_run_resumes_exactly(cache, tmp_path, algo):  # noqa: F811
    def strip(rows):
        return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items() if not k.endswith("seconds")}
                for r in rows]

    full = Trainer(_cfg(tmp_path, "full", algo), progress=False).train()
    part = Trainer(_cfg(tmp_path, "part", algo), progress=False)
    part.train(max_iterations=1)
    resumed = Trainer(_cfg(tmp_path, "part", algo), resume=True, progress=False).train()
    assert [r["trajectories"] for r in full] == [0, 32, 48]
    assert strip(resumed) == strip(full)
