"""The no-leak guard against disguised secrets (issue 15, item 12), for the oracle tasks, and against CarDealer's LLM
buyer stating its budget (issue 17, item 3).

Generated from the classes of disguise found (hypothesis): the secret or an alias spelled out with any separator,
reversed, split in two, glued to digits, in fullwidth letters, with homoglyphs, accents, combining marks or
zero-width characters, or as a demonym; each inside a sentence, as the reply of an oracle under test. Neither
``info["reply"]`` nor the observation may then let a reader rebuild the name. The budget is generated likewise from
the classes of how people write an amount of money (separators, cents, currency, magnitudes, words, ...)."""

import unicodedata

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archer_gym  # noqa: F401
from archer_gym.oracles.guard import amounts, disguised_mention, letter_hint, mentions_amount
from tasks.car_dealer.buyer import Profile
from tasks.car_dealer.llm_buyer import LEAK_REPLY
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


def _step_with_reply(env, target, reply, action):
    """One turn of ``env`` (holding a :class:`Fixed` oracle) on ``target``, the oracle under test answering ``reply``."""
    env.reset(seed=0, options={"target": target})
    env.oracle.reply = reply
    return env.step(action)


TQ_ENV = gym.make("archer/TwentyQuestionsSubset-v0", oracle=Fixed()).unwrapped
CITY_ENV = gym.make("archer/GuessMyCity-v0", oracle=Fixed()).unwrapped


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_twenty_questions_never_passes_a_disguised_secret(data):
    env = TQ_ENV
    target = _pick(data, sorted(env.all_targets))
    names = [n for n in env.kb.variants[target] if sum(c.isalnum() for c in n) >= 3]
    reply = _pick(data, TEMPLATES).format(disguise(data, _pick(data, names)))
    obs, _, _, _, info = _step_with_reply(env, target, reply, "Is it something you can hold?")
    assert info["reply"] == DONT_UNDERSTAND, (target, env.oracle.reply, info["reply"])
    assert obs.rstrip().endswith(DONT_UNDERSTAND)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_guess_my_city_never_passes_a_disguised_city(data):
    env = CITY_ENV
    target = _pick(data, sorted(env.all_targets))
    names = [n for n in city_kb.names_of(target) if sum(c.isalnum() for c in n) >= 3]
    reply = _pick(data, TEMPLATES).format(disguise(data, _pick(data, names)))
    obs, _, _, _, info = _step_with_reply(env, target, reply, "What is it known for?")
    reply = info["reply"]
    assert reply == city_kb.UNSURE_REPLY or (city_kb.REDACTED in reply and not disguised_mention(reply, names)), \
        (target, env.oracle.reply, reply)


def test_a_short_alias_is_not_cut_out_of_a_look_alike_word():
    """Buenos Aires has the alias "BA": redacting it out of "BA\u0456RES" (a Cyrillic \u0456) left "[redacted]\u0456RES",
    in which the guard could no longer read "Baires", and the observation showed "BARES". A hypothesis draw of the
    test above found it; a word's edges are now those of any script."""
    for reply in ("BA\u0456RES", "It is BA\u0456RES."):
        info = _step_with_reply(CITY_ENV, "Buenos Aires", reply, "What is it known for?")[4]
        assert info["reply"] == city_kb.UNSURE_REPLY, (reply, info["reply"])
    assert city_kb.redact("It is BA, or Buenos-Aires.", "Buenos Aires") == "It is [redacted], or [redacted]."


@pytest.mark.parametrize("city, demonym", [("Paris", "Parisian"), ("Rome", "Roman"), ("Berlin", "Berliner"),
                                           ("Guangzhou", "Cantonese"), ("Shanghai", "Shanghainese")])
def test_demonyms_count_as_the_name(city, demonym):
    names = city_kb.names_of(city) if city in CITY_ENV.all_targets else (city,)
    assert disguised_mention(f"People there are proudly {demonym}.", names)


def test_guess_my_city_never_names_the_city_inside_a_language():
    """Issue 15, item 12: Guess My City's own knowledge-base oracle named two cities inside a language, Guangzhou
    (alias Canton) in "Cantonese" and Shanghai in "Shanghainese"; 8e33cfd withheld the first only, and the scripted
    expert guessed Shanghai after one question. For every city, no reply through the env (its default oracle) to
    a question about languages holds a language whose name begins with one of the city's names."""
    letters = lambda text: "".join(ch for ch in unicodedata.normalize("NFKD", text.lower()) if "a" <= ch <= "z")  # noqa: E731
    languages = sorted(set(city_kb.LANGUAGES) | set(city_kb._OTHER_LANGUAGES))
    questions = ["What language do people speak there?", "What languages are spoken there?",
                 *(f"Do people speak {language} there?" for language in languages)]
    env = gym.make("archer/GuessMyCity-v0", max_turns=len(questions) + 1).unwrapped
    checked, leaks = [], []
    for city in city_kb.CITY_NAMES:
        names = [letters(n) for n in city_kb.names_of(city) if len(letters(n)) >= 4]
        telling = [lang for lang in languages if any(letters(lang).startswith(n) for n in names)]
        if not telling:
            continue
        checked.append(city)
        env.reset(seed=0, options={"target": city})
        for question in questions:
            reply = env.step(question)[4]["reply"]
            leaks += [(city, question, reply) for lang in telling if letters(lang) in letters(reply)]
    assert {"Guangzhou", "Shanghai"} <= set(checked)  # the classes the issue found are among those checked
    assert not leaks, leaks


