"""Each algorithm's losses on hand-computed small cases."""

import math

import pytest
import torch

from agents.algos.archer import ArcherConfig, loo_advantage, pg_loss, utterance_advantages
from agents.algos.critic_learner import q_targets
from agents.algos.chai import best_of_k
from agents.algos.common import gae, masked_mean
from agents.algos.filtered_bc import top_fraction
from agents.algos.ppo import clipped_surrogate, clipped_value_loss, episode_token_targets
from archer_gym import Episode, Transition


def test_td_target_bootstraps_through_truncation_not_termination():
    r = torch.tensor([-1.0, -1.0, 0.0])
    terminated = torch.tensor([0.0, 0.0, 1.0])  # row 1: truncated (not terminated), row 2: terminated
    next_v = torch.tensor([-2.0, -3.0, -5.0])
    y = q_targets(r, terminated, next_v, gamma=0.9)
    assert torch.allclose(y, torch.tensor([-1.0 - 1.8, -1.0 - 2.7, 0.0]))


class _TableCritic(torch.nn.Module):
    """Q and V read from tables, two heads each (the second a little higher: min picks the first)."""

    def __init__(self, q: dict, v: dict):
        super().__init__()
        self.qt, self.vt = q, v
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def v(self, observations):
        x = torch.tensor([self.vt[o] for o in observations])
        return x, x + 1.0

    def forward(self, observations, actions):
        q = torch.tensor([self.qt[(o, a)] for o, a in zip(observations, actions)])
        v, v2 = self.v(observations)
        return q, q + 1.0, v, v2


def test_utterance_advantage_q_and_td_by_hand():
    critic = _TableCritic(q={("s0", "a"): -2.0, ("s1", "b"): -0.5, ("s1", "c"): -9.0},
                          v={"s0": -3.0, "s1": -1.0, "s2": -4.0, "end": -7.0})
    trans = [Transition("s0", "a", -1.0, "s1", terminated=False, truncated=False),
             Transition("s1", "b", 0.0, "end", terminated=True, truncated=False),
             Transition("s1", "c", -1.0, "s2", terminated=False, truncated=True)]
    q = utterance_advantages(critic, trans, ArcherConfig(advantage="q", gamma=0.5, advantage_clip=5.0))
    assert torch.allclose(q, torch.tensor([-2.0 + 3.0, -0.5 + 1.0, -5.0]))  # -9 + 1 = -8, clipped at -5
    td = utterance_advantages(critic, trans, ArcherConfig(advantage="td", actor_data="rollout", gamma=0.5,
                                                          cap_is_terminal=False))
    # r + gamma * (1 - terminated) * V(s') - V(s): V(end) is ignored on termination; truncation bootstraps.
    assert torch.allclose(td, torch.tensor([-1.0 + 0.5 * -1.0 + 3.0, 0.0 + 1.0, -1.0 + 0.5 * -4.0 + 1.0]))
    td_cap = utterance_advantages(critic, trans, ArcherConfig(advantage="td", actor_data="rollout", gamma=0.5))
    # The turn cap as terminal (the default, as the reference): no V(s2) after the truncated step.
    assert torch.allclose(td_cap, torch.tensor([-1.0 + 0.5 * -1.0 + 3.0, 0.0 + 1.0, -1.0 + 1.0]))


def test_leave_one_out_advantage_by_hand():
    """samples_per_state=k: A_i = min Q(s, a_i) - mean of the state's other k - 1 min Q; V is not read."""
    q = {("s0", "a"): -1.0, ("s0", "b"): -4.0, ("s0", "c"): -7.0, ("s1", "a"): 2.0, ("s1", "b"): 0.0, ("s1", "c"): 1.0}

    class QOnly(_TableQV):
        def v(self, observations):
            raise AssertionError("the leave-one-out advantage must not read V")

    critic = QOnly(q=q, v={})
    obs, acts = ["s0"] * 3 + ["s1"] * 3, ["a", "b", "c"] * 2
    adv = loo_advantage(critic, obs, acts, k=3)
    assert torch.allclose(adv, torch.tensor([-1 + 5.5, -4 + 4.0, -7 + 2.5, 2 - 0.5, 0 - 1.5, 1 - 1.0]))
    with pytest.raises(ValueError, match="samples_per_state"):
        ArcherConfig(samples_per_state=3, actor_batch_size=64)


class _TableQV(_TableCritic):
    """A critic whose Q, V come from tables (second heads +1) and, for the online critic, all zero."""

    def q(self, observations, actions):
        q = torch.tensor([self.qt[(o, a)] for o, a in zip(observations, actions)])
        return q, q + 1.0


