"""Keep secrets (API keys, tokens, passwords) out of logged configs and run records."""

from __future__ import annotations

from typing import Any

SECRET_MARKERS = ("key", "token", "secret", "password")
REDACTED = "<redacted>"


def is_secret_name(name: str) -> bool:
    return any(marker in name.lower() for marker in SECRET_MARKERS)


def redact(obj: Any) -> Any:
    """A copy of a nested dict/list with the values of secret-looking keys replaced."""
    if isinstance(obj, dict):
        return {k: REDACTED if is_secret_name(str(k)) else redact(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def redact_argv(argv: list[str]) -> list[str]:
    """Command-line overrides with secret-looking ``key=value`` values replaced."""
    out = []
    for arg in argv:
        name, sep, _ = arg.partition("=")
        out.append(f"{name}={REDACTED}" if sep and is_secret_name(name.rsplit(".", 1)[-1]) else arg)
    return out
