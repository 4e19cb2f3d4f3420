"""The no-leak guard against disguised secrets (issue 15, item 12), for both oracle tasks.

Generated from the classes of disguise found (hypothesis): the secret or an alias spelled out with any separator,
reversed, split in two, glued to digits, in fullwidth letters, with homoglyphs, accents, combining marks or
zero-width characters, or as a demonym; each inside a sentence, as the reply of an oracle under test. Neither
``info["reply"]`` nor the observation may then let a reader rebuild the name."""

import unicodedata

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archer_gym  # noqa: F401
from archer_gym.oracles.guard import disguised_mention
from tasks.guess_my_city import questions as city_kb
from tasks.twenty_questions.questions import DONT_UNDERSTAND

HOMOGLYPH = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і", "s": "ѕ"}
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
COMBINING = ["\u0301", "\u0300", "\u0308", "\u0327", "\u0303"]


def _pick(data, xs):
    return data.draw(st.sampled_from(xs))


def disguise(data, name: str) -> str:
    word = name.lower() if data.draw(st.booleans()) else name.upper()
    kind = _pick(data, ["spelled", "reversed", "split", "digits", "fullwidth", "homoglyph", "combining",
                        "zero_width", "accented"])
    letters = [ch for ch in word if ch.isalnum()]
    if kind == "spelled":
        return _pick(data, [" ", "-", ".", ". ", " - ", "_", "*"]).join(letters)
    if kind == "reversed":
        return "".join(reversed(letters))
    if kind == "split":
        cut = data.draw(st.integers(1, len(letters) - 1))
        return "".join(letters[:cut]) + _pick(data, [" ", "-", " ... "]) + "".join(letters[cut:])
    if kind == "digits":
        digits = str(data.draw(st.integers(0, 9999)))
        return digits + word if data.draw(st.booleans()) else word + digits
    if kind == "fullwidth":
        return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in word)
    out = []
    for ch in word:
        if kind == "homoglyph" and ch.lower() in HOMOGLYPH and data.draw(st.booleans()):
            ch = HOMOGLYPH[ch.lower()]
        out.append(ch)
        if kind == "combining" and ch.isalpha():
            out.append(_pick(data, COMBINING))
        if kind == "zero_width" and data.draw(st.booleans()):
            out.append(_pick(data, ZERO_WIDTH))
        if kind == "accented" and ch.lower() in "aeiou":
            out[-1] = unicodedata.normalize("NFC", ch + "\u0301")
    return "".join(out)


TEMPLATES = ["{}", "The answer is {}.", "No, but think of {}!", "Yes. ({})", "It rhymes with nothing: {}"]


class Fixed:
    """An oracle under test that answers whatever it is told to."""

    def __init__(self):
        self.reply = "No."

    def answer_batch(self, requests):
        return [self.reply for _ in requests]


TQ_ENV = gym.make("archer/TwentyQuestionsSubset-v0", oracle=Fixed()).unwrapped
CITY_ENV = gym.make("archer/GuessMyCity-v0", oracle=Fixed()).unwrapped


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_twenty_questions_never_passes_a_disguised_secret(data):
    env = TQ_ENV
    target = _pick(data, sorted(env.all_targets))
    names = [n for n in env.kb.variants[target] if sum(c.isalnum() for c in n) >= 3]
    env.reset(seed=0, options={"target": target})
    env.oracle.reply = _pick(data, TEMPLATES).format(disguise(data, _pick(data, names)))
    obs, _, _, _, info = env.step("Is it something you can hold?")
    assert info["reply"] == DONT_UNDERSTAND, (target, env.oracle.reply, info["reply"])
    assert obs.rstrip().endswith(DONT_UNDERSTAND)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_guess_my_city_never_passes_a_disguised_city(data):
    env = CITY_ENV
    target = _pick(data, sorted(env.all_targets))
    names = [n for n in city_kb.names_of(target) if sum(c.isalnum() for c in n) >= 3]
    env.reset(seed=0, options={"target": target})
    env.oracle.reply = _pick(data, TEMPLATES).format(disguise(data, _pick(data, names)))
    obs, _, _, _, info = env.step("What is it known for?")
    reply = info["reply"]
    assert reply == city_kb.UNSURE_REPLY or (city_kb.REDACTED in reply and not disguised_mention(reply, names)), \
        (target, env.oracle.reply, reply)


@pytest.mark.parametrize("city, demonym", [("Paris", "Parisian"), ("Rome", "Roman"), ("Berlin", "Berliner"),
                                           ("Guangzhou", "Cantonese")])
def test_demonyms_count_as_the_name(city, demonym):
    names = city_kb.names_of(city) if city in CITY_ENV.all_targets else (city,)
    assert disguised_mention(f"People there are proudly {demonym}.", names)


@pytest.mark.parametrize("reply", ["No.", "Yes.", "It is bigger than a breadbox.", "Maybe, sometimes."])
def test_honest_replies_pass_unchanged(reply):
    """The negative control: replies that name nothing are not touched."""
    TQ_ENV.reset(seed=0, options={"target": sorted(TQ_ENV.all_targets)[0]})
    TQ_ENV.oracle.reply = reply
    assert TQ_ENV.step("Is it alive?")[4]["reply"] == reply
