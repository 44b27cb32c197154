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
    """Write to a temp file in the same dir, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    """JSON (indented), written atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")


def write_failed(run_dir: Path, error: BaseException) -> None:
    """Leave a FAILED marker holding the one-line error."""
    run_dir.mkdir(parents=True, exist_ok=True)
    message = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    (run_dir / "FAILED").write_text(message + "\n", encoding="utf-8")


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


def run_or_fail(run_dir: Path, job: Callable[[], T], on_failure: Callable[[], None] | None = None) -> T:
    """Run a job; on any failure leave FAILED with the one-line error. A user-fixable error (EmbtuneError,
    also when Hydra's instantiate wrapped it) ends a single run with that line and exit code 1, no traceback."""
    try:
        return job()
    except BaseException as e:
        error = user_error(e) or e
        write_failed(run_dir, error)
        if on_failure is not None:
            on_failure()
        if isinstance(error, EmbtuneError):
            if sweep_group() is None:
                raise SystemExit(f"error: {error}") from None
            raise error from None
        raise


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


def raise_on_sigterm() -> None:
    """Turn SIGTERM (a scheduler's timeout or preemption) into an exception, so the run leaves FAILED."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def _terminate(signum: int, frame: object) -> None:
        raise SystemExit("terminated by SIGTERM (timeout or preemption); resume with make resume RUN=<run dir>")

    signal.signal(signal.SIGTERM, _terminate)
