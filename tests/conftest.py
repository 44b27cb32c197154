"""Shared fixtures: Hydra compose on the real conf/, a private cache dir, small data files."""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import threading
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


# environment variables read while torch / transformers / huggingface_hub import: a run that changes one gets a
# fresh interpreter; every other run goes through the pre-imported launcher (tests/cli_server.py)
IMPORT_TIME_ENV = (
    "HF_",
    "HUGGINGFACE",
    "TRANSFORMERS",
    "SENTENCE_TRANSFORMERS",
    "OMP_",
    "MKL_",
    "PYTHON",
    "CUDA",
    "TORCH",
    "TOKENIZERS",
)
CLI_ENV = {"HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "TOKENIZERS_PARALLELISM": "false"}


class _CliServer:
    """One pre-imported launcher per test process (each xdist worker has its own), started on first use."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.env: dict[str, str] = {}
        self.lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        self.env = {**os.environ, **CLI_ENV}
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "cli_server.py")],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and json.loads(proc.stdout.readline()).get("ready")
        atexit.register(proc.kill)
        return proc

    def accepts(self, env: dict[str, str]) -> bool:
        if os.environ.get("EMBTUNE_TEST_CLI_SERVER", "1") == "0":
            return False
        base = self.env or {**os.environ, **CLI_ENV}
        keys = {k for k in set(env) | set(base) if k.startswith(IMPORT_TIME_ENV)}
        return all(env.get(k) == base.get(k) for k in keys)

    def run(self, args: tuple[str, ...], cwd: Path, env: dict[str, str], timeout: int) -> subprocess.CompletedProcess:
        with self.lock, tempfile.TemporaryDirectory(prefix="embtune-cli-") as tmp:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = self._start()
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            umask = os.umask(0)
            os.umask(umask)  # the child gets the caller's umask, as a fresh process would
            request = {
                "umask": umask,
                "module": args[0],
                "args": list(args[1:]),
                "cwd": str(cwd),
                "env": env,
                "stdout": str(out),
                "stderr": str(err),
                "timeout": timeout,
            }
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            rc = json.loads(self.proc.stdout.readline())["rc"]
            if rc == -9:
                raise subprocess.TimeoutExpired([sys.executable, "-m", *args], timeout)
            return subprocess.CompletedProcess(
                [sys.executable, "-m", *args], rc, out.read_text(errors="replace"), err.read_text(errors="replace")
            )


_SERVER = _CliServer()


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python -m <args>``: the real entrypoint with the user's argv, cwd and environment, as a user types it.
    Through the pre-imported launcher (the imports are the only thing skipped) unless the environment changes what
    is read at import time; EMBTUNE_TEST_CLI_SERVER=0 starts a fresh interpreter for every run."""
    full_env = {**os.environ, **CLI_ENV, **(env or {})}
    if _SERVER.accepts(full_env):
        return _SERVER.run(args, cwd, full_env, timeout)
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


def make_resume(run: Path, *extra: str) -> subprocess.CompletedProcess:
    """``make resume RUN=<run>``: scripts/rerun.py --resume in a fresh process, offline, as a user runs it."""
    return subprocess.run(
        [sys.executable, "scripts/rerun.py", "--resume", str(run), *(["--", *extra] if extra else [])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **CLI_ENV},
    )
