"""Atomic writes: readers of a run dir never see half a file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from embtune.run.redact import scrub


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temp file in the same dir, then rename: readers never see half a file.

    mkstemp creates the temp file 0600; it gets the mode a plain ``open`` would give (0666 less the umask)
    before the rename, so teammates on a shared cluster can read run records and reuse caches.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)  # reading the umask means setting it: put it straight back
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """UTF-8 text, written atomically; secret values this process was given (``redact.scrub``) never reach it."""
    write_bytes_atomic(path, scrub(text).encode("utf-8"))


def write_json_atomic(path: Path, obj: Any) -> None:
    """JSON (indented), written atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")
