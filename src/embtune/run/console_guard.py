"""Every console line of an embtune command passes through ``redact.scrub``: Hydra's own error lines
(``Error executing job with overrides: [...]``, a compose error quoting the override), a library's traceback,
tqdm, warnings. The key-name rules (``redact.redact``) keep secrets out of records; this catches the rest by value.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

from embtune.run.redact import known_secrets, scrub

T = TypeVar("T")


class ScrubbedStream:
    """A text stream that writes through ``scrub``; everything else (fileno, isatty, encoding) is the stream's own."""

    def __init__(self, stream: TextIO) -> None:
        object.__setattr__(self, "_stream", stream)

    def write(self, text: str) -> int:
        self._stream.write(scrub(text) if isinstance(text, str) else text)
        return len(text)

    def __setattr__(self, name: str, value: Any) -> None:
        """A library that patches ``write`` to see the console (W&B's console capture, which uploads what it sees)
        gets the scrubbed text: its writer is called with it."""
        if name == "write" and callable(value):

            def write(text: str, _patched: Any = value) -> int:
                return _patched(scrub(text) if isinstance(text, str) else text)

            object.__setattr__(self, name, write)
        else:
            object.__setattr__(self, name, value)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class ScrubSecrets(logging.Filter):
    """A log-handler filter (conf/hydra/default.yaml, console and file): the record's message and traceback with
    secret values replaced, so the run dir's log file holds none either."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not known_secrets():
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = scrub(message), None
        if record.exc_text:
            record.exc_text, record.exc_info = scrub(record.exc_text), None
        return True


def guard_console() -> None:
    """Scrub stdout and stderr of this process (once; a no-op when no secret was given). Log handlers made before
    (transformers' own, bound to the stream at its import) are pointed at the scrubbed streams too."""
    if not known_secrets():
        return
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or isinstance(stream, ScrubbedStream):
            continue
        guarded_stream = ScrubbedStream(stream)
        setattr(sys, name, guarded_stream)
        loggers = [logging.getLogger(), *(v for v in logging.Logger.manager.loggerDict.values())]
        for logger in loggers:
            for handler in getattr(logger, "handlers", []):
                if isinstance(handler, logging.StreamHandler) and handler.stream is stream:
                    handler.setStream(guarded_stream)  # type: ignore[arg-type]


def guarded(main: Callable[[], T]) -> Callable[[], T]:
    """An entrypoint whose console is scrubbed before Hydra parses a single override."""

    def run() -> T:
        guard_console()
        return main()

    return run
