"""Keep secrets (API keys, tokens, passwords) out of logged configs, run records and Hydra's own files.

A value counts as secret when the last part of its key name contains a marker (``key``, ``token``, ``secret``,
``password``, ``passwd``, ``pwd``, ``credential``, ``auth``; any case). A few everyday names that merely contain a
marker (``tokenizer``, ``author``, ``keywords``, ...) stay readable, since the recipe needs them back.
"""

from __future__ import annotations

import re
from typing import Any

SECRET_MARKERS = ("key", "token", "secret", "password", "passwd", "pwd", "credential", "auth")
REDACTED = "<redacted>"

# words that contain a marker but name no secret (bm25 / evaluator `tokenizer`, `author`, `keywords`, token counts,
# Hydra's `override_dirname.exclude_keys`)
# (whole words only: `author` must not hide `authorization`, nor `n_tokens` hide `session_tokens`)
_NOT_SECRET = re.compile(
    r"(?<![a-z0-9])(?:tokeniz(?:ers?|ation|ed?)|authors?|authored|keywords?|(?:max|num|n|special)_tokens"
    r"|exclude_keys)(?![a-z0-9])"
)
# an unresolved `${oc.env:NAME}` holds the variable's name, not its value: keep it so that reruns work
_ENV_REFERENCE = re.compile(r"\$\{oc\.env:[A-Za-z_]\w*\}")
# `name: value` or `name=value` inside an override value or a joined override string (Hydra's override_dirname)
_NESTED_NAME = re.compile(r"(?P<name>[+~]*[A-Za-z_$][\w$.\-]*)[ \t]*(?P<sep>[:=])[ \t]*")
# after a comma: the next `name: ` / `name=` pair begins (otherwise the comma belongs to the value, a sweep `a,b`)
_NEXT_PAIR = re.compile(r"[ \t]*[+~]*[A-Za-z_$][\w$.\-]*[ \t]*[:=]")


def is_secret_name(name: str) -> bool:
    """Whether a key (its last dotted part, override prefixes ``+``/``~`` ignored) names a secret."""
    last = _NOT_SECRET.sub("", str(name).rsplit(".", 1)[-1].lower())
    return any(marker in last for marker in SECRET_MARKERS)


def redact(obj: Any) -> Any:
    """A copy of a nested dict/list with the values of secret-looking keys replaced.

    Empty values and ``${oc.env:NAME}`` references stay: neither holds a secret, and both are needed to rerun.
    """
    if isinstance(obj, dict):
        return {k: _redact_value(v) if is_secret_name(str(k)) else redact(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def _redact_value(value: Any) -> Any:
    if value is None or (isinstance(value, (str, list, dict)) and not value):
        return value
    if isinstance(value, str) and _ENV_REFERENCE.fullmatch(value):
        return value
    return REDACTED


def redact_argv(argv: list[str]) -> list[str]:
    """Command-line overrides with secret values replaced: ``a.api_key=v`` (the whole value, sweeps included) and
    secret keys nested in dict/list values, ``+foo={api_key: v, name: x}`` or ``+a.b=[{token: t}]``."""
    out = []
    for arg in argv:
        name, sep, value = arg.partition("=")
        if sep and is_secret_name(name):
            out.append(f"{name}={_redact_value(value)}")
        else:
            out.append(redact_text(arg))
    return out


def redact_text(text: str) -> str:
    """``text`` with the value after every secret ``name: value`` / ``name=value`` replaced.

    A value is a quoted string, a bracketed ``{...}`` / ``[...]`` group, or everything up to the next ``}``, ``]``
    or ``,`` that starts another pair (so a sweep's ``a,b`` goes whole). Used for override strings and for Hydra's
    comma-joined ``override_dirname``.
    """
    pieces, pos = [], 0
    for match in _NESTED_NAME.finditer(text):
        if match.start() < pos or not is_secret_name(match.group("name")):
            continue
        start = match.end()
        end = _value_end(text, start)
        if end == start:
            continue
        pieces += [text[pos:start], REDACTED]
        pos = end
    return "".join(pieces) + text[pos:]


def _value_end(text: str, start: int) -> int:
    """Where the value starting at ``start`` ends (quotes and brackets balanced, escapes honoured)."""
    if start < len(text) and text[start] in "'\"":
        quote, i = text[start], start + 1
        while i < len(text) and text[i] != quote:
            i += 2 if text[i] == "\\" else 1
        return min(i + 1, len(text))
    depth, i = 0, start
    while i < len(text):
        ch = text[i]
        if ch in "'\"" and depth:
            i = _value_end(text, i)
            continue
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            if depth == 0:
                break
            depth -= 1
        elif ch == "," and depth == 0 and _NEXT_PAIR.match(text, i + 1):
            break
        i += 1
    end = i
    while end > start and text[end - 1] in " \t":
        end -= 1
    return end


# -- by value: what the key-name rules cannot see (Hydra's error lines, tracebacks, a library's message) ------------

MIN_SECRET_LENGTH = 6  # shorter values are redacted by key name only: scrubbing "true" everywhere would garble text
_NOT_SECRET_ENV = frozenset({"PWD", "OLDPWD"})  # "pwd" names the working dir here, not a password


def secret_values(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> frozenset[str]:
    """The literal secret values this process was given: the values of secret-named overrides on the command line
    (plain, swept ``a,b``, nested ``{token: t}``) and of secret-named environment variables (``HF_TOKEN``,
    ``WANDB_API_KEY``, ...; a value that is an existing path is a location, not a secret)."""
    import os
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    environ = dict(os.environ if environ is None else environ)
    found: set[str] = set()
    for arg in argv:
        name, sep, value = arg.partition("=")
        if sep and is_secret_name(name):
            found |= _value_forms(value)
        for match in _NESTED_NAME.finditer(arg):
            if is_secret_name(match.group("name")):
                found |= _value_forms(arg[match.end() : _value_end(arg, match.end())])
    for name, value in environ.items():
        if name not in _NOT_SECRET_ENV and is_secret_name(name) and not os.path.exists(value):
            found |= _value_forms(value)
    return frozenset(v for v in found if len(v) >= MIN_SECRET_LENGTH and v != REDACTED and not _ENV_REFERENCE.search(v))


def _value_forms(value: str) -> set[str]:
    """A value as typed, unquoted, each part of a sweep (``a,b``), and each as JSON and ``repr`` escape it (a
    non-ASCII letter, a quote or a backslash is written escaped in every JSON record)."""
    import json

    value = value.strip()
    forms = {value, value.strip("'\"")}
    forms |= {part.strip().strip("'\"") for part in value.split(",")}
    return forms | {json.dumps(f)[1:-1] for f in forms} | {repr(f)[1:-1] for f in forms}


_KNOWN: frozenset[str] | None = None


def known_secrets() -> frozenset[str]:
    """``secret_values()`` of this process, computed once (the command line and environment it started with)."""
    global _KNOWN
    if _KNOWN is None:
        _KNOWN = secret_values()
    return _KNOWN


def add_secrets(argv: list[str]) -> None:
    """Also scrub the secret values of these overrides: a launcher's worker process (joblib, submitit) runs a job
    whose overrides are not on its own command line."""
    global _KNOWN
    _KNOWN = known_secrets() | secret_values(argv)


def scrub(text: str, values: frozenset[str] | None = None) -> str:
    """``text`` with every known secret value replaced by ``<redacted>`` (longest first: one value may hold another)."""
    for value in sorted(known_secrets() if values is None else values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return text
