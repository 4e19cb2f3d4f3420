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


# ------------------------------------------------------------------------------- options from a config dataclass
def field_docs(cls) -> dict[str, str]:
    """Each field's description from a dataclass's docstring, written as lines ``name: text`` or ``a / b: text``
    (continuation lines indented deeper), as ``agents.models.ModelConfig`` documents its fields."""
    import inspect
    import re

    docs: dict[str, str] = {}
    names: list[str] = []
    for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
        m = re.match(r"^([a-z_][a-z0-9_]*(?: / [a-z_][a-z0-9_]*)*): (.*)$", line)
        if m:
            names = m.group(1).split(" / ")
            for n in names:
                docs[n] = m.group(2).strip()
        elif names and line.startswith(" ") and line.strip():
            for n in names:
                docs[n] += " " + line.strip()
        else:
            names = []
    return docs


def _option_type(default):
    if isinstance(default, bool):
        return None  # a flag pair, --x / --no-x
    if isinstance(default, (int, float, str)):
        return type(default)
    return str


def add_config_options(parser: argparse.ArgumentParser, cls, *, prefix: str = "", skip=(), options=None) -> None:
    """One ``--<prefix><field-name>`` option per field of the dataclass ``cls`` (fields whose default is a dataclass,
    a dict or a list, and those in ``skip``, left out): its default the field's, its type from the default (a
    bool is a ``--x`` / ``--no-x`` pair), its help from ``cls``'s docstring (:func:`field_docs`). ``options[name]``
    overrides any ``add_argument`` keyword (``type``, ``choices``, ``help``, ``metavar``) and may add ``convert``,
    applied to the parsed value by :func:`config_from_options`. A new field of ``cls`` is an option with no edit
    here; :func:`config_from_options` builds ``cls`` back from the parsed namespace."""
    import dataclasses

    options = options or {}
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if dataclasses.is_dataclass(default) or isinstance(default, (dict, list)):
            continue
        kw = {k: v for k, v in options.get(f.name, {}).items() if k != "convert"}
        kw.setdefault("default", default)
        kw.setdefault("help", docs.get(f.name, f"{cls.__name__}.{f.name}"))
        if "type" not in kw and "action" not in kw:
            if _option_type(default) is None:
                kw["action"] = argparse.BooleanOptionalAction
            else:
                kw["type"] = _option_type(default)
        parser.add_argument(f"--{prefix}{f.name.replace('_', '-')}", dest=f"{prefix.replace('-', '_')}{f.name}", **kw)


def config_from_options(cls, ns: argparse.Namespace, *, prefix: str = "", options=None, **given):
    """``cls`` built from the options :func:`add_config_options` added (same ``prefix`` and ``options``), with
    ``given`` fields (the ones it left out) passed as they are."""
    import dataclasses

    options = options or {}
    kwargs = dict(given)
    for f in dataclasses.fields(cls):
        dest = f"{prefix.replace('-', '_')}{f.name}"
        if f.name in given or not hasattr(ns, dest):
            continue
        value = getattr(ns, dest)
        convert = options.get(f.name, {}).get("convert")
        kwargs[f.name] = convert(value) if convert else value
    return cls(**kwargs)


def parse_key_values(items: list[str], flag: str) -> dict[str, str]:
    """``["a=1", "b.c=x"]`` -> ``{"a": "1", "b.c": "x"}``: the repeatable ``KEY=VALUE`` flags (``--algo-arg``,
    ``--model-arg``); a malformed item is a ``ValueError`` naming ``flag``."""
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            raise ValueError(f"{flag} {item!r}: expected KEY=VALUE")
        out[k.strip()] = v.strip()
    return out
