"""Shared fixtures: Hydra compose on the real conf/, a private cache dir, small data files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import embtune  # noqa: F401  (registers the config resolvers)

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"
SHARED_DATA = ROOT.parent / "shared" / "data"
# one fresh cache per test session (the tiny model is built into it once, in about a second)
TINY_CACHE = Path(os.environ.get("EMBTUNE_TEST_CACHE") or tempfile.mkdtemp(prefix="embtune-test-cache-"))

needs_shared_data = pytest.mark.skipif(
    not (SHARED_DATA / "scifact" / "corpus.jsonl").is_file(),
    reason=f"real data not found at {SHARED_DATA} (a fresh clone has none; CI has ../shared/data)",
)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach for the Hub; W&B never asks for a key."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """Compose conf/train.yaml with overrides, as `python -m embtune.train` would (hydra node included)."""

    def _compose(*overrides: str) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(
                config_name="train",
                overrides=[
                    f"paths.output_dir={tmp_path}/outputs",
                    f"paths.cache_dir={TINY_CACHE}",
                    *overrides,
                ],
                return_hydra_config=True,
            )
        HydraConfig.instance().set_config(cfg)
        return cfg

    yield _compose
    GlobalHydra.instance().clear()


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python -m <args>`` in a fresh process (the real entrypoint, as a user types it)."""
    full_env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "WANDB_MODE": "offline",
        "TOKENIZERS_PARALLELISM": "false",
    }
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def only_run_dir(outputs: Path) -> Path:
    """The single run dir under outputs/train/runs."""
    dirs = sorted((outputs / "train" / "runs").iterdir())
    assert len(dirs) == 1, dirs
    return dirs[0]
