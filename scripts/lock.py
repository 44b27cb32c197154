"""Refresh requirements/lock.txt (``make lock``): the exact version of every package pip resolves today for
pyproject's ranges and extras, so that ``make install`` on a fresh clone installs what the suite last passed with,
not whatever the registry holds that day. torch (pinned by the Makefile's TORCH_VERSION, CPU build) and the offline
model packages (installed --no-deps) are left out: they are installed by their own steps.

    python scripts/lock.py            # resolve anew (pip --dry-run: the venv is not touched)
    python scripts/lock.py --freeze   # write what this venv has installed (after a manual upgrade and a green suite)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
EXTRAS = "dev,hparams,tensorboard,scale"
OWN_STEPS = {"torch", "embtune"}  # installed by their own Makefile steps


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def offline_packages() -> set[str]:
    lines = (ROOT / "requirements" / "offline-models.txt").read_text().splitlines()
    return {_name(line.split("==")[0]) for line in lines if line.strip() and not line.startswith("#")}


def resolved(torch_version: str) -> dict[str, str]:
    """name -> version of everything pip would install for embtune and its extras (nothing installed)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
             "--report", str(report), f"torch=={torch_version}", "-e", f"{ROOT}[{EXTRAS}]"],
            check=True,
        )  # fmt: skip
        items = json.loads(report.read_text())["install"]
    return {_name(i["metadata"]["name"]): i["metadata"]["version"] for i in items}


def frozen() -> dict[str, str]:
    """name -> version of what this venv has installed."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"], check=True, capture_output=True, text=True
    ).stdout
    pairs = (line.split("==", 1) for line in out.splitlines() if "==" in line)
    return {_name(name): version for name, version in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--freeze", action="store_true", help="lock what this venv has installed")
    parser.add_argument("--torch", default="2.13.0", help="the torch version the Makefile installs")
    args = parser.parse_args()
    started = time.perf_counter()
    versions = frozen() if args.freeze else resolved(args.torch)
    skip = OWN_STEPS | offline_packages()
    lines = [f"{name}=={version.split('+')[0]}" for name, version in sorted(versions.items()) if name not in skip]
    header = (
        "# Exact versions for make install (refresh: make lock; tests/test_lock.py checks them against pyproject).\n"
        "# torch (Makefile TORCH_VERSION) and the offline model packages are installed by their own steps.\n"
    )
    LOCK.write_text(header + "\n".join(lines) + "\n")
    print(f"lock: {len(lines)} packages -> {LOCK.relative_to(ROOT)} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
