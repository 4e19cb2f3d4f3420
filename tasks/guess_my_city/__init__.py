"""Guess My City on LMRL-Gym's 100 cities: ``archer/GuessMyCity-v0``.

Data: ``cities.json`` (one fact record per city: aliases, country, continents, regions, coordinates,
coast, river or sea, capital, population band, languages, climate, elevation, time zone, province,
landmarks, foods). ``questions.py`` is the knowledge-base oracle, the guess parser and the alias
redactor, ``env.py`` the env, ``policies.py`` the scripted expert / noisy / random askers.
"""

from tasks.guess_my_city.env import GuessMyCityEnv
from tasks.guess_my_city.policies import POLICIES, make_policy
from tasks.guess_my_city.questions import CITIES, CITY_NAMES, answer, parse_guess, redact

__all__ = ["GuessMyCityEnv", "POLICIES", "make_policy", "CITIES", "CITY_NAMES", "answer", "parse_guess", "redact"]
