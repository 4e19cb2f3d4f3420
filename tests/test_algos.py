"""What each algorithm's update reads and how it acts, pinned against the reference's data flow (issue 20)."""

import pytest
import torch

from agents.algos import archer as archer_mod
from agents.algos.archer import Archer, ArcherConfig
from agents.algos.chai import CHAI, CHAIConfig
from agents.algos.ppo import PPO, PPOConfig
from agents.buffer import ReplayBuffer
from agents.models import ModelConfig
from agents.policy import Actor, SampleOutput
from agents.tiny import build_tiny_actor
from archer_gym import Episode, Transition
from tests.test_agents import actor, cache, sft_cfg  # noqa: F401 (fixtures)

REPLAY_STATE = "Guess my colour.\n\nQ: Is it warm?\nA: No.\n"
OWN_STATE = "Guess my colour.\n\nQ: Is it cold?\nA: No.\n"


def _episode(obs: str, action: str, actor) -> Episode:
    ids = actor.tokenizer.encode(action + "\n")
    return Episode(env_id="archer/ToyColour-v0", target="red",
                   transitions=[Transition(obs, action, -1.0, obs + "Q: x\nA: No.\n", False, False, ids, [0.0] * len(ids))])


@pytest.mark.parametrize("actor_data", ["replay", "rollout"])
def test_archer_actor_step_reads_replay_states_and_fresh_actions(actor, monkeypatch, actor_data):
    """The default actor step scores replay states with utterances sampled from the current actor at that step, not
    the buffer's actions and not this iteration's rollouts; ``actor_data='rollout'`` (the old flow) does the latter."""
    cfg = ArcherConfig(warmup_iterations=0, critic_updates=0, actor_updates=2, actor_batch_size=4,
                       actor_data=actor_data)
    algo = Archer(actor, cfg, ModelConfig(critic="tiny"), seed=0)
    replay = ReplayBuffer(10)
    replay.add_episodes([_episode(REPLAY_STATE, "BUFFER ACTION", actor)])
    own = [_episode(OWN_STATE, "ROLLOUT ACTION", actor)]
    sampled, scored = [], []
    real_sample = actor.sample

    def sample(observations, **kw):
        out = real_sample(observations, **kw)
        sampled.append((list(observations), list(out.texts)))
        return out

    def advantage(critic, observations, actions):
        scored.append((list(observations), list(actions)))
        return torch.zeros(len(observations))

    monkeypatch.setattr(actor, "sample", sample)
    monkeypatch.setattr(archer_mod, "advantage", advantage)
    stats = algo.update(own, replay, iteration=0)
    assert stats["pg_loss"] == stats["pg_loss"]  # the actor did step
    if actor_data == "replay":
        assert len(scored) == cfg.actor_updates
        for (obs, acts), (s_obs, s_texts) in zip(scored, sampled):
            assert obs == [REPLAY_STATE] * cfg.actor_batch_size  # states from the replay buffer
            assert acts == s_texts and obs == s_obs               # scored: the utterances just sampled for them
            assert "BUFFER ACTION" not in acts
    else:
        assert sampled == [] and all(obs == [OWN_STATE] and acts == ["ROLLOUT ACTION"] for obs, acts in scored)


def test_ppo_first_ratio_is_one_with_a_dropout_model(actor):
    """Re-scoring in train mode gives the sampled log-probs exactly once PPO has the actor: dropout is off."""
    torch.manual_seed(0)
    model = build_tiny_actor(actor.tokenizer, dropout=0.3, n_positions=actor.model.config.n_positions)
    model.load_state_dict(actor.model.state_dict())
    dropout_actor = Actor(model, actor.tokenizer)
    out = dropout_actor.sample([REPLAY_STATE, OWN_STATE] * 4, generator=torch.Generator().manual_seed(0))
    old = torch.nn.utils.rnn.pad_sequence(out.log_probs, batch_first=True)

    def train_mode_logp():
        model.train()
        with torch.no_grad():
            return dropout_actor.score(out.prompt_ids, out.action_ids).logp

    assert not torch.allclose(train_mode_logp(), old, atol=1e-3)  # negative control: dropout changes the scores
    PPO(dropout_actor, PPOConfig(), seed=0)
    torch.testing.assert_close(train_mode_logp(), old, atol=1e-5, rtol=0)  # ratio exp(logp - old) == 1


def test_chai_picks_with_the_target_critic_and_regresses_v_on_its_pick(actor, monkeypatch):
    algo = CHAI(actor, CHAIConfig(k=3), ModelConfig(critic="tiny"), seed=0)
    k = 3

    def sample(observations, **kw):
        n = len(observations)
        texts = [f"cand{j % k}" for j in range(n)]
        return SampleOutput(texts, [[j] for j in range(n)], [torch.zeros(1)] * n, [[0]] * n)

    # The target critic prefers the last candidate of each row, the online critic the first.
    rank = lambda texts: torch.tensor([float(t[-1]) for t in texts])  # noqa: E731
    monkeypatch.setattr(actor, "sample", sample)
    monkeypatch.setattr(algo.learner.target, "q", lambda obs, acts: (rank(acts), rank(acts)))
    monkeypatch.setattr(algo.learner.critic, "q", lambda obs, acts: (-rank(acts), -rank(acts)))
    picked = algo.act([REPLAY_STATE, OWN_STATE])
    assert picked.texts == ["cand2", "cand2"]
    seen = {}

    def update(buffer, sample_actions):
        seen["v_actions"] = sample_actions([REPLAY_STATE])
        return {}

    monkeypatch.setattr(algo.learner, "update", update)
    algo.update([], ReplayBuffer(2), iteration=0)
    assert seen["v_actions"] == ["cand2"]  # V's fresh action is CHAI's own best-of-k pick


