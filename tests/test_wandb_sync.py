"""make wandb-sync: a time limit per run, a summary of what synced, a non-zero exit when anything failed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def _offline_run(root: Path) -> None:
    code = "import wandb; r = wandb.init(mode='offline', dir=sys.argv[1], project='t'); r.log({'a': 1}); r.finish()"
    env = {**os.environ, "WANDB_SILENT": "true", "WANDB_MODE": "offline"}
    subprocess.run([sys.executable, "-c", "import sys; " + code, str(root)], env=env, check=True, timeout=120)


def test_an_unreachable_server_is_a_timed_failure_with_a_summary(tmp_path: Path) -> None:
    _offline_run(tmp_path)
    env = {**os.environ, "WANDB_BASE_URL": "http://127.0.0.1:9", "WANDB_API_KEY": "x" * 40, "WANDB_MODE": "online"}
    done = subprocess.run(
        [sys.executable, "scripts/wandb_sync.py", str(tmp_path), "--timeout", "4"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED" in done.stdout and "0 synced, 0 already synced, 1 failed of 1 offline runs" in done.stdout


def test_nothing_to_sync_is_a_success(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "scripts/wandb_sync.py", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "0 synced, 0 already synced, 0 failed of 0 offline runs" in done.stdout
