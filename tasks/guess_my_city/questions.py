"""Guess My City's knowledge base: the fact table, the guess parser and the rule-based oracle.

The oracle plays a person whose home town is the secret city. :func:`answer` turns one question
into a short reply built *only* from the fact table (``cities.json``), never from the question's own
words, so no phrasing can make it echo the city's name; :func:`redact` removes any name or alias
from a reply as a last line of defence (the env applies it to every oracle, LLM ones included).

Text matching works on whole words and phrases of normalised text (:func:`normalize`), never on raw
substrings: "Cali" does not match "California", "Salvador" does not match "El Salvador".
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from pathlib import Path
from typing import Iterable

_DATA = json.loads((Path(__file__).with_name("cities.json")).read_text())

#: Fact records by canonical name, in LMRL-Gym's order.
CITIES: dict[str, dict] = {c["name"]: c for c in _DATA["cities"]}
CITY_NAMES: tuple[str, ...] = tuple(CITIES)

# --------------------------------------------------------------------------- fixed replies
UNSURE_REPLY = "I'm not sure how to answer that."
NAME_REPLY = "I can't tell you the name; you have to guess it."
ONE_CITY_REPLY = 'If you want to guess, name one city at a time, like "Is it ...?".'
CORRECT_GUESS_REPLY = "Yes, that's it! You guessed my city."
WRONG_GUESS_REPLY = "No, that's not my city."
#: Replies that carry no information about the city: the env flags them ``invalid_action``.
NON_ANSWERS: frozenset[str] = frozenset({UNSURE_REPLY, NAME_REPLY, ONE_CITY_REPLY})
REDACTED = "[redacted]"


# --------------------------------------------------------------------------- normalisation
def normalize(text: str) -> str:
    """Lower-case ASCII words separated by single spaces: accents folded, apostrophes dropped
    ("Xi'an" -> "xian", "it's" -> "its"), every other non-alphanumeric character a separator."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"['\u2019`\u2018]", "", text)
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def names_of(city: str) -> tuple[str, ...]:
    """The city's canonical name followed by its aliases."""
    rec = CITIES[city]
    return (rec["name"], *rec["aliases"])


def _phrase_index(pairs: Iterable[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for phrase, value in pairs:
        key = normalize(phrase)
        if key:
            out.setdefault(key, value)
    return out


#: normalised name or alias -> canonical city
CITY_INDEX: dict[str, str] = _phrase_index((n, c) for c in CITY_NAMES for n in names_of(c))  # type: ignore[assignment]


def _scan(tokens: list[str], index: dict[str, object], max_len: int) -> list[tuple[int, int, object]]:
    """Greedy longest-first phrase matches of ``index`` in ``tokens``: (start, end, value)."""
    found, i = [], 0
    while i < len(tokens):
        for n in range(min(max_len, len(tokens) - i), 0, -1):
            key = " ".join(tokens[i:i + n])
            if key in index:
                found.append((i, i + n, index[key]))
                i += n
                break
        else:
            i += 1
    return found


# --------------------------------------------------------------------------- entities
CONTINENTS = ("Asia", "Europe", "Africa", "North America", "South America", "Oceania", "Antarctica")
_CONTINENT_WORDS = {
    "asia": "Asia", "asian": "Asia", "europe": "Europe", "european": "Europe", "africa": "Africa",
    "african": "Africa", "north america": "North America", "north american": "North America",
    "south america": "South America", "south american": "South America", "oceania": "Oceania",
    "antarctica": "Antarctica", "america": "America", "the americas": "America", "americas": "America",
    "american": "America",
}
# Countries of the cities, with the ways people name them.
_COUNTRY_WORDS = {
    "United States": ["united states", "united states of america", "usa", "the us", "u s", "u s a", "the states"],
    "United Kingdom": ["united kingdom", "uk", "u k", "britain", "great britain"],
    "South Korea": ["south korea", "republic of korea"],
    "North Korea": ["north korea", "dprk"],
    "China": ["china", "prc", "mainland china", "peoples republic of china"],
    "Taiwan": ["taiwan", "republic of china", "roc"],
    "Russia": ["russia", "russian federation"],
    "Turkey": ["turkey", "turkiye"],
    "Iran": ["iran", "persia"],
    "Ivory Coast": ["ivory coast", "cote divoire", "cote d ivoire"],
    "Democratic Republic of the Congo": ["democratic republic of the congo", "dr congo", "drc", "congo",
                                         "the congo", "congo kinshasa", "zaire"],
    "Myanmar": ["myanmar", "burma"],
    "Philippines": ["philippines", "the philippines"],
}
for _c in {c["country"] for c in CITIES.values()}:
    _COUNTRY_WORDS.setdefault(_c, [_c])
_THE_COUNTRIES = {"United States", "United Kingdom", "Democratic Republic of the Congo", "Philippines"}


def country_display(country: str) -> str:
    """Country name as it reads inside a sentence ("the United States")."""
    return f"the {country}" if country in _THE_COUNTRIES else country
# Other countries, so that "Is it in Nigeria?" gets a plain "No".
OTHER_COUNTRIES = (
    "Afghanistan Albania Algeria Andorra Angola Armenia Austria Azerbaijan Bahamas Bahrain Belarus Belgium "
    "Belize Benin Bhutan Bolivia Bosnia Botswana Brunei Bulgaria Burundi Cambodia Cameroon Chad Croatia "
    "Cyprus Czechia Denmark Djibouti Eritrea Estonia Fiji Finland Gabon Gambia Georgia Ghana Greece Guatemala "
    "Guinea Haiti Honduras Iceland Ireland Israel Jamaica Jordan Kazakhstan Kenya Kuwait Kyrgyzstan Laos Latvia "
    "Lebanon Liberia Libya Lithuania Luxembourg Madagascar Malawi Malaysia Mali Malta Mauritania Moldova "
    "Monaco Mongolia Montenegro Mozambique Namibia Nepal Netherlands Holland Nicaragua Niger Nigeria Norway "
    "Oman Palestine Panama Paraguay Poland Portugal Qatar Rwanda Senegal Serbia Slovakia Slovenia Somalia "
    "Sudan Suriname Sweden Switzerland Syria Tajikistan Tanzania Togo Tunisia Turkmenistan Uganda Uruguay "
    "Yemen Zambia Zimbabwe Scotland Wales Greenland"
).split() + ["Burkina Faso", "Costa Rica", "Czech Republic", "Dominican Republic", "El Salvador",
             "New Zealand", "Papua New Guinea", "Saudi Arabia", "Sierra Leone", "South Africa", "South Sudan",
             "Sri Lanka", "United Arab Emirates", "UAE", "Puerto Rico", "Equatorial Guinea",
             "Republic of the Congo", "North Macedonia", "East Timor", "Vatican"]
# Regions, provinces and islands: members come from each city's "places"; some have none.
_EXTRA_PLACES = ("Korea", "Scandinavia", "Central America", "Siberia", "the Balkans", "the Baltics", "Southern Africa",
                 "Patagonia", "Florida", "New England", "Bavaria", "Kerala", "Borneo", "Bali", "Kyushu",
                 "Hokkaido", "Manchuria")
PLACES: tuple[str, ...] = tuple(dict.fromkeys(
    [p for c in CITIES.values() for p in c["places"]] + list(_EXTRA_PLACES)))
_PLACE_ALIASES = {"Northeast China": ["manchuria"], "the Middle East": [], "Middle East": ["middle eastern", "mideast"],
                  "Latin America": ["latin american"], "the Arab world": ["arab world", "arab country", "arab countries"]}
_LANGUAGE_WORDS = {"chinese": "Chinese", "farsi": "Persian", "tagalog": "Filipino", "hokkien": "Taiwanese Hokkien",
                   "taiwanese": "Taiwanese Hokkien", "berber": "Berber", "amazigh": "Berber", "malay": "Malay"}
LANGUAGES: tuple[str, ...] = tuple(dict.fromkeys(l for c in CITIES.values() for l in c["languages"]))
_OTHER_LANGUAGES = ("German French Italian Portuguese Dutch Swahili Hausa Yoruba Polish Greek Hebrew Swedish "
                    "Norwegian Danish Finnish Czech Khmer Lao Nepali Sinhala Punjabi Kazakh Mongolian Zulu "
                    "Malayalam Marathi Gujarati Kannada Telugu Tamil Bengali Urdu Pashto Sindhi Javanese "
                    "Sundanese Batak Betawi Lingala Ukrainian Romanian Hungarian Uzbek Amharic Burmese Korean "
                    "Japanese Vietnamese Thai Indonesian Filipino Arabic Persian Turkish Russian English Spanish "
                    "Hindi Mandarin Cantonese Shanghainese").split()
_CHINESE = {"Mandarin", "Cantonese", "Shanghainese", "Taiwanese Hokkien"}

_ENTITY_INDEX: dict[str, tuple[str, str]] = {}
for _w, _c in _CONTINENT_WORDS.items():
    _ENTITY_INDEX[_w] = ("continent", _c)
for _c, _ws in _COUNTRY_WORDS.items():
    for _w in _ws:
        _ENTITY_INDEX[normalize(_w)] = ("country", _c)
for _c in OTHER_COUNTRIES:
    _ENTITY_INDEX.setdefault(normalize(_c), ("country", _c))
for _p in PLACES:
    for _w in [_p, re.sub(r"^the ", "", _p), *_PLACE_ALIASES.get(_p, [])]:
        _ENTITY_INDEX.setdefault(normalize(_w), ("place", _p))
for _l in list(LANGUAGES) + _OTHER_LANGUAGES:
    _ENTITY_INDEX.setdefault(normalize(_l), ("language", _l))
for _w, _l in _LANGUAGE_WORDS.items():
    _ENTITY_INDEX.setdefault(_w, ("language", _l))
_ENTITY_MAX = max(len(k.split()) for k in _ENTITY_INDEX)
_CITY_MAX = max(len(k.split()) for k in CITY_INDEX)


def entities(text: str) -> list[tuple[str, str]]:
    """(kind, canonical) of continents, countries, places and languages named in ``text``."""
    return [v for _, _, v in _scan(normalize(text).split(), _ENTITY_INDEX, _ENTITY_MAX)]  # type: ignore[misc]


def mentioned_cities(text: str) -> list[str]:
    """Cities (canonical) whose name or alias appears in ``text`` as whole words. Country and place
    names that contain a city's name ("El Salvador", "Singapore" the country) are read as those."""
    tokens = normalize(text).split()
    # Entities first (longest match wins), then cities in what is left, so "el salvador" stays a country;
    # city names that are also countries or places (Singapore, Hong Kong) still count as cities.
    mask = [False] * len(tokens)
    for s, e, (kind, canon) in _scan(tokens, _ENTITY_INDEX, _ENTITY_MAX):  # type: ignore[misc]
        if normalize(canon) not in CITY_INDEX:
            for i in range(s, e):
                mask[i] = True
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if mask[i]:
            i += 1
            continue
        for n in range(min(_CITY_MAX, len(tokens) - i), 0, -1):
            if any(mask[i:i + n]):
                continue
            key = " ".join(tokens[i:i + n])
            if key in CITY_INDEX:
                out.append(CITY_INDEX[key])
                i += n
                break
        else:
            i += 1
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- guesses
_GUESS_PREFIXES = sorted({
    "", "is it", "is it in", "is it the city of", "is the city", "is your city", "is your home town", "is your hometown",
    "is your home", "is home", "are you from", "are you in", "do you live in", "do you come from", "you are from",
    "youre from", "you live in", "you come from", "my guess is", "my final guess is", "my next guess is", "i guess",
    "i guess its", "i guess it is", "i think its", "i think it is", "i think you are from", "i think youre from",
    "its", "it is", "it must be", "the city is", "the answer is", "your city is", "guess", "final guess",
    "is it called", "could it be", "might it be", "can it be", "would it be", "is that", "so its", "then its",
    "i bet its", "i bet it is", "i would guess", "id guess", "id say", "i say", "lets guess", "let me guess",
    "is the answer", "did you grow up in", "were you born in", "do you mean",
}, key=len, reverse=True)
_LEADING_FILLERS = ("ok", "okay", "so", "then", "well", "hmm", "alright", "right", "great", "thanks", "thank you",
                    "got it", "i see", "interesting", "yes", "no", "oh", "ah", "and")
_TRAILING_FILLERS = ("then", "right", "perhaps", "maybe", "please", "by any chance", "correct", "am i right",
                     "is it", "isnt it", "or not", "yes", "final answer", "again")


@functools.lru_cache(maxsize=100_000)
def parse_guess(text: str) -> str | None:
    """The canonical city if ``text`` is a guess of exactly one city, else ``None``.

    A guess names the city or one alias and nothing else, after a guessing phrase ("Is it Bombay?",
    "Is the city Mumbai?", "Are you from Saint Petersburg?", "My guess is Kyiv", "Tokyo?"); the city
    may be followed by its own country ("Is it Lima, Peru?"). "Is it Tokyo or Osaka?" is not a guess.
    Remembered per text (the env reads each utterance twice, the oracle once more; issue 19).
    """
    norm = normalize(text)
    changed = True
    while changed and norm:
        changed = False
        for f in _LEADING_FILLERS:
            if norm.startswith(f + " "):
                norm, changed = norm[len(f) + 1:], True
    for prefix in _GUESS_PREFIXES:
        if prefix and not norm.startswith(prefix + " "):
            continue
        rest = norm[len(prefix):].strip()
        city = _match_city_phrase(rest)
        if city is not None:
            return city
    return None


def _match_city_phrase(rest: str) -> str | None:
    changed = True
    while changed and rest:
        changed = False
        for f in _TRAILING_FILLERS:
            if rest.endswith(" " + f):
                rest, changed = rest[: -len(f) - 1], True
    for lead in ("the city of ", "the town of ", "the city ", "the "):
        if rest.startswith(lead) and rest not in CITY_INDEX:
            rest = rest[len(lead):]
            break
    if rest in CITY_INDEX:
        return CITY_INDEX[rest]
    if rest.endswith(" city") and rest[:-5] in CITY_INDEX:
        return CITY_INDEX[rest[:-5]]
    # "<city> <its country>", e.g. "lima peru"
    for key, city in CITY_INDEX.items():
        if rest.startswith(key + " "):
            tail = rest[len(key) + 1:]
            if tail.startswith("in "):
                tail = tail[3:]
            if any(normalize(w) == tail for w in _COUNTRY_WORDS.get(CITIES[city]["country"], [])):
                return city
    return None


# --------------------------------------------------------------------------- redaction
@functools.lru_cache(maxsize=None)
def _alias_regex(city: str) -> re.Pattern:
    parts = []
    for name in sorted(names_of(city), key=len, reverse=True):
        words = re.findall(r"[A-Za-z0-9]+", unicodedata.normalize("NFKD", name))
        if words:
            parts.append(r"[\W_]*".join(re.escape(w) for w in words))
    # Word edges in any script: with ASCII-only edges a Cyrillic or Greek look-alike letter ended a word, so the
    # 2-letter alias "BA" was cut out of the disguise "BAіRES" (Cyrillic і) and the guard could no longer read
    # "Baires" in what was left (a hypothesis draw of tests/test_leak_guard.py found it).
    return re.compile(r"(?<![^\W_])(?:" + "|".join(parts) + r")(?![^\W_])", re.IGNORECASE)


@functools.lru_cache(maxsize=65_536)
def redact(text: str, city: str) -> str:
    """``text`` with every occurrence of the city's name or aliases (whole words, any case,
    accents folded, any punctuation between words) replaced by ``[redacted]``. Remembered per (text, city): the
    env redacts every reply twice, and a city's replies repeat (issue 19)."""
    folded = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return _alias_regex(city).sub(REDACTED, folded)


def leaks(text: str, city: str) -> bool:
    """Whether ``text`` contains the city's name or an alias as whole words."""
    norm = f" {normalize(text)} "
    return any(f" {normalize(n)} " in norm for n in names_of(city))


# --------------------------------------------------------------------------- derived facts
POPULATION_TEXT = {
    ">10": "More than ten million people live within the city limits.",
    "5-10": "Between five and ten million people live within the city limits.",
    "1-5": "Between one and five million people live within the city limits.",
    "<1": "Fewer than a million people live within the city limits.",
}
_POP_RANGE = {">10": (10.0, float("inf")), "5-10": (5.0, 10.0), "1-5": (1.0, 5.0), "<1": (0.0, 1.0)}

# climate kind -> (description, hot, winter, snow, rain, humid, dry)
CLIMATES = {
    "tropical": ("It's hot and humid all year, with a rainy season.", "yes", "warm", "never",
                 "Yes, a lot, especially in the rainy season.", "yes", "no"),
    "tropical_highland": ("It's mild all year, like spring, because the city is high up.", "no", "mild", "never",
                          "It has rainy seasons and drier ones.", "no", "no"),
    "hot_desert": ("It's hot and dry; it hardly ever rains.", "yes", "mild", "never",
                   "No, it hardly ever rains.", "no", "yes"),
    "mild_desert": ("It's mild and very dry: it almost never rains, but the sky is often grey.", "no", "mild",
                    "never", "No, it almost never rains.", "no", "yes"),
    "hot_monsoon": ("It's hot most of the year, with a monsoon season and a short, mild winter.", "yes", "mild",
                    "never", "Mostly during the summer monsoon.", "monsoon", "no"),
    "north_plains": ("Summers are scorching, then the monsoon comes; winters are cool and foggy.", "yes", "cool",
                     "never", "Mostly during the summer monsoon.", "monsoon", "no"),
    "mediterranean": ("Summers are hot and dry, and winters are mild and a bit rainy.", "summer", "mild", "rare",
                      "Mostly in winter; summers are dry.", "no", "no"),
    "humid_subtropical": ("Summers are hot and humid, and winters are cool.", "summer", "cool", "rare",
                          "Yes, a fair amount, most of it in summer.", "summer", "no"),
    "subtropical_highland": ("It's mild because the city is high up: warm, rainy summers and cool, dry winters.",
                             "no", "cool", "never", "Mostly in summer; winters are dry.", "no", "no"),
    "oceanic": ("It's mild and often grey or rainy: warm summers and cool winters.", "no", "cool", "rare",
                "Yes, light rain is common all year.", "no", "no"),
    "continental": ("Summers are warm or hot, and winters are cold and snowy.", "summer", "cold", "yes",
                    "A moderate amount, most of it in summer.", "summer", "no"),
    "cold_continental": ("Summers are short and warm; winters are long and bitterly cold.", "no", "bitter", "yes",
                         "Not much, most of it in summer.", "no", "no"),
    "semi_arid_continental": ("It's fairly dry, with hot summers and cold winters that bring some snow.", "summer",
                              "cold", "yes", "Not much; it's fairly dry.", "no", "fairly"),
}
_HOT_TEXT = {"yes": "Yes, it's hot most of the year.", "summer": "It's hot in summer, but not all year.",
             "no": "No, it's not a hot place."}
_WINTER_TEXT = {"warm": "No, it's warm all year.", "mild": "No, winters are mild.",
                "cool": "Winters are cool, but it rarely freezes.", "cold": "Yes, winters are cold.",
                "bitter": "Yes, winters are bitterly cold."}
_SNOW_TEXT = {"never": "No, it practically never snows there.", "rare": "Snow is rare there.",
              "yes": "Yes, it snows in winter."}
_HUMID_TEXT = {"yes": "Yes, it's humid all year.", "summer": "Yes, in summer.", "monsoon": "During the monsoon, yes.",
               "no": "No, not really."}
_DRY_TEXT = {"yes": "Yes, it's very dry.", "fairly": "Fairly dry, yes.", "no": "No, it's not a dry place."}


def hemisphere_text(rec: dict) -> str:
    ns = "northern" if rec["lat"] >= 0 else "southern"
    if abs(rec["lon"]) < 0.5:
        return f"It's in the {ns} hemisphere, almost exactly on the prime meridian."
    ew = "eastern" if rec["lon"] > 0 else "western"
    return f"It's in the {ns} and {ew} hemispheres."


def _continent_phrase(rec: dict) -> str:
    return " and ".join(rec["continents"])


def _where_text(rec: dict) -> str:
    if rec["country"] == rec["name"]:
        return f"It's a city-state: the city is a whole country, in {rec['places'][0]}."
    return f"It's in {country_display(rec['country'])}, in {_continent_phrase(rec)}."


def _country_text(rec: dict) -> str:
    if rec["country"] == rec["name"]:
        return "It's a city-state: the city is a whole country of its own."
    if rec["country"] == "China" and "Hong Kong" == rec["name"]:
        return "It's in China, as a special administrative region."
    return f"It's in {country_display(rec['country'])}."


def _province_text(rec: dict) -> str:
    if rec["province"] is None:
        return "It isn't part of any province or state: it is a top-level region of its own."
    return f"It's in {rec['province']}."


def _water_text(rec: dict) -> str:
    w = rec["water"]
    return f"It has {w}." if w.startswith("no ") else f"It's on {w}."


def _list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _altitude_text(rec: dict) -> str:
    e = rec["elevation_m"]
    if e >= 700:
        return f"Yes, it's high up, about {int(round(e, -2))} meters above sea level."
    if e >= 200:
        return "Somewhat: it's a few hundred meters above sea level."
    return "No, it's low-lying, close to sea level."


# --------------------------------------------------------------------------- the oracle
_YESNO_START = {"is", "are", "does", "do", "did", "can", "could", "has", "have", "was", "were", "will", "would",
                "should", "isnt", "arent", "doesnt", "dont", "am", "may", "might", "shall", "its", "it"}


def _kw(tokens: set[str], norm: str, words: Iterable[str]) -> bool:
    """Whether the question names one of ``words``: a one-word entry as a token, a phrase as whole words."""
    single, phrases = _kw_parts(tuple(words))
    if not tokens.isdisjoint(single):
        return True
    padded = f" {norm} "
    return any(f" {w} " in padded for w in phrases)


@functools.lru_cache(maxsize=None)
def _kw_parts(words: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    """``words`` split once into its one-word entries (a set to intersect) and its phrases (issue 19: the answerer
    tests about 30 such lists per question)."""
    return frozenset(w for w in words if " " not in w), tuple(w for w in words if " " in w)


_NAME_WORDS = ("name", "names", "named", "called", "call it", "call your", "spell", "spelled", "spelling", "spelt",
               "letter", "letters", "backwards", "reverse", "reversed", "initial", "initials", "pronounce",
               "pronounced", "pronunciation", "rhyme", "rhymes", "anagram", "syllable", "syllables", "acronym",
               "abbreviation", "abbreviate", "nickname", "characters", "starts with", "start with", "begins with",
               "begin with", "ends with", "end with", "which city", "what city", "what town", "which town",
               "the city is", "say it", "write it", "type it", "repeat", "hint", "password", "secret", "answer")
_SPATIAL = ("near", "close", "border", "borders", "bordering", "next to", "north of", "south of", "east of",
            "west of", "far", "neighbor", "neighbour", "neighboring", "neighbouring", "adjacent", "distance", "km",
            "miles", "between")
_SUPERLATIVE = ("largest", "biggest", "smallest", "most", "least", "oldest", "newest", "second", "third",
                "richest", "poorest", "best", "worst", "highest", "lowest", "busiest", "tallest")


@functools.lru_cache(maxsize=200_000)
def answer(city: str, question: str) -> str:
    """The reply of a person from ``city`` to ``question`` (deterministic; never names the city)."""
    return redact(_raw_answer(CITIES[city], question), city)


def _raw_answer(rec: dict, question: str) -> str:
    norm = normalize(question)
    if not norm:
        return UNSURE_REPLY
    guess = parse_guess(question)
    if guess is not None:
        return CORRECT_GUESS_REPLY if guess == rec["name"] else WRONG_GUESS_REPLY
    if mentioned_cities(question):
        # Any other mention of a city ("Is it Tokyo or Osaka?", "Is it near Tokyo?") gets the same
        # reply whatever the secret is, so it can never confirm a name by echo or by implication.
        return ONE_CITY_REPLY
    tokens = set(norm.split())
    first = norm.split()[0]
    yesno = first in _YESNO_START
    ents = entities(question)

    # capital
    if "capital" in tokens or "capitals" in tokens:
        countries = [c for k, c in ents if k == "country"]
        if countries and rec["capital"] and rec["country"] in countries:
            return f"Yes, it's the capital of {country_display(rec['country'])}."
        if countries:
            return f"No, it's not the capital of {_list([country_display(c) for c in countries])}."
        return "Yes, it's the capital of its country." if rec["capital"] else "No, it's not the capital of its country."
    # language
    langs = [c for k, c in ents if k == "language"]
    if langs or _kw(tokens, norm, ("language", "languages", "speak", "spoken", "speaking", "speaks", "tongue")):
        if langs:
            hits = [l for l in langs if l in rec["languages"] or (l == "Chinese" and _CHINESE & set(rec["languages"]))]
            if hits:
                return f"Yes, people speak {_list(hits)} there."
            return f"No, people there mainly speak {rec['languages'][0]}."
        return f"People there speak {_list(rec['languages'])}."

    # continents, countries, places (yes/no or bare "Asia?")
    geo = [(k, c) for k, c in ents if k in ("continent", "country", "place")]
    if geo and (_kw(tokens, norm, _SUPERLATIVE) or _kw(tokens, norm, _SPATIAL)):
        return UNSURE_REPLY  # "the largest city in China", "near Japan": not in the fact table
    if geo and (yesno or len(norm.split()) <= 3 or question.strip().endswith("?")):
        return _geo_answer(rec, geo)

    # hemispheres, equator, tropics
    if _kw(tokens, norm, ("hemisphere", "hemispheres", "equator", "meridian", "tropics", "tropic", "latitude",
                          "longitude", "north", "south", "east", "west", "northern", "southern", "eastern",
                          "western", "in the tropics")):
        return _hemisphere_answer(rec, tokens, norm, yesno)

    # time zone (read the sign from the raw text: normalisation drops "+")
    if _kw(tokens, norm, ("time zone", "timezone", "utc", "gmt", "time difference", "what time", "timezones")):
        m = re.search(r"(?:utc|gmt)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?", question.lower())
        if yesno and m:
            asked = f"UTC{m.group(1)}{int(m.group(2))}" + (f":{m.group(3)}" if m.group(3) and m.group(3) != "00" else "")
            ok = asked == rec["utc_offset"] or (asked in ("UTC+0", "UTC-0") and rec["utc_offset"] == "UTC+0")
            return (f"Yes, its time zone is {rec['utc_offset']}." if ok
                    else f"No, its time zone is {rec['utc_offset']}.")
        return f"Its time zone is {rec['utc_offset']}."

    if _kw(tokens, norm, WATER_NAMES):
        return _water_text(rec)
    if _kw(tokens, norm, ("landlocked", "inland")):
        return {"sea": "No, it's on the coast.", "near": "Mostly: the center is inland, but the city limits reach the sea.",
                "lake": "It's on the shore of a big lake, far from the sea.", "inland": "Yes, it's inland."}[rec["coast"]]
    if _kw(tokens, norm, ("coast", "coastal", "sea", "seas", "ocean", "oceans", "beach", "beaches", "seaside",
                          "port", "harbor", "harbour", "shore", "waterfront", "bay", "seaport", "by the water")):
        return {"sea": "Yes, it's on the coast.",
                "near": "Not really: the center is inland, though the city limits reach the sea.",
                "lake": "It's on the shore of a big lake, not the sea.", "inland": "No, it's inland."}[rec["coast"]]
    if _kw(tokens, norm, ("river", "rivers", "lake", "lakes", "water", "waters", "body of water", "flows", "stream")):
        return _water_text(rec)
    if _kw(tokens, norm, ("altitude", "elevation", "high up", "mountain", "mountains", "mountainous", "elevated",
                          "above sea level", "highlands", "plateau", "hills", "hilly", "high altitude")):
        return _altitude_text(rec)

    # population
    if _kw(tokens, norm, ("population", "populous", "people live", "how many people", "big", "bigger", "large",
                          "larger", "small", "smaller", "huge", "million", "millions", "size", "inhabitants",
                          "megacity", "crowded", "residents", "populated", "metropolis", "tiny")):
        return _population_answer(rec, tokens, norm, yesno)

    # weather
    climate = CLIMATES[rec["climate"]]
    desc, hot, winter, snow, rain, humid, dry = climate
    if _kw(tokens, norm, ("weather", "climate", "hot", "cold", "warm", "cool", "snow", "snows", "snowy", "snowing",
                          "rain", "rainy", "rains", "raining", "wet", "humid", "humidity", "dry", "desert", "tropical",
                          "temperature", "temperatures", "winter", "winters", "summer", "summers", "mild", "freezing",
                          "sunny", "monsoon", "seasons", "chilly", "heat", "temperate", "pleasant", "degrees", "frost")):
        if not yesno:
            return desc
        if _kw(tokens, norm, ("snow", "snows", "snowy", "snowing")):
            return _SNOW_TEXT[snow]
        if _kw(tokens, norm, ("cold", "freezing", "chilly", "frost", "winter", "winters", "cool")):
            return _WINTER_TEXT[winter]
        if _kw(tokens, norm, ("hot", "warm", "heat", "summer", "summers", "sunny")):
            return _HOT_TEXT[hot]
        if _kw(tokens, norm, ("humid", "humidity")):
            return _HUMID_TEXT[humid]
        if _kw(tokens, norm, ("rain", "rainy", "rains", "raining", "wet", "monsoon")):
            return rain
        if _kw(tokens, norm, ("dry", "desert")):
            return _DRY_TEXT[dry]
        if "tropical" in tokens:
            if rec["climate"] == "tropical":
                return "Yes, it has a tropical climate."
            if rec["climate"] == "tropical_highland":
                return "It's in the tropics, but the climate is mild because the city is high up."
            return "No, its climate isn't tropical."
        return desc

    if _kw(tokens, norm, ("food", "foods", "dish", "dishes", "eat", "eating", "cuisine", "drink", "drinks",
                          "specialty", "specialties", "delicacy", "snack", "snacks")):
        return f"It's known for food like {_list(rec['foods'])}."
    if _kw(tokens, norm, ("famous", "known", "landmark", "landmarks", "sights", "sight", "tourist", "tourists",
                          "attractions", "attraction", "visit", "monument", "monuments", "building", "buildings",
                          "sightseeing", "interesting", "special", "culture", "history", "historic", "like")):
        return f"It's famous for {_list(rec['famous_for'])}."

    if _kw(tokens, norm, ("continent", "continents")):
        return f"It's in {_continent_phrase(rec)}."
    if _kw(tokens, norm, ("country", "countries", "nation", "nationality")):
        return _country_text(rec)
    if _kw(tokens, norm, ("state", "province", "provinces", "region", "prefecture", "governorate", "county",
                          "states", "regions")):
        return _province_text(rec)
    if first in ("where", "wheres") or "located" in tokens or "location" in tokens:
        return _where_text(rec)
    if _kw(tokens, norm, _NAME_WORDS):
        return NAME_REPLY
    return UNSURE_REPLY


def _geo_answer(rec: dict, geo: list[tuple[str, str]]) -> str:
    for kind, canon in geo:
        if _geo_holds(rec, kind, canon):
            return "Yes, " + _geo_yes(rec, kind, canon)
    # Istanbul-style partial membership is covered by _geo_holds; here nothing matched.
    kind, canon = geo[0]
    if len(geo) > 1:
        return "No, it's in none of those."
    if kind == "continent" and canon == "America":
        return "No, it's not in the Americas."
    if kind == "country" and rec["country"] == "Taiwan" and canon == "China":
        return "No, it's in Taiwan."
    shown = country_display(canon) if kind == "country" else canon
    if leaks(shown, rec["name"]):  # "El Salvador" asked of Salvador: don't repeat a word of its name
        return "No, it's not in that country." if kind == "country" else "No, it's not there."
    return f"No, it's not {_prep(canon)} {shown}."


def _prep(place: str) -> str:
    return "on" if place.endswith("Coast") and place.startswith("the ") else "in"


def _geo_holds(rec: dict, kind: str, canon: str) -> bool:
    if canon == "Korea":
        return rec["country"] in ("South Korea", "North Korea")
    if kind == "continent":
        if canon == "America":
            return any(c in ("North America", "South America") for c in rec["continents"])
        return canon in rec["continents"]
    if kind == "country":
        return canon == rec["country"]
    return canon in rec["places"]


def _geo_yes(rec: dict, kind: str, canon: str) -> str:
    if kind == "continent":
        if canon == "America":
            if rec["country"] == "United States":
                return "it's in the United States."
            return f"it's in {rec['continents'][0]}, though not in the United States."
        if len(rec["continents"]) > 1:
            return f"partly: the city spans {_list(rec['continents'])}."
        return f"it's in {canon}."
    if kind == "country":
        if rec["name"] == "Hong Kong":
            return "it's in China, as a special administrative region."
        return f"it's in {country_display(canon)}."
    if canon == "Korea":
        return f"it's in {rec['country']}."
    return f"it's {_prep(canon)} {canon}."


def _hemisphere_answer(rec: dict, tokens: set[str], norm: str, yesno: bool) -> str:
    lat, lon = rec["lat"], rec["lon"]
    if _kw(tokens, norm, ("tropics", "tropic", "in the tropics")):
        if abs(abs(lat) - 23.44) < 0.5:
            return "It's right on the edge of the tropics."
        return "Yes, it's in the tropics." if abs(lat) < 23.44 else "No, it's outside the tropics."
    if "equator" in tokens and not _kw(tokens, norm, ("north", "south", "northern", "southern", "above", "below")):
        if abs(lat) < 10:
            return "Yes, it's fairly close to the equator."
        return "No, it's far from the equator." if abs(lat) > 30 else "Not very: it's a good way from the equator."
    if not yesno:
        return hemisphere_text(rec)
    asks_n = _kw(tokens, norm, ("north", "northern", "above"))
    asks_s = _kw(tokens, norm, ("south", "southern", "below"))
    asks_e = _kw(tokens, norm, ("east", "eastern"))
    asks_w = _kw(tokens, norm, ("west", "western"))
    if (asks_n or asks_s) and not (asks_e or asks_w):
        north = lat >= 0
        if asks_n and not asks_s:
            return "Yes, it's in the northern hemisphere." if north else "No, it's in the southern hemisphere."
        if asks_s and not asks_n:
            return "Yes, it's in the southern hemisphere." if not north else "No, it's in the northern hemisphere."
    if (asks_e or asks_w) and not (asks_n or asks_s):
        if abs(lon) < 0.5:
            return "It sits almost exactly on the prime meridian."
        east = lon > 0
        if asks_e and not asks_w:
            return "Yes, it's in the eastern hemisphere." if east else "No, it's in the western hemisphere."
        if asks_w and not asks_e:
            return "Yes, it's in the western hemisphere." if not east else "No, it's in the eastern hemisphere."
    return hemisphere_text(rec)


#: Rivers, seas and lakes people ask about by name ("Is it on the Nile?"): the reply names the city's own.
WATER_NAMES = tuple(normalize(w) for w in (
    "Nile", "Danube", "Thames", "Seine", "Ganges", "Tigris", "Euphrates", "Yangtze", "Yellow River", "Mekong",
    "Amazon", "Volga", "Rhine", "Hudson", "Dnieper", "Neva", "Tiber", "Bosphorus", "Spree", "Yamuna", "Mississippi",
    "Pacific", "Atlantic", "Mediterranean", "Indian Ocean", "Arabian Sea", "Bay of Bengal", "Black Sea", "Red Sea",
    "Caspian", "Baltic", "Java Sea", "South China Sea", "East China Sea", "Yellow Sea", "Aegean", "Pearl River",
    "Han River", "Chao Phraya", "Hooghly", "Ravi", "Sabarmati", "Congo River", "Lake Michigan", "Lake Ontario",
    "Great Lakes", "Gulf of Mexico", "Caribbean Sea", "River Plate", "Rio de la Plata", "Persian Gulf"))

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "fifteen": 15, "twenty": 20, "a": 1}


def _population_answer(rec: dict, tokens: set[str], norm: str, yesno: bool) -> str:
    band = rec["population"]
    text = POPULATION_TEXT[band]
    if not yesno:
        return text
    lo, hi = _POP_RANGE[band]
    m = re.search(r"\b(more|over|above|less|fewer|under|below)\s+than\s+(\w+)\s+million|"
                  r"\b(over|above|under|below)\s+(\w+)\s+million", norm)
    if m:
        word = m.group(1) or m.group(3)
        num = m.group(2) or m.group(4)
        n = float(num) if num.isdigit() else _NUMBER_WORDS.get(num)
        if n is not None:
            more = word in ("more", "over", "above")
            if (lo >= n) if more else (hi <= n):
                return "Yes. " + text
            if (hi <= n) if more else (lo >= n):
                return "No. " + text
            return text
    if _kw(tokens, norm, ("small", "smaller", "tiny", "village", "town")):
        return ("Yes. " if band == "<1" else "No. ") + text
    if _kw(tokens, norm, ("huge", "megacity", "metropolis")):
        return ("Yes. " if band == ">10" else "No. " if band in ("1-5", "<1") else "") + text
    if _kw(tokens, norm, ("big", "bigger", "large", "larger", "populous", "crowded", "populated")):
        return ("Yes. " if band != "<1" else "Not really. ") + text
    return text