def test_archer_token_baseline_update_moves_actor_critic_and_baseline(actor):
    """Issue 15, item 16: ArCHer with the token-level baseline never ran an update() in the fast suite. One update
    past warm-up must move every trained module (actor, critic, baseline) and report finite losses."""
    import copy
    import math

    own = copy.deepcopy(actor)  # the shared fixture may have been frozen by an earlier test (e.g. as a reference)
    for p in own.model.parameters():
        p.requires_grad_(True)
    algo = Archer(own, ArcherConfig(token_baseline=True, warmup_iterations=0, critic_updates=2, actor_updates=2,
                                    batch_size=4, actor_batch_size=4, actor_lr=1e-3),
                  ModelConfig(critic="tiny"), seed=0)
    replay = ReplayBuffer(16)
    episodes = [_episode(s, a, own) for s in (REPLAY_STATE, OWN_STATE) for a in ("Is it red?", "Is it blue?")]
    replay.add_episodes(episodes)
    mods = {k: m for k, m in algo.modules().items() if k in ("actor", "critic", "baseline")}
    assert set(mods) == {"actor", "critic", "baseline"}
    before = {k: [p.detach().clone() for p in m.parameters() if p.requires_grad] for k, m in mods.items()}
    stats = algo.update(episodes, replay, iteration=0)
    for k, m in mods.items():
        after = [p for p in m.parameters() if p.requires_grad]
        assert any(not torch.equal(a, b) for a, b in zip(after, before[k])), f"{k} did not move"
    assert stats and all(math.isfinite(v) for v in stats.values() if isinstance(v, float) and v == v)


def test_chai_update_trains_its_critic_and_polyak_averages_its_target(actor):
    """Issue 15, item 16: CHAI's update() never ran in the fast suite (the test above replaces the learner's update).
    One real update of one critic step on a replay: the critic moves, CHAI's frozen actor does not, the losses are
    finite, and the target is then tau * critic + (1 - tau) * the target before, parameter by parameter (the
    Polyak step of agents.algos.critic_learner, pinned by hand only on polyak_update itself before)."""
    import copy
    import math

    from agents.algos.critic_learner import CriticConfig

    own = copy.deepcopy(actor)  # CHAI freezes the actor it is given
    tau = 0.25
    algo = CHAI(own, CHAIConfig(k=2, critic=CriticConfig(critic_updates=1, batch_size=4, tau=tau)),
                ModelConfig(critic="tiny"), seed=0)
    with torch.no_grad():  # a target apart from the critic, so the average is seen in every parameter
        for p in algo.learner.target.parameters():
            p.add_(0.5)
    replay = ReplayBuffer(16)
    episodes = [_episode(s, a, own) for s in (REPLAY_STATE, OWN_STATE) for a in ("Is it red?", "Is it blue?")]
    replay.add_episodes(episodes)
    actor_before = [p.detach().clone() for p in own.model.parameters()]
    critic_before = [p.detach().clone() for p in algo.learner.critic.parameters()]
    target_before = [p.detach().clone() for p in algo.learner.target.parameters()]
    stats = algo.update(episodes, replay, iteration=0)
    critic_after = [p.detach() for p in algo.learner.critic.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(critic_after, critic_before)), "the critic did not move"
    assert all(torch.equal(a, b) for a, b in zip(own.model.parameters(), actor_before)), "CHAI's actor moved"
    for target, before, critic in zip(algo.learner.target.parameters(), target_before, critic_after, strict=True):
        torch.testing.assert_close(target, tau * critic + (1 - tau) * before)
    assert {"q_loss", "v_loss"} <= set(stats) and all(math.isfinite(v) for v in stats.values())


def test_ppo_update_starts_at_ratio_one_on_episodes_it_acted_with_a_dropout_model(actor, monkeypatch):
    """Issue 15, item 17 end to end (the test above checks the re-scoring alone): a dropout-0.3 actor acts through
    PPO's own act(), then update(); in the first minibatch, before any step, every token's ratio
    exp(logp - old_logp) is 1, the sampled log-probs being the ones the update re-scores in train mode."""
    from agents.algos import ppo as ppo_mod

    torch.manual_seed(0)
    model = build_tiny_actor(actor.tokenizer, dropout=0.3, n_positions=actor.model.config.n_positions)
    model.load_state_dict(actor.model.state_dict())
    algo = PPO(Actor(model, actor.tokenizer), PPOConfig(epochs=1), seed=0)
    states = [REPLAY_STATE, OWN_STATE] * 4
    out = algo.act(states)
    episodes = [Episode(env_id="archer/ToyColour-v0", target="red", transitions=[
        Transition(s, text, -1.0 if i % 3 else 0.0, s + "Q: x\nA: No.\n", True, False, list(ids), lp.tolist())])
        for i, (s, text, ids, lp) in enumerate(zip(states, out.texts, out.action_ids, out.log_probs))]
    ratios = []
    real = ppo_mod.clipped_surrogate

    def spy(logp, old_logp, adv, mask, clip):
        ratios.append(torch.exp(logp - old_logp).detach()[mask])
        return real(logp, old_logp, adv, mask, clip)

    monkeypatch.setattr(ppo_mod, "clipped_surrogate", spy)
    algo.update(episodes, None, iteration=0)
    assert ratios and ratios[0].numel() == sum(len(ids) for ids in out.action_ids)
    torch.testing.assert_close(ratios[0], torch.ones_like(ratios[0]), atol=1e-5, rtol=0)
