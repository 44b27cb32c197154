"""What a run records about itself in run_info.json: packages, git state, command, host."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from embtune.run.files import write_json_atomic
from embtune.run.redact import redact_argv

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


def write_results(run_dir: Path, metrics: dict[str, Any], info: dict[str, Any], table: str) -> None:
    """run_info.json, the console table, then metrics.json last: its presence means "finished"."""
    write_json_atomic(run_dir / "run_info.json", info)
    print(table, flush=True)
    write_json_atomic(run_dir / "metrics.json", metrics)
