"""Actor: exact ids and log-probs, determinism, batch invariance, prompt truncation."""

import warnings

import pytest
from hypothesis import given, settings, strategies as st
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from agents.policy import Actor, filter_logits, split_observation
from agents.tiny import train_tokenizer

CORPUS = [
    "Play twenty questions. Ask yes/no questions to find the hidden word.\n\n"
    "Is it an animal?\nYes.\nDoes it fly? No.\nIs it bigger than a cat?\nMaybe, 42 or 3.5 kg!\n",
    "Guess my city. The city is somewhere on Earth.\n\nIs it in Europe?\nNo.\nIs it in Asia?\nYes.\n",
]
INSTRUCTION = "Play twenty questions. Ask yes/no questions to find the hidden word."


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(CORPUS * 5, vocab_size=400)


def make_actor(tokenizer, stop_bias=4.0, **kwargs):
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_layer=2, n_head=2, n_embd=32, n_positions=256,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
    )
    model = GPT2LMHeadModel(config)
    # Push the newline logit up so some utterances stop early and others hit the cap: both
    # paths (stop token kept, finished rows padded) get exercised.
    newline = tokenizer.convert_tokens_to_ids("Ċ")
    bias = torch.zeros(len(tokenizer))
    bias[newline] = stop_bias
    model.lm_head.register_forward_hook(lambda module, args, out: out + bias)
    return Actor(model, tokenizer, **kwargs)


def observations():
    long_history = "".join(f"Is it number {i}?\nNo.\n" for i in range(12))
    return [
        "Hi",  # ~2 tokens
        INSTRUCTION + "\n\n" + long_history,  # ~100 tokens
        CORPUS[1],
    ]


def test_prompt_lengths_differ(tokenizer):
    actor = make_actor(tokenizer)
    lengths = [len(p) for p in actor.build_prompt_ids(observations())]
    assert lengths[0] <= 3 and lengths[1] >= 60


def test_log_probs_match_sampled(tokenizer):
    actor = make_actor(tokenizer, max_new_tokens=12)
    out = actor.sample(observations(), generator=torch.Generator().manual_seed(1))
    logp, mask = actor.log_probs(out.prompt_ids, out.action_ids)
    assert logp.shape == mask.shape == (3, max(len(a) for a in out.action_ids))
    assert logp.requires_grad
    for i, sampled in enumerate(out.log_probs):
        n = len(out.action_ids[i])
        assert mask[i].sum() == n
        torch.testing.assert_close(logp[i, :n].detach(), sampled, atol=1e-4, rtol=0)
        assert torch.all(logp[i, n:] == 0)
    # Gradient reaches the model through the re-scored log-probs.
    (logp * mask).sum().backward()
    assert actor.model.transformer.wte.weight.grad is not None


def test_score_entropy_and_empty_actions(tokenizer):
    actor = make_actor(tokenizer)
    prompts = actor.build_prompt_ids(["Hi", CORPUS[1]])
    scores = actor.score(prompts, [[5, 6, 7], [8]])
    assert scores.mask.tolist() == [[True, True, True], [True, False, False]]
    assert (scores.entropy[scores.mask] > 0).all() and (scores.entropy[~scores.mask] == 0).all()
    assert (scores.entropy <= torch.log(torch.tensor(float(len(tokenizer)))) + 1e-4).all()
    logp, mask = actor.log_probs(prompts, [[], []])
    assert logp.shape == mask.shape == (2, 0)


def test_stop_token_kept_and_cap(tokenizer):
    actor = make_actor(tokenizer, max_new_tokens=6)
    out = actor.sample(observations() * 3, generator=torch.Generator().manual_seed(0))
    stopped = [ids for ids in out.action_ids if ids and ids[-1] in actor.stop_ids]
    capped = [ids for ids in out.action_ids if len(ids) == 6 and ids[-1] not in actor.stop_ids]
    assert stopped and capped, "the seed should give both stopped and capped utterances"
    for ids, text in zip(out.action_ids, out.texts):
        assert 1 <= len(ids) <= 6
        assert not any(t in actor.stop_ids for t in ids[:-1]), "nothing sampled after a stop"
        assert "\n" not in text and text == text.strip()
    newline = tokenizer.convert_tokens_to_ids("Ċ")
    assert newline in actor.stop_ids and tokenizer.eos_token_id in actor.stop_ids


