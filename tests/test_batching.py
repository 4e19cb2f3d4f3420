"""Length-sorted micro-batches (agents.batching): the runs cover every row once, and the actor's sampling and
scoring give the same results in runs as in one padded batch."""

import pytest
import torch
from hypothesis import given, strategies as st

from agents.batching import CPU_MICRO_BATCH, length_chunks, resolve_micro_batch
from agents.models import ModelConfig
from tests.test_policy import make_actor, observations, tokenizer  # noqa: F401 (fixture)


@given(st.lists(st.integers(0, 500), max_size=60), st.integers(-1, 70))
def test_runs_cover_every_row_once_sorted_by_length(lengths, size):
    runs = length_chunks(lengths, size)
    flat = [i for run in runs for i in run]
    assert sorted(flat) == list(range(len(lengths)))
    if size <= 0 or len(lengths) <= size:
        assert runs == [list(range(len(lengths)))]  # one run, original order: the old single-batch path
    else:
        assert all(1 <= len(run) <= size for run in runs)
        assert [lengths[i] for i in flat] == sorted(lengths)


def test_auto_is_16_rows_on_the_cpu_and_the_whole_batch_on_a_gpu():
    assert resolve_micro_batch(-1, "cpu") == CPU_MICRO_BATCH == 16
    assert resolve_micro_batch(-1, "cuda:0") == 0
    assert resolve_micro_batch(8, "cuda") == 8
    with pytest.raises(ValueError, match="micro_batch=-2"):
        ModelConfig(micro_batch=-2)


def _batch(n: int = 7) -> list[str]:
    obs = observations()
    return [obs[i % len(obs)] + "Is it red?\nNo.\n" * (i % 3) for i in range(n)]


def test_scoring_in_runs_equals_one_batch_with_the_same_gradient(tokenizer):  # noqa: F811
    whole, runs = make_actor(tokenizer, max_new_tokens=8), make_actor(tokenizer, max_new_tokens=8, micro_batch=2)
    out = whole.sample(_batch(), generator=torch.Generator().manual_seed(0))
    assert len({len(a) for a in out.action_ids}) > 1  # ragged actions: the runs pad to different widths
    a, b = whole.score(out.prompt_ids, out.action_ids), runs.score(out.prompt_ids, out.action_ids)
    assert torch.equal(a.mask, b.mask)
    torch.testing.assert_close(a.logp, b.logp, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(a.entropy, b.entropy, atol=1e-5, rtol=1e-4)
    (a.logp.sum()).backward()
    (b.logp.sum()).backward()
    for p, q in zip(whole.model.parameters(), runs.model.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-3)


def test_greedy_sampling_in_runs_equals_one_batch(tokenizer):  # noqa: F811
    whole, runs = make_actor(tokenizer, max_new_tokens=8), make_actor(tokenizer, max_new_tokens=8, micro_batch=3)
    a, b = whole.sample(_batch(), greedy=True), runs.sample(_batch(), greedy=True)
    assert a.texts == b.texts and a.action_ids == b.action_ids and a.prompt_ids == b.prompt_ids
    for x, y in zip(a.log_probs, b.log_probs):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-4)


def test_the_token_value_model_in_runs_equals_one_batch(tokenizer):  # noqa: F811
    from agents.algos.common import TokenValueModel

    actor = make_actor(tokenizer, max_new_tokens=8)
    out = actor.sample(_batch(), generator=torch.Generator().manual_seed(0))
    values = TokenValueModel(actor)
    torch.nn.init.normal_(values.head.weight)  # a zero head would make every value 0
    whole = (values(out.prompt_ids, out.action_ids), values.state_value(out.prompt_ids))
    values.micro_batch = 2
    runs = (values(out.prompt_ids, out.action_ids), values.state_value(out.prompt_ids))
    assert whole[0].abs().sum() > 0 and whole[1].std() > 0
    for a, b in zip(whole, runs):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
