"""The failure protocol of a run dir: one line on stderr, FAILED with it, signals turned into a resumable stop."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hydra.errors import CompactHydraException

from embtune.errors import EmbtuneError, user_error
from embtune.run.redact import redact_argv, scrub

T = TypeVar("T")


def make_command(target: str, run_dir: Path) -> str:
    """``make <target> RUN=<run dir>``, the dir quoted for the shell so the line can be pasted as it is."""
    import shlex

    return f"make {target} RUN={shlex.quote(str(run_dir))}"


class Interrupted(SystemExit):
    """A run stopped from outside (Ctrl-C, a scheduler's SIGTERM): FAILED says so and how to resume."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(code)
        self.message = message

    def __str__(self) -> str:
        return self.message


def one_line(error: BaseException) -> str:
    """``Type: first line`` of the error a user should read: the innermost cause of a wrapper (Hydra's
    InstantiationException) rather than the wrapper."""
    seen: BaseException = error
    while type(seen).__name__ == "InstantiationException" and (seen.__cause__ or seen.__context__):
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    text = str(seen).strip()
    return f"{type(seen).__name__}: {text.splitlines()[0][:500] if text else ''}"


def write_failed(run_dir: Path, error: BaseException) -> None:
    """Leave a FAILED marker holding the one-line error (best effort: an unwritable dir must not hide the error).
    Never beside metrics.json: a run dir says finished or failed, not both (a failure after the record was written,
    e.g. while pruning checkpoints, leaves a finished run and the error on the console)."""
    if (run_dir / "metrics.json").is_file():
        return
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "FAILED").write_text(scrub(one_line(error)) + "\n", encoding="utf-8")
    except OSError:
        pass


def run_or_fail(
    run_dir: Path, job: Callable[[], T], on_failure: Callable[[], None] | None = None, resumable: bool | str = False
) -> T:
    """Run a job; on any failure leave FAILED with the one-line error. A user-fixable error (EmbtuneError,
    also when Hydra's instantiate wrapped it) ends the run with that line and exit code 1, no traceback; in a
    sweep the job is marked failed with the same line and the others go on. Ctrl-C / SIGTERM end it with a
    resume hint."""
    try:
        return job()
    except BaseException as e:
        error = user_error(e) or e
        if isinstance(error, KeyboardInterrupt):
            hint = (
                AGAIN
                if resumable == "again"
                else f"resume with: {make_command('resume', run_dir)}"
                if resumable
                else "run it again"
            )
            error = Interrupted(f"interrupted (Ctrl-C); {hint}", 130)
        write_failed(run_dir, error)
        if on_failure is not None:
            on_failure()
        if isinstance(error, Interrupted):
            print(f"error: {error}", file=sys.stderr, flush=True)
            raise error from None
        if isinstance(error, EmbtuneError):
            if sweep_group() is None:
                raise SystemExit(f"error: {error}") from None
            print(f"error: {error}", file=sys.stderr, flush=True)  # each failed job's line, as it fails
            raise JobFailed(f"error: {error}") from None
        raise


class JobFailed(CompactHydraException):
    """A sweep job's one-line failure: Hydra records it as the job's result, runs the remaining jobs, and at the
    end prints it as one line (a compact Hydra exception, no traceback) after the job's overrides."""


def sweep_group() -> str | None:
    """The multirun sweep this job belongs to (its sweep dir name), or None for a single run.

    In a sweep, a failed job raises (Hydra records it and runs the remaining jobs) instead of exiting.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    return Path(hydra_cfg.sweep.dir).name if hydra_cfg.mode == RunMode.MULTIRUN else None


def job_overrides() -> list[str] | None:
    """This job's own command-line overrides (a sweep job's values resolved), secrets redacted; None outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return redact_argv(list(HydraConfig.get().overrides.task))


AGAIN = "run the same command again: it continues in this dir, reusing the finished runs"


def raise_on_signals(run_dir: Path, again: bool = False) -> None:
    """Turn SIGTERM (a scheduler's timeout or preemption), SIGINT (Ctrl-C) and SIGHUP (closed terminal) into an
    exception, so the run leaves FAILED with how to resume it."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def _stop(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        why = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "timeout or preemption"}.get(signum, "terminal closed")
        hint = AGAIN if again else f"resume with: {make_command('resume', run_dir)}"
        raise Interrupted(f"terminated by {name} ({why}); {hint}", 128 + signum)

    for name in ("SIGTERM", "SIGINT", "SIGHUP"):  # SIGHUP: the terminal or SSH session that ran it closed
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stop)
