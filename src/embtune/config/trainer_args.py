"""Every field of SentenceTransformerTrainingArguments is overridable as ``trainer.args.<field>=value``, as typed:
the config lists only the fields a recipe sets, so Hydra would refuse the rest ("not in struct") unless the user
guessed a ``+``. Before Hydra reads the command line, such overrides become ``++`` ones when the field exists, and a
misspelt field stops with one line naming the closest real ones."""

from __future__ import annotations

import dataclasses
import difflib
import re
import sys
from collections.abc import Callable
from functools import cache
from typing import Any

from embtune.errors import EmbtuneError

OVERRIDE = re.compile(r"^(?P<prefix>\+{0,2})trainer\.args\.(?P<field>[A-Za-z_]\w*)=")


@cache
def fields() -> frozenset[str]:
    """The fields SentenceTransformerTrainingArguments takes."""
    from sentence_transformers import SentenceTransformerTrainingArguments

    return frozenset(f.name for f in dataclasses.fields(SentenceTransformerTrainingArguments) if f.init)


def open_trainer_args(argv: list[str]) -> list[str]:
    """``argv`` with each ``trainer.args.<field>=…`` as ``++trainer.args.<field>=…``; an unknown field is an error."""
    out = []
    for arg in argv:
        match = OVERRIDE.match(arg)
        if not match:
            out.append(arg)
            continue
        field = match["field"]
        if field not in fields():
            close = difflib.get_close_matches(field, sorted(fields()), n=3, cutoff=0.6)
            hint = f" Closest: {', '.join(close)}." if close else ""
            fix = f"trainer.args.{close[0]}=..." if close else "a field of SentenceTransformerTrainingArguments"
            raise EmbtuneError(
                f"trainer.args.{field} is not a SentenceTransformerTrainingArguments field.{hint} Fix: {fix}"
            )
        out.append("++" + arg[len(match["prefix"]) :])
    return out


def with_trainer_args(main: Callable[[], Any]) -> None:
    """Run a Hydra ``main`` on the command line as opened by ``open_trainer_args`` (an unknown field: one line)."""
    try:
        sys.argv[1:] = open_trainer_args(sys.argv[1:])
    except EmbtuneError as e:
        raise SystemExit(f"error: {e}") from None
    main()
