"""Rebuild ``solutions.txt`` and ``guesses.txt`` from SCOWL word lists (not imported at run time).

    apt-get download wamerican-small wamerican-large && for f in wamerican*.deb; do dpkg -x $f x; done
    python tasks/wordle/build_words.py x/usr/share/dict/american-english-small x/usr/share/dict/american-english-large

SCOWL (Kevin Atkinson, permissive licence quoted in README.md) ranks English words by commonness. Debian's
``wamerican-small`` holds SCOWL sizes up to 35 (common words), ``wamerican-large`` up to 70.

- guesses: every all-lowercase five-letter a-z word of the large list (no proper nouns, no apostrophes),
  minus Roman numerals, plus the solutions.
- solutions: the five-letter words of the small list that are not a plural or third person ("books": "book"
  is a word) or a past tense ("baked": "bake" is a word), minus Roman numerals: common base words, the kind
  of word Wordle hides; less :data:`EXCLUDED_SOLUTIONS`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Kept out of the hidden words (still allowed as guesses): slurs and sexual terms a benchmark need not hide.
EXCLUDED_SOLUTIONS = frozenset({"bitch", "horny", "penis", "pussy", "queer", "semen", "whore"})
_ROMAN = re.compile(r"m{0,4}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})")


def _words(path: str) -> set[str]:
    return {w for w in Path(path).read_text(encoding="utf-8", errors="ignore").split()
            if w.isascii() and w.isalpha() and w.islower()}


def _inflected(word: str, lexicon: set[str]) -> bool:
    if word.endswith("s") and not word.endswith("ss") and (word[:-1] in lexicon or
                                                            (word.endswith("es") and word[:-2] in lexicon)):
        return True
    return word.endswith("ed") and (word[:-1] in lexicon or word[:-2] in lexicon)


def build(small_path: str, large_path: str) -> tuple[list[str], list[str]]:
    small, large = _words(small_path), _words(large_path)
    five = lambda ws: {w for w in ws if len(w) == 5 and not _ROMAN.fullmatch(w)}  # noqa: E731
    solutions = sorted(w for w in five(small) if not _inflected(w, large) and w not in EXCLUDED_SOLUTIONS)
    guesses = sorted(five(large) | set(solutions))
    return solutions, guesses


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    solutions, guesses = build(*argv)
    (HERE / "solutions.txt").write_text("\n".join(solutions) + "\n")
    (HERE / "guesses.txt").write_text("\n".join(guesses) + "\n")
    print(f"{len(solutions)} solutions, {len(guesses)} allowed guesses")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
