"""What a config-built builder needs beyond its split (``negatives``) or honours (``as_written``): declared on the
function with ``@needs``, asked with ``declares`` — so the pipeline asks the object, never its name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def needs(*what: str) -> Callable[[F], F]:
    """Mark a builder with what it needs."""

    def mark(builder: F) -> F:
        builder.needs = frozenset(what)  # type: ignore[attr-defined]
        return builder

    return mark


def declares(builder: Callable[..., Any], what: str) -> bool:
    """Whether ``builder`` (or the function behind a ``functools.partial``, as Hydra's ``_partial_`` makes) declared
    ``what``."""
    return what in getattr(getattr(builder, "func", builder), "needs", ())