HINTS = ["It starts with {}.", "Its name begins with the letter {}!", "First letter: {}", "The first letter is {}.",
         "Hint: it starts with a {}", "{} is the first letter.", "The initial is {}.", "It begins with an {}, I think.",
         "Yes. The first letter of its name is {}"]


def _say_letter(data, letter: str) -> str:
    """``letter`` as a reply might write it: either case, quoted, fullwidth or a homoglyph."""
    letter = letter.upper() if data.draw(st.booleans()) else letter.lower()
    kind = _pick(data, ["plain", "quoted", "fullwidth", "homoglyph"])
    if kind == "quoted":
        return _pick(data, ["'{}'", '"{}"', "({})"]).format(letter)
    if kind == "fullwidth":
        return chr(ord(letter) + 0xFEE0)
    if kind == "homoglyph" and letter.lower() in HOMOGLYPH:
        return HOMOGLYPH[letter.lower()]
    return letter


def _task(data):
    """(env, secret, names, question, refusal) of Twenty Questions or Guess My City, secret drawn from ``data``."""
    if data.draw(st.booleans()):
        target = _pick(data, sorted(TQ_ENV.all_targets))
        return TQ_ENV, target, TQ_ENV.kb.variants[target], "Is it something you can hold?", DONT_UNDERSTAND
    target = _pick(data, sorted(CITY_ENV.all_targets))
    return CITY_ENV, target, city_kb.names_of(target), "What is it known for?", city_kb.UNSURE_REPLY


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_reply_stating_the_secrets_first_letter_is_refused(data):
    """Issue 15, item 12 lists first-letter hints among the disguises that beat the guard; 8e33cfd documented them
    as not caught, and both tasks passed "Its name starts with the letter B." for Banana. Generated from the class:
    the secret's first letter, in any case, quoted, fullwidth or as a homoglyph, after any of the usual cues."""
    env, target, names, question, refusal = _task(data)
    reply = _pick(data, HINTS).format(_say_letter(data, target[0]))
    obs, _, _, _, info = _step_with_reply(env, target, reply, question)
    shown = obs.rstrip().rsplit("\nA: ", 1)[-1]  # the reply as the observation shows it, without the "A: " label
    assert not letter_hint(info["reply"], names) and not letter_hint(shown, names), (target, reply, info["reply"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_letter_the_secret_does_not_begin_with_is_no_hint(data):
    """The negative control: the same sentences with a letter none of the secret's names begins with pass."""
    env, target, names, question, refusal = _task(data)
    firsts = {n.strip()[0].lower() for n in names if n.strip()}
    letter = _pick(data, [c for c in "bcdfghjklmnprstvwz" if c not in firsts])
    reply = _pick(data, HINTS).format(letter.upper())
    assert not letter_hint(reply, names)
    assert _step_with_reply(env, target, reply, question)[4]["reply"] != refusal, (target, reply)


@pytest.mark.parametrize("reply", ["It starts with a festival in spring.", "It begins with an early harvest.",
                                   "Its first letter? I cannot say."])
def test_an_article_or_a_word_after_the_cue_is_no_letter(reply):
    """"starts with a festival" states no letter, even for a city whose name begins with A."""
    assert not letter_hint(reply, city_kb.names_of("Abidjan"))
    assert _step_with_reply(CITY_ENV, "Abidjan", reply, "What is it known for?")[4]["reply"] != city_kb.UNSURE_REPLY


@pytest.mark.parametrize("reply", ["No.", "Yes.", "It is bigger than a breadbox.", "Maybe, sometimes."])
def test_honest_replies_pass_unchanged(reply):
    """The negative control: replies that name nothing are not touched."""
    assert _step_with_reply(TQ_ENV, sorted(TQ_ENV.all_targets)[0], reply, "Is it alive?")[4]["reply"] == reply


# --------------------------------------------------------------------------- CarDealer's budget (an amount, no word)
ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
       "seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
FULLWIDTH = str.maketrans("0123456789,.$", "０１２３４５６７８９，．＄")


def _words_below_1000(data, n: int) -> list[str]:
    out = []
    if n >= 100:
        out += [ONES[n // 100], "hundred"] + (["and"] if n % 100 and data.draw(st.booleans()) else [])
    n %= 100
    if n >= 20:
        out.append(TENS[n // 10] + (_pick(data, ["-", " "]) + ONES[n % 10] if n % 10 else ""))
    elif n or not out:
        out.append(ONES[n])
    return out


def say_amount(data, amount: int) -> str:
    """``amount`` (dollars, a multiple of 100 under a million) as a person writes it, in a class drawn from ``data``:
    digits with any thousands separator (and cents), with a magnitude ("k", "thousand", "grand"), in words, one
    digit at a time, in fullwidth digits, or with zero-width characters between the digits."""
    thousands, rest = divmod(amount, 1000)
    kind = _pick(data, ["digits", "magnitude", "words", "spaced", "fullwidth", "zero_width"])
    if kind == "words":
        words = _words_below_1000(data, thousands) + [_pick(data, ["thousand", "grand"] if not rest else ["thousand"])]
        text = " ".join(words + (_words_below_1000(data, rest) if rest else []))
        return text + _pick(data, ["", " dollars", " bucks"])
    if kind == "magnitude":
        number = f"{amount / 1000:g}"
        if data.draw(st.booleans()) and "." in number:
            number = number.replace(".", ",")  # 32,5k: a decimal comma
        unit = _pick(data, ["k", "K", " k", " thousand", "-thousand", " grand"])
        return _pick(data, ["", "$"]) + number + unit + _pick(data, ["", " dollars"])
    if kind == "spaced":
        return _pick(data, [" ", "-", " - ", "."]).join(str(amount))
    sep = _pick(data, [",", ".", " ", "'", ""])
    digits = f"{amount:,}".replace(",", sep) if amount >= 1000 else str(amount)
    if data.draw(st.booleans()):
        digits += (",00" if sep == "." else ".00")
    text = _pick(data, ["$", "$ ", "USD ", ""]) + digits + _pick(data, ["", " dollars", " USD", "$"])
    if kind == "fullwidth":
        return text.translate(FULLWIDTH)
    if kind == "zero_width":
        return "".join(ch + (_pick(data, ZERO_WIDTH) if ch.isdigit() and data.draw(st.booleans()) else "") for ch in text)
    return text


AMOUNTS = st.integers(10, 9999).map(lambda k: k * 100)
BUDGET_TEMPLATES = ["{}", "My budget is {}.", "I can't go over {}!", "Honestly, {} is my limit", "Max: ({})",
                    "Between us, {} and not a cent more."]


@settings(max_examples=400, deadline=None)
@given(st.data(), AMOUNTS)
def test_every_common_form_of_an_amount_is_read(data, amount):
    text = _pick(data, BUDGET_TEMPLATES).format(say_amount(data, amount))
    assert mentions_amount(text, amount), (amount, text, sorted(amounts(text)))


@settings(max_examples=400, deadline=None)
@given(st.data(), AMOUNTS, AMOUNTS)
def test_another_amount_in_the_same_forms_is_not_the_budget(data, amount, other):
    """The negative control: a figure that is not the budget, said any of those ways, is not taken for it."""
    if other != amount:
        text = _pick(data, BUDGET_TEMPLATES).format(say_amount(data, other))
        assert not mentions_amount(text, amount), (amount, text, sorted(amounts(text)))


CAR_ENV = gym.make("archer/CarDealer-v0", oracle=Fixed()).unwrapped


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_car_dealer_buyer_never_passes_its_budget(data):
    env = CAR_ENV
    target = _pick(data, sorted(env.all_targets))
    budget = Profile.from_name(target).budget
    reply = _pick(data, BUDGET_TEMPLATES).format(say_amount(data, budget))
    action = _pick(data, ["What's your budget?", "How about $95,000?", "deal"])
    obs, reward, term, _, info = _step_with_reply(env, target, reply, action)
    assert (info["reply"], info["buyer_fault"], reward, term) == (LEAK_REPLY, "leak", 0.0, False), env.oracle.reply
    assert obs.rstrip().endswith("Buyer: " + LEAK_REPLY) and not mentions_amount(obs, budget)


@pytest.mark.parametrize("reply", ["I'd like something with a sunroof.", "That's too much; I could pay $24,000.",
                                   "Thirty cars? No, just one.", "What's the mileage on it?"])
def test_car_dealer_honest_replies_pass_unchanged(reply):
    """Negative control: a reply that does not state the budget (buyer-001's is $30,000) is shown as it came."""
    info = _step_with_reply(CAR_ENV, "buyer-001", reply, "A Volkswagen for $45,000?")[4]
    assert (info["reply"], info["buyer_fault"]) == (reply, "")
