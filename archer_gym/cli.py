"""One error convention for every command line of the project (issue 15, item 5).

A bad input ends in ONE line on stderr, ``<prog>: error: <what is wrong> (see --help)``, and exit status 2,
argparse's convention for usage errors; never a traceback, never argparse's multi-line usage block.
"""

from __future__ import annotations

import argparse


def one_line(err: BaseException | str) -> str:
    """The first line of an error's message (library errors such as Hugging Face's run to many lines)."""
    text = str(err).strip()
    first = text.splitlines()[0].strip() if text else ""
    return first or type(err).__name__


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors (its own, and ``parser.error(...)`` from validation after parsing)
    print one line and exit with status 2. Sub-parsers inherit it."""

    def error(self, message) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(one_line(message).split())} (see --help)\n")


def positive_int(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return n


def nonnegative_int(value: str) -> int:
    n = int(value)
    if n < 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return n


def positive_float(value: str) -> float:
    x = float(value)
    if not x > 0 or x != x or x == float("inf"):
        raise argparse.ArgumentTypeError(f"{value} must be a finite number > 0")
    return x