def test_greedy_deterministic_and_batch_invariant(tokenizer):
    actor = make_actor(tokenizer, stop_bias=1.0, max_new_tokens=10)
    obs = observations()
    first = actor.sample(obs, greedy=True)
    second = actor.sample(obs, greedy=True)
    assert first.action_ids == second.action_ids
    for i, o in enumerate(obs):
        alone = actor.sample([o], greedy=True)
        assert alone.action_ids[0] == first.action_ids[i]
        assert alone.texts[0] == first.texts[i]
        torch.testing.assert_close(alone.log_probs[0], first.log_probs[i], atol=1e-5, rtol=0)


def test_generator_seed_reproducible(tokenizer):
    actor = make_actor(tokenizer, stop_bias=0.0, max_new_tokens=8)
    obs = observations()
    a = actor.sample(obs, generator=torch.Generator().manual_seed(7))
    b = actor.sample(obs, generator=torch.Generator().manual_seed(7))
    c = actor.sample(obs, generator=torch.Generator().manual_seed(8))
    assert a.action_ids == b.action_ids and a.texts == b.texts
    assert a.action_ids != c.action_ids


def test_sample_restores_training_mode(tokenizer):
    actor = make_actor(tokenizer, max_new_tokens=3)
    actor.train()
    actor.sample(["Hi"])
    assert actor.model.training
    actor.eval()
    actor.sample(["Hi"])
    assert not actor.model.training


def test_truncation_keeps_instruction_and_drops_oldest_lines(tokenizer):
    actor = make_actor(tokenizer, max_prompt_tokens=40)
    lines = [f"Is it number {i}?\n" for i in range(30)]
    obs = INSTRUCTION + "\n\n" + "".join(lines)
    (ids,) = actor.build_prompt_ids([obs])
    assert len(ids) <= 40
    text = tokenizer.decode(ids)
    instruction, kept = split_observation(text)
    assert instruction == INSTRUCTION
    assert kept and kept == lines[-len(kept) :], "a suffix of whole lines is kept"
    # One more line would not fit: the fewest lines were dropped.
    one_more = INSTRUCTION + "\n\n" + "".join(lines[-len(kept) - 1 :])
    assert len(tokenizer(one_more)["input_ids"]) > 40


def test_short_prompt_untouched(tokenizer):
    actor = make_actor(tokenizer)
    assert actor.build_prompt_ids([CORPUS[1]]) == [tokenizer(CORPUS[1])["input_ids"]]


def test_overlong_instruction_cut_with_one_warning(tokenizer):
    actor = make_actor(tokenizer, max_prompt_tokens=10)
    obs = INSTRUCTION + "\n\nIs it red?\n"
    with pytest.warns(UserWarning, match="max_prompt_tokens=10"):
        (ids,) = actor.build_prompt_ids([obs])
    assert ids == tokenizer(INSTRUCTION)["input_ids"][:10]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        actor.build_prompt_ids([obs])  # warned once only


def test_chat_template_prompt(tokenizer):
    tokenizer.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    try:
        actor = make_actor(tokenizer, chat_template=True, max_prompt_tokens=60)
        lines = [f"Is it number {i}?\n" for i in range(30)]
        (ids,) = actor.build_prompt_ids([INSTRUCTION + "\n\n" + "".join(lines)])
        text = tokenizer.decode(ids)
        assert len(ids) <= 60
        # the env's system message (archer_gym.chat.observation_messages), then the newest history as the user's turn
        assert text.startswith("<system>" + INSTRUCTION + "<user>")
        assert text.endswith("Is it number 29?\n<assistant>")
    finally:
        tokenizer.chat_template = None


def test_chat_template_without_a_system_role_gets_one_user_message(tokenizer):
    tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    try:
        actor = make_actor(tokenizer, chat_template=True, max_prompt_tokens=60)
        (ids,) = actor.build_prompt_ids([INSTRUCTION + "\n\nIs it red?\n"])
        assert tokenizer.decode(ids) == "<user>" + INSTRUCTION + "\n\nIs it red?\n<assistant>"
    finally:
        tokenizer.chat_template = None