@pytest.mark.parametrize("cap_is_terminal", [True, False])
def test_critic_losses_by_hand_terminated_truncated_and_cap(cap_is_terminal):
    """q_loss = sum_k mean (Q_k(s,a) - (r + g (1 - done) V'_k(s')))^2, v_loss = sum_k mean (V_k(s) - Q'_k(s, a~))^2,
    per head (no min in the targets), with the online critic at 0 so each loss is the mean squared target."""
    from agents.algos.critic_learner import critic_losses
    from agents.algos.common import Batch

    target = _TableQV(q={("s0", "x"): -4.0, ("s1", "y"): -2.0, ("s2", "z"): -6.0},
                      v={"s1": -3.0, "end": -100.0, "s3": -8.0})
    zero = _TableQV(q={k: 0.0 for k in [("s0", "a"), ("s1", "b"), ("s2", "c")]}, v={"s0": 0.0, "s1": 0.0, "s2": 0.0})
    zero.forward = lambda obs, acts: (torch.zeros(3), torch.zeros(3), torch.zeros(3), torch.zeros(3))
    batch = Batch.of([Transition("s0", "a", -1.0, "s1", terminated=False, truncated=False),
                      Transition("s1", "b", 0.0, "end", terminated=True, truncated=False),
                      Transition("s2", "c", -1.0, "s3", terminated=False, truncated=True)], torch.device("cpu"))
    q_loss, v_loss, _ = critic_losses(zero, target, batch, ["x", "y", "z"], gamma=0.5,
                                      cap_is_terminal=cap_is_terminal)
    cap = 0.0 if cap_is_terminal else 1.0
    y1 = [-1.0 + 0.5 * -3.0, 0.0, -1.0 + cap * 0.5 * -8.0]   # V'(end) = -100 must never enter
    y2 = [-1.0 + 0.5 * -2.0, 0.0, -1.0 + cap * 0.5 * -7.0]   # the second head bootstraps from the second V'
    mean_sq = lambda xs: sum(x * x for x in xs) / len(xs)  # noqa: E731
    assert q_loss.item() == pytest.approx(mean_sq(y1) + mean_sq(y2))
    assert v_loss.item() == pytest.approx(mean_sq([-4.0, -2.0, -6.0]) + mean_sq([-3.0, -1.0, -5.0]))


def test_gae_three_tokens_by_hand():
    r = torch.tensor([0.0, 0.0, 1.0])
    v = torch.tensor([0.5, 0.6, 0.7])
    nv = torch.tensor([0.6, 0.7, 0.0])
    d = torch.tensor([1.0, 0.9, 0.0])  # last step terminates
    lam = 0.5
    d2 = 1.0 - 0.7
    d1 = 0.0 + 0.9 * 0.7 - 0.6
    d0 = 0.0 + 1.0 * 0.6 - 0.5
    a2 = d2
    a1 = d1 + 0.9 * lam * a2
    a0 = d0 + 1.0 * lam * a1
    assert torch.allclose(gae(r, v, nv, d, lam), torch.tensor([a0, a1, a2]))


def test_episode_token_targets_truncation_uses_bootstrap():
    vals = [torch.tensor([0.0, 0.0])]
    term = episode_token_targets([-1.0], [2], vals, bootstrap=-4.0, terminated=True, gamma=0.5, lam=1.0)
    trunc = episode_token_targets([-1.0], [2], vals, bootstrap=-4.0, terminated=False, gamma=0.5, lam=1.0)
    assert torch.allclose(term, torch.tensor([-1.0, -1.0]))
    assert torch.allclose(trunc, torch.tensor([-3.0, -3.0]))  # -1 + 0.5 * -4


