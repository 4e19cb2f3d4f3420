"""The no-leak guard's disguise detector: does a reply name the secret in a form a reader would still decode?

Issue 15, item 12: a whole-word check of the raw reply let through the secret rebuilt by the observation's own
text cleaning (accents folded, zero-width and combining characters dropped), fullwidth and homoglyph letters,
and spelled-out ("e l e p h a n t", "e-l-e-p-h-a-n-t"), reversed, split ("ele phant"), digit-glued
("elephant42") and demonym-like ("Parisian") forms. :func:`disguised_mention` reads the text the way the
observation shows it and then the way a person decodes it, and checks every such reading against the names.

Callers run it AFTER the observation's cleaning (``clean_text``), so what is checked is what the agent sees.
:func:`letter_hint` catches the one hint the issue names that spells no part of the name: its first letter
("It starts with a B.", "First letter: 'b'", "B is the first letter"), when the letter stated is the secret's.
Not caught: other hints (a rhyme, the last letter, a description).

A secret that is an amount of money (CarDealer's buyer's budget) is no word: :func:`mentions_amount` reads every
figure a reader would take from the text instead ("$32,000", "32.000", "32 000", "32k", "32.5K", "32 thousand",
"32 grand", "thirty-two thousand", "thirty two grand", "3-2-0-0-0", in fullwidth digits or with zero-width
characters inside) and compares each with the amount. Not caught: a bare number without its magnitude ("thirty",
"$30"), arithmetic ("half of sixty grand"), letters for digits ("3O,OOO"), and figures near the amount.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from decimal import Decimal
from typing import Iterable

#: Latin look-alikes from Cyrillic and Greek (lower case; NFKC already folds fullwidth forms).
_HOMOGLYPHS = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ո": "n", "ց": "g", "һ": "h",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "γ": "y", "μ": "u", "ω": "w", "ѵ": "v", "ԛ": "q", "ԝ": "w",
    "0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
})
#: Endings that turn a place or thing into an adjective or people ("Paris" -> "Parisian", "Rome" -> "Roman",
#: "Shanghai" -> "Shanghainese", the language Guess My City's knowledge base names for Shanghai).
_DEMONYM_ENDINGS = ("ian", "ean", "an", "ese", "nese", "ish", "ite", "er", "ers", "ans", "ians", "i", "ic", "ine")
_ENDINGS = frozenset(_DEMONYM_ENDINGS)
_ENDING_LENGTHS = tuple(sorted({len(e) for e in _DEMONYM_ENDINGS}))


def fold(text: str) -> str:
    """Lower-case letters and digits as a reader sees them: NFKC (fullwidth -> ASCII), marks and format
    characters (zero-width, combining) dropped, accents folded, homoglyphs mapped."""
    text = unicodedata.normalize("NFKC", str(text))
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf")
    return text.lower()


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", text)


@functools.lru_cache(maxsize=4096)
def _name_forms(names: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """The letter forms of the names (each name's letters, with "s" and "es") and the stems a demonym-like ending
    may follow. Worked out once per secret: every reply of an episode is checked against the same names."""
    forms = set()
    for name in names:
        letters = _letters(fold(name))
        if len(letters) >= 3:
            forms |= {letters, letters + "s", letters + "es"}
    stems = set()
    for form in forms:
        if len(form) >= 4:
            stems |= {form, form[:-1]} if form[-1] in "aeiouy" else {form}
    return frozenset(forms), frozenset(stems)


@functools.lru_cache(maxsize=4096)
def _readings(text: str) -> frozenset[str]:
    """Every letter string a reader could take as one word: each word, with digits dropped and with digits read
    as letters; runs of single letters joined (spelled out); each pair of neighbouring words joined (split).
    Worked out once per text: an oracle's replies repeat (a knowledge base has a few dozen), and a reply is read
    for every secret it is checked against."""
    folded = fold(text)
    raw_words = re.findall(r"[^\W_]+|[@$]", folded)
    words_plain = [_letters(w) for w in raw_words]
    words_leet = [_letters(w.translate(_HOMOGLYPHS)) for w in raw_words]
    out: set[str] = set()
    for words in (words_plain, words_leet):
        words = [w for w in words if w]
        out |= set(words)
        for width in range(2, 7):  # a name split in two, or a name of several words glued to digits
            out |= {"".join(words[i:i + width]) for i in range(len(words) - width + 1)}
        run: list[str] = []
        for w in words + [""]:  # letters separated by spaces, hyphens, dots...: "e l e p h a n t"
            if len(w) == 1:
                run.append(w)
                continue
            if len(run) >= 3:
                joined = "".join(run)
                out |= {joined[i:j] for i in range(len(joined)) for j in range(i + 3, len(joined) + 1)}
            run = []
    out |= {w[::-1] for w in out}
    return frozenset(out)


def disguised_mention(text: str, names: Iterable[str]) -> bool:
    """Whether ``text`` names any of ``names`` (the secret and its aliases) in any of the disguises above."""
    return _disguised_mention(str(text), tuple(names))


@functools.lru_cache(maxsize=65536)
def _disguised_mention(text: str, names: tuple[str, ...]) -> bool:
    """:func:`disguised_mention`, answered once per (text, names): an env checks every reply, and a knowledge base's
    replies about one secret are few (issue 19: the check was a third of a Twenty Questions step)."""
    forms, stems = _name_forms(names)
    if not forms:
        return False
    readings = _readings(text)
    if not readings.isdisjoint(forms):
        return True
    # A reading that is a stem and one demonym ending ("parisian"): cut each ending length off the reading and look
    # both parts up, rather than try every stem against every reading.
    return any(r[-n:] in _ENDINGS and r[:-n] in stems for r in readings for n in _ENDING_LENGTHS)



#: Phrases after which a reply states a name's first letter ("starts with", "first letter is", "initial:").
_HINT_CUE = re.compile(r"\b(?:starts?|starting|begins?|beginning)\s+with\b|\bfirst\s+letter\b|\binitial\b")
#: Words between such a cue and the letter itself: "begins with the letter B", "first letter of its name is B".
_HINT_FILLER = {"the", "an", "letter", "is", "was", "of", "its", "my", "name", "word", "city", "answer", "capital"}
#: "B is the first letter", "B is its initial".
_HINT_BEFORE = re.compile(r"(?<![a-z])([a-z])\W{0,3}\s+is\s+(?:the|its)\s+(?:first\s+letter|initial)\b")


def _stated_first_letters(reading: str) -> set[str]:
    out = {m.group(1) for m in _HINT_BEFORE.finditer(reading)}
    for m in _HINT_CUE.finditer(reading):
        words = re.findall(r"[a-z]+", reading[m.end():m.end() + 60])
        i, after_letter = 0, False
        while i < len(words) and words[i] in _HINT_FILLER:
            after_letter = after_letter or words[i] == "letter"
            i += 1
        if i < len(words) and words[i] == "a" and not after_letter and i + 1 < len(words):
            if len(words[i + 1]) == 1:
                i += 1  # "starts with a B": the article, then the letter
            elif words[i + 1] not in ("and", "or", "but", "then", "so"):
                continue  # "starts with a bang": an article before a word states no letter
        if i < len(words) and len(words[i]) == 1:
            out.add(words[i])
    return out


def letter_hint(text: str, names: Iterable[str]) -> bool:
    """Whether ``text`` states the first letter of one of ``names`` (read as :func:`fold` reads it, homoglyphs
    too): "Its name starts with an E.", "First letter: 'E'", "The initial is E", "E is the first letter". A letter
    that no name begins with is no hint."""
    firsts = {_letters(fold(n))[:1] for n in names} - {""}
    if not firsts:
        return False
    folded = fold(text)
    return bool(firsts & (_stated_first_letters(folded) | _stated_first_letters(folded.translate(_HOMOGLYPHS))))

# --------------------------------------------------------------------------- amounts of money
_UNIT_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_TENS_WORDS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_SCALE_WORDS = {"thousand": 1000, "grand": 1000, "k": 1000, "million": 10**6, "mil": 10**6, "mn": 10**6}
#: A numeral: thousands groups with one separator used throughout (, . ' or a space), or plain digits; then decimals,
#: then a magnitude ("k", "thousand", "grand", "million"). "30.000" reads as thirty thousand, as in most of Europe.
_NUMERAL = re.compile(r"(?<![\d.,'])(\d{1,3}(?:([,.' ])\d{3})(?:\2\d{3})*|\d+)(?:[.,](\d+))?(?!\d)"
                      r"(?:[\s-]*(k|thousand|grand|million|mil|mn)\b)?")
#: Digits one by one with separators between them: "3 2 0 0 0", "3-2-0-0-0", "3 - 2 - 0 - 0 - 0".
_SPACED_DIGITS = re.compile(r"(?<![\d])\d(?:[\s\-_.*/]+\d){3,}(?!\d)")
_WORD = re.compile(r"[a-z]+")


def _word_amount(words: list[str]) -> int:
    """The number a run of number words says: "thirty two thousand five hundred" -> 32500."""
    total = current = 0
    for w in words:
        if w in _UNIT_WORDS or w in _TENS_WORDS:
            current += _UNIT_WORDS.get(w, 0) + _TENS_WORDS.get(w, 0)
        elif w == "hundred":
            current = (current or 1) * 100
        elif w in _SCALE_WORDS:
            total, current = total + (current or 1) * _SCALE_WORDS[w], 0
    return total + current


def amounts(text: str) -> set[Decimal]:
    """Every amount a reader takes from ``text`` (as :func:`fold` reads it), each numeral and each run of number
    words once: "$32,500 or thirty-two thousand" -> {32500, 32000}."""
    folded = fold(text)
    out: set[Decimal] = set()
    for m in _NUMERAL.finditer(folded):
        whole, _, decimals, scale = m.groups()
        value = Decimal(re.sub(r"\D", "", whole) + ("." + decimals if decimals else ""))
        out.add(value * _SCALE_WORDS.get(scale or "", 1))
    out |= {Decimal(re.sub(r"\D", "", m.group(0))) for m in _SPACED_DIGITS.finditer(folded)}
    run: list[str] = []
    last_end = -1
    for m in _WORD.finditer(folded):
        w = m.group(0)
        numeric = w in _UNIT_WORDS or w in _TENS_WORDS or w in _SCALE_WORDS or w in ("hundred", "and")
        if not run and w in _SCALE_WORDS and re.search(r"\d[\s-]*$", folded[:m.start()]):
            numeric = False  # the magnitude of a numeral ("32k", "32 thousand"), read with it above
        if run and not (numeric and re.fullmatch(r"[\s-]*", folded[last_end:m.start()])):
            out.add(Decimal(_word_amount(run)))  # a run ends at any other word or punctuation
            run = []
        if numeric and (run or w != "and"):
            run.append(w)
            last_end = m.end()
    if run:
        out.add(Decimal(_word_amount(run)))
    return out


def mentions_amount(text: str, amount: int) -> bool:
    """Whether ``text`` states ``amount`` in any of the forms :func:`amounts` reads (a budget of 32000 is in
    "$32,000", "32k", "thirty-two thousand"...; "$32,500" and "132k" are other amounts)."""
    return Decimal(amount) in amounts(text)
