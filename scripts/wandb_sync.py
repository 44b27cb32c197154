"""Upload the offline W&B runs under a folder, each with a time limit; say what synced and what did not.

    python scripts/wandb_sync.py [outputs] [--timeout 300]     # = make wandb-sync

Exit status 1 when any run failed or timed out (a server that cannot be reached no longer hangs the command, and
a failed upload no longer passes for a success); runs wandb already marked as synced are skipped.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def offline_runs(root: Path) -> list[Path]:
    """Offline run dirs (``offline-run-*``) under ``root``, oldest first."""
    found = {p.resolve() for p in root.rglob("offline-run-*") if p.is_dir()}  # `latest-run` links to one of them
    return sorted(found, key=lambda p: p.name)


def already_synced(run: Path) -> bool:
    """wandb sync leaves ``<run-file>.wandb.synced`` next to the run's ``.wandb`` file once uploaded."""
    return any(run.glob("*.wandb.synced"))


def sync(run: Path, timeout: float) -> str | None:
    """None when the run uploaded; else the reason, one line."""
    wandb = Path(sys.executable).with_name("wandb")
    # its own process group: on a timeout, wandb's helper processes are stopped with it
    proc = subprocess.Popen(
        [str(wandb), "sync", str(run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"no answer within {timeout:g} s (server unreachable? set --timeout)"
    text = (out + err).strip()
    if proc.returncode != 0 or "error" in text.lower():
        lines = [line for line in text.splitlines() if line.strip()]
        why = next((line for line in lines if "error" in line.lower()), lines[-1] if lines else "")
        return f"exit {proc.returncode}: {why.strip()[:200]}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=Path("outputs"))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    args = parser.parse_args()
    started = time.perf_counter()
    runs = offline_runs(args.root)
    synced, skipped, failed = [], [], []
    for run in runs:
        if already_synced(run):
            skipped.append(run)
            continue
        reason = sync(run, args.timeout)
        (failed.append((run, reason)) if reason else synced.append(run))
        print(f"{'FAILED' if reason else 'synced'} {run}" + (f": {reason}" if reason else ""), flush=True)
    print(
        f"wandb sync: {len(synced)} synced, {len(skipped)} already synced, {len(failed)} failed "
        f"of {len(runs)} offline runs under {args.root} in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