def test_ppo_clip_by_hand():
    old = torch.zeros(1, 2)
    logp = torch.log(torch.tensor([[1.5, 0.5]]))
    adv = torch.tensor([[1.0, -1.0]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    # token 0: ratio 1.5 > 1.2 with A>0 -> clipped 1.2; token 1: ratio 0.5 < 0.8 with A<0 -> min(-0.5, -0.8) = -0.8
    loss = clipped_surrogate(logp, old, adv, mask, clip=0.2)
    assert loss.item() == pytest.approx(-(1.2 - 0.8) / 2)
    # masked tokens do not count
    loss_masked = clipped_surrogate(logp, old, adv, torch.tensor([[True, False]]), clip=0.2)
    assert loss_masked.item() == pytest.approx(-1.2)


def test_value_clip_takes_the_worse_error():
    v, old, ret = torch.tensor([[2.0]]), torch.tensor([[0.0]]), torch.tensor([[2.0]])
    loss = clipped_value_loss(v, old, ret, torch.ones(1, 1, dtype=torch.bool), clip=0.5)
    assert loss.item() == pytest.approx(0.5 * (0.5 - 2.0) ** 2)


def test_pg_loss_is_mean_over_utterances_of_summed_token_terms():
    logp = torch.tensor([[-1.0, -2.0], [-3.0, 0.0]])
    mask = torch.tensor([[True, True], [True, False]])
    adv = torch.tensor([2.0, -1.0])
    assert pg_loss(logp, mask, adv).item() == pytest.approx(-((2 * -3.0) + (-1 * -3.0)) / 2)


def test_masked_mean():
    assert masked_mean(torch.tensor([1.0, 5.0, 9.0]), torch.tensor([True, False, True])).item() == 5.0


def _ep(ret: float) -> Episode:
    return Episode("x", "t", [Transition("o", "a", ret, "o2", True, False)])


def test_top_fraction_filter_is_the_reference_quantile_cutoff_with_ties():
    returns = [-5, -1, -3, -1, -9, -2, -7, -4, -6, -8]
    assert top_fraction(returns, 0.2) == [1, 3]            # 0.8-quantile -1.0: both -1 episodes
    assert top_fraction(returns, 0.1) == [1, 3]            # 0.9-quantile -1.0 too: ties are all kept
    assert top_fraction(returns, 0.3) == [1, 3, 5]         # 0.7-quantile -2.3
    assert top_fraction([-4.0], 0.1) == [0]


def test_buffer_episodes_are_cut_at_done_and_drop_an_overwritten_head():
    from agents.buffer import ReplayBuffer

    def ep(n, tag):
        return [Transition(f"{tag}{i}", "a", -1.0, "o", terminated=(i == n - 1), truncated=False) for i in range(n)]

    buf = ReplayBuffer(10)
    for e in (ep(3, "x"), ep(2, "y"), ep(4, "z")):
        for t in e:
            buf.add(t)
    assert [[t.observation for t in e] for e in buf.episodes()] == [["x0", "x1", "x2"], ["y0", "y1"],
                                                                    ["z0", "z1", "z2", "z3"]]
    for t in ep(3, "w"):  # wraps: x0, x1 overwritten, the x episode's tail x2 is left out
        buf.add(t)
    assert [e[0].observation for e in buf.episodes()] == ["y0", "z0", "w0"]


def test_best_of_k_picks_highest_per_row():
    scores = torch.tensor([0.1, 0.9, 0.3, -1.0, -0.5, -2.0])
    assert best_of_k(scores, 3).tolist() == [1, 4]


def test_archer_config_validation():
    with pytest.raises(ValueError, match="gamma"):
        ArcherConfig(gamma=0.0)
    with pytest.raises(ValueError, match="tau"):
        ArcherConfig(tau=1.5)
    with pytest.raises(ValueError, match="advantage='mc'; choose one of"):
        ArcherConfig(advantage="mc")


def test_returns_to_go_by_hand():
    """The Monte-Carlo warm-up's targets (warmup_target="mc") and the group methods' per-turn returns."""
    from agents.algos.common import returns_to_go

    expected = [-1.0 + 0.5 * (-1.0 + 0.5 * 2.0), -1.0 + 0.5 * 2.0, 2.0]
    assert returns_to_go([-1.0, -1.0, 2.0], 0.5) == pytest.approx(expected)


def test_critic_losses_monte_carlo_target_replaces_both_heads_td_targets():
    """With q_target (the warm-up's warmup_target="mc"), q_loss = sum_k mean (Q_k(s,a) - G)^2: no V'(s') enters."""
    from agents.algos.critic_learner import critic_losses
    from agents.algos.common import Batch

    target = _TableQV(q={("s0", "x"): -4.0, ("s1", "y"): -2.0}, v={"s1": -3.0, "end": -100.0})
    zero = _TableQV(q={}, v={})
    zero.forward = lambda obs, acts: (torch.zeros(2), torch.zeros(2), torch.zeros(2), torch.zeros(2))
    batch = Batch.of([Transition("s0", "a", -1.0, "s1", terminated=False, truncated=False),
                      Transition("s1", "b", 0.0, "end", terminated=True, truncated=False)], torch.device("cpu"))
    q_loss, v_loss, _ = critic_losses(zero, target, batch, ["x", "y"], gamma=0.5, q_target=torch.tensor([-7.0, 3.0]))
    assert q_loss.item() == pytest.approx(2 * (49.0 + 9.0) / 2)
    assert v_loss.item() == pytest.approx((16.0 + 4.0) / 2 + (9.0 + 1.0) / 2)  # V still regresses on Q'(s, a~)


def test_warmup_target_is_checked():
    from agents.algos.archer import ArcherConfig
    from agents.algos.critic_learner import CriticConfig

    with pytest.raises(ValueError, match="warmup_target"):
        CriticConfig(warmup_target="td3")
    assert ArcherConfig(warmup_target="mc").critic_config().warmup_target == "mc"