def test_filter_logits_top_k_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    top2 = filter_logits(logits, temperature=1.0, top_k=2, top_p=1.0)
    assert torch.isinf(top2[0, 2:]).all() and torch.isfinite(top2[0, :2]).all()
    # top_p=0.75: 0.5 + 0.3 already reaches it, so the third token is dropped.
    nucleus = filter_logits(logits, temperature=1.0, top_k=0, top_p=0.75)
    assert torch.isfinite(nucleus[0, :2]).all() and torch.isinf(nucleus[0, 2:]).all()
    # top_p tiny still keeps the most likely token.
    assert torch.isfinite(filter_logits(logits, temperature=1.0, top_k=0, top_p=1e-6)[0, 0])


# ---- prefix reuse across sampling calls (PrefixStore) ---------------------------------------------------------------


def test_prefix_store_match_by_hand():
    from agents.policy import PrefixStore

    store = PrefixStore()
    store.ids = [torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 9])]
    # The longest kept prefix wins; a prompt never reuses its own last token (its logits must be computed).
    assert store.match([[1, 2, 3, 4, 5], [1, 2, 9, 9], [7, 1], [1, 2, 3], [1]]) == [(0, 4), (1, 3), (-1, 0), (0, 2),
                                                                                    (-1, 0)]
    assert PrefixStore().match([[1, 2]]) == [(-1, 0)]


def converse(actor, turns, seed):
    """Three dialogues played ``turns`` turns: each observation is the last one, the sampled utterance and a reply,
    as an env writes it. Returns every call's SampleOutput and the widths of the model's first forward per call."""
    widths = []
    handle = actor.model.register_forward_pre_hook(lambda m, args, kwargs: widths.append(kwargs["input_ids"].shape[1]),
                                                   with_kwargs=True)
    gen = torch.Generator().manual_seed(seed)
    obs = [INSTRUCTION + "\n\n", "Guess my city. The city is somewhere on Earth.\n\n", INSTRUCTION + "\n\nIs it?\nNo.\n"]
    outs, firsts = [], []
    try:
        for t in range(turns):
            before = len(widths)
            out = actor.sample(obs, generator=gen)
            firsts.append(widths[before])
            outs.append(out)
            obs = [o + text + "\n" + ("Yes." if (t + i) % 2 else "No.") + "\n" for i, (o, text) in enumerate(zip(obs, out.texts))]
    finally:
        handle.remove()
    return outs, firsts


def test_prefix_reuse_samples_what_a_full_prefill_samples(tokenizer):
    """Each turn's prompt extends the last call's sequences: with reuse, only the new turn's tokens are fed, and the
    utterances and their log-probs are those of prefilling the whole prompt (same seed, same batch)."""
    plain, _ = converse(make_actor(tokenizer, max_new_tokens=6, prefix_cache_rows=0), 5, seed=3)
    actor = make_actor(tokenizer, max_new_tokens=6)
    reused, firsts = converse(actor, 5, seed=3)
    for a, b in zip(plain, reused):
        assert a.prompt_ids == b.prompt_ids and a.action_ids == b.action_ids and a.texts == b.texts
        for x, y in zip(a.log_probs, b.log_probs):
            torch.testing.assert_close(x, y, atol=1e-5, rtol=0)
    longest = [max(len(p) for p in out.prompt_ids) for out in reused]
    assert firsts[0] == longest[0]  # nothing kept yet: the whole prompt
    # Later turns feed the new part only (the utterance's tail and the reply): under half the prompts' tokens in all.
    assert all(f < n for f, n in zip(firsts[1:], longest[1:])) and sum(firsts[1:]) < sum(longest[1:]) / 2, (firsts,
                                                                                                       longest)


def test_prefix_store_emptied_when_weights_change(tokenizer):
    """An optimizer step moves the weights: the kept keys and values are stale and must not be reused."""
    actor = make_actor(tokenizer, max_new_tokens=6)
    converse(actor, 2, seed=0)
    assert actor._prefixes.ids
    opt = torch.optim.SGD(actor.parameters(), lr=0.5)
    logp, mask = actor.log_probs([[1, 2, 3]], [[4, 5]])
    (-(logp * mask).sum()).backward()
    opt.step()
    assert actor._prefix_store().ids == []
    fresh = make_actor(tokenizer, max_new_tokens=6, prefix_cache_rows=0)
    fresh.load_state_dict(actor.state_dict())
    a, _ = converse(actor, 3, seed=1)
    b, _ = converse(fresh, 3, seed=1)
    assert [o.action_ids for o in a] == [o.action_ids for o in b]


