"""The run-directory contract: metrics.json and run_info.json written atomically, FAILED on error."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from hydra.errors import CompactHydraException

from embtune.errors import EmbtuneError, user_error
from embtune.redact import redact_argv

T = TypeVar("T")

TRACKED_PACKAGES = (
    "embtune",
    "sentence-transformers",
    "transformers",
    "torch",
    "datasets",
    "hydra-core",
    "omegaconf",
    "rank-bm25",
    "wandb",
    "numpy",
)


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temp file in the same dir, then rename: readers never see half a file.

    mkstemp creates the temp file 0600; it gets the mode a plain ``open`` would give (0666 less the umask)
    before the rename, so teammates on a shared cluster can read run records and reuse caches.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)  # reading the umask means setting it: put it straight back
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    """JSON (indented), written atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")


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
    """Leave a FAILED marker holding the one-line error (best effort: an unwritable dir must not hide the error)."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "FAILED").write_text(one_line(error) + "\n", encoding="utf-8")
    except OSError:
        pass


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(cwd: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the repo embtune runs from (nulls outside git)."""
    here = cwd or Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            return subprocess.run(
                ["git", *args], cwd=here, capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def run_info(**fields: Any) -> dict[str, Any]:
    """What a run needs to be re-run and trusted: versions, git, Python, plus the recipe's own fields."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "git": git_state(),
        "argv": redact_argv(sys.argv),
        **fields,
    }


def run_or_fail(
    run_dir: Path, job: Callable[[], T], on_failure: Callable[[], None] | None = None, resumable: bool = False
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
            hint = f"resume with: {make_command('resume', run_dir)}" if resumable else "run it again"
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


def raise_on_signals(run_dir: Path) -> None:
    """Turn SIGTERM (a scheduler's timeout or preemption), SIGINT (Ctrl-C) and SIGHUP (closed terminal) into an
    exception, so the run leaves FAILED with how to resume it."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def _stop(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        why = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "timeout or preemption"}.get(signum, "terminal closed")
        raise Interrupted(f"terminated by {name} ({why}); resume with: {make_command('resume', run_dir)}", 128 + signum)

    for name in ("SIGTERM", "SIGINT", "SIGHUP"):  # SIGHUP: the terminal or SSH session that ran it closed
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stop)