def test_copied_actor_starts_without_prefixes(tokenizer):
    import copy

    actor = make_actor(tokenizer, max_new_tokens=4)
    converse(actor, 2, seed=0)
    assert actor._prefixes.ids and copy.deepcopy(actor)._prefixes.ids == []
    with pytest.raises(ValueError, match="prefix_cache_rows"):
        make_actor(tokenizer, prefix_cache_rows=-1)


def test_draw_follows_the_distribution_and_never_draws_a_zero():
    from agents.policy import draw

    probs = torch.tensor([[0.0, 0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(20_000, 1)
    probs[:, 1] *= 3  # unnormalised rows are normalised: 1.5, 0.3, 0.2 of 2.0
    tokens = draw(probs, torch.Generator().manual_seed(0))
    counts = torch.bincount(tokens, minlength=6).double() / len(tokens)
    assert counts[[0, 2, 5]].sum() == 0
    # Binomial standard error at 20,000 draws is at most 0.0036: 4 of them.
    torch.testing.assert_close(counts[[1, 3, 4]], torch.tensor([0.75, 0.15, 0.10], dtype=torch.float64),
                               atol=0.015, rtol=0)
    # A row whose whole mass is on its last token, and one on its first, at the edges of the inverse.
    edge = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]).repeat(1000, 1)
    assert draw(edge, torch.Generator().manual_seed(1)).tolist() == [2, 0] * 1000


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["Is it", " a ", "fruit?", "\n", "\n\n", "No.", " ", "  ", "\r", "\t", "é", "🍌",
                                 "<|endoftext|>", "42", "Ċ", "3.5 kg!", "x"]), max_size=30))
def test_line_tokens_are_the_whole_texts_ids(tokenizer, parts):
    """The per-line cache of the tiny tokenizer gives exactly the ids of tokenizing the whole text, line cache warm
    or cold, and the actor's prompts use it."""
    from agents.policy import LineTokens

    lines = LineTokens(tokenizer)
    assert lines.exact
    text = "".join(parts)
    assert lines.of(text) == tokenizer(text)["input_ids"]
    assert lines.of(text + "\n" + text) == tokenizer(text + "\n" + text)["input_ids"]  # warm for the repeated lines


def test_line_tokens_step_aside_for_a_tokenizer_that_can_merge_across_newlines():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from agents.policy import LineTokens

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # "\n\n" may be one token: not exact
    tok.train_from_iterator(CORPUS * 5, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    lines = LineTokens(fast)
    assert not lines.exact and lines.of("Is it\n\nNo.") is None
    actor = make_actor(fast)
    text = INSTRUCTION + "\n\nIs it an animal?\nYes.\n"
    assert actor.build_prompt_ids([text]) == [fast(text)["input_ids"]]


def test_prompts_with_the_line_cache_are_the_plain_tokenizers(tokenizer):
    actor = make_actor(tokenizer)
    obs = observations() + [observations()[1] + "Is it a cat?\nNo.\n"]
    assert actor._lines.exact
    actor.max_prompt_tokens = 10_000  # no cut: every prompt is its whole observation's ids
    assert actor.build_prompt_ids(obs) == [tokenizer(o)["input_ids"] for o in obs]
    assert len(actor._lines.lines) > 0


def test_a_seeded_dialogue_is_bit_identical_with_and_without_the_line_cache(tokenizer):
    """Caching lines' ids must not change what is sampled: the same seeded dialogues, prompt ids, utterances and
    log-probs exactly equal with the cache and with the tokenizer's own call every turn."""
    cached = make_actor(tokenizer, max_new_tokens=6)
    plain = make_actor(tokenizer, max_new_tokens=6)
    plain._lines.exact = False  # the tokenizer's own call
    a_outs, _ = converse(cached, 5, seed=4)
    b_outs, _ = converse(plain, 5, seed=4)
    assert len(cached._lines.lines) > 0 and not plain._lines.lines
    import copy

    copied = copy.deepcopy(cached)  # a copy (a frozen reference) keeps exactness, starts empty, owns its tokenizer
    assert copied._lines.exact and not copied._lines.lines and copied._lines.tokenizer is copied.tokenizer
    assert copied.build_prompt_ids(observations()) == cached.build_prompt_ids(observations())
    for a, b in zip(a_outs, b_outs):
        assert a.prompt_ids == b.prompt_ids and a.action_ids == b.action_ids and a.texts == b.texts
        assert all(torch.equal(x, y) for x, y in zip(a.log_probs, b.log_probs))
