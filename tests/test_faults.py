"""Faults a run meets in the wild, through the real CLI on the tiny model: a kill at any point of a checkpoint save,
a checkpoint whose weights were cut short, a full disk, two runs started into one dir."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import CLI_ENV, ROOT, TINY_CACHE, run_cli
from safetensors.torch import load_file

COMMON = [
    "model=tiny",
    "trainer=debug",
    f"paths.cache_dir={TINY_CACHE}",
    "trainer.args.max_steps=8",
    "trainer.args.save_steps=2",
    "trainer.args.eval_steps=2",
    "trainer.args.learning_rate=1e-3",
    "evaluate_bm25=false",
]
INJECTOR = ROOT / "tests" / "fault_injector"


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **CLI_ENV, "OMP_NUM_THREADS": "1", **extra}


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model" / "model.safetensors")


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def _killed_run(out: Path, spec: str) -> Path:
    """A run SIGKILLed at ``spec`` (see tests/fault_injector), in a fresh interpreter that loads the injector."""
    env = _env(EMBTUNE_TEST_KILL=spec, PYTHONPATH=os.pathsep.join([str(INJECTOR), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-m", "embtune.train", *COMMON, f"paths.output_dir={out}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == -signal.SIGKILL, (spec, proc.returncode, proc.stderr[-2000:])
    (run,) = (out / "train" / "runs").iterdir()
    assert not (run / "metrics.json").exists() and not (run / "FAILED").exists()  # a kill leaves no word
    return run


def _resume(run: Path) -> subprocess.CompletedProcess:
    return run_cli("embtune.train", *COMMON, f"hydra.run.dir={run}", "resume.enabled=true")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    out = tmp_path_factory.mktemp("full")
    result = run_cli("embtune.train", *COMMON, f"paths.output_dir={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = (out / "train" / "runs").iterdir()
    return _weights(run)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_kill_anywhere_in_a_checkpoint_save_resumes_to_the_same_weights(
    tmp_path: Path, seed: int, uninterrupted: dict[str, torch.Tensor]
) -> None:
    """The kill lands on a seeded checkpoint, file (weights, optimizer, scheduler, RNG, trainer state) and byte."""
    rng = random.Random(seed)
    spec = f"checkpoint-{rng.choice([4, 6])}:{rng.randrange(5)}:{rng.random():.3f}"
    run = _killed_run(tmp_path, spec)
    assert (run / ".lock").is_file()  # the dead process's lock: the kernel dropped it, resuming takes it
    resumed = _resume(run)
    assert resumed.returncode == 0, (spec, resumed.stderr[-3000:])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 8 and not (run / "FAILED").exists()
    assert _same_weights(_weights(run), uninterrupted), spec


def test_a_truncated_checkpoint_is_named_and_the_newest_loadable_one_resumed(
    tmp_path: Path, uninterrupted: dict[str, torch.Tensor]
) -> None:
    """All files present, the weights cut short (a disk that filled, then freed): judged by bytes, not names."""
    run = _killed_run(tmp_path, "checkpoint-6:0:0")
    weights = run / "checkpoints" / "checkpoint-4" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    resumed = _resume(run)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    logged = resumed.stdout + resumed.stderr
    skipped = [line for line in logged.splitlines() if "skipping partial checkpoint" in line and "checkpoint-4" in line]
    assert len(skipped) == 1 and "model.safetensors is truncated" in skipped[0], logged[-3000:]
    assert "SafetensorError" not in logged and "Traceback" not in logged
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["resumed_from"].endswith("checkpoint-2")
    assert _same_weights(_weights(run), uninterrupted)


def test_a_file_size_limit_while_saving_is_one_line_and_keeps_what_was_finished(tmp_path: Path) -> None:
    """``ulimit -f`` below the optimizer state's size (the tiny model's weights fit, its Adam state does not)."""
    out = tmp_path / "out"
    cache_entries = {p: p.read_bytes() for p in TINY_CACHE.rglob("*.json")}
    command = " ".join(
        [f"ulimit -f {1200};", "exec", sys.executable, "-m", "embtune.train", *COMMON, f"paths.output_dir={out}"]
    )
    result = subprocess.run(["bash", "-c", command], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "Error executing job" not in result.stderr
    line = next(x for x in result.stderr.splitlines() if x.startswith("error: "))
    assert line.startswith("error: could not write checkpoint checkpoint-2 to ") and "file-size limit" in line
    assert "(ulimit -f)" in line and "Nothing finished was replaced" in line and "make rerun RUN=" in line
    (run,) = (out / "train" / "runs").iterdir()
    assert (run / "FAILED").read_text().startswith("DiskFull: could not write checkpoint checkpoint-2")
    assert not (run / "checkpoints" / "checkpoint-2").exists() and not (run / "metrics.json").exists()
    for path, data in cache_entries.items():  # what other runs finished: untouched
        assert path.read_bytes() == data


def test_a_second_run_into_a_busy_run_dir_is_refused_before_it_loads_anything(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = subprocess.Popen(
        [sys.executable, "-m", "embtune.train", *COMMON, "trainer.args.max_steps=24", f"paths.output_dir={out}"],
        cwd=ROOT,
        env=_env(EMBTUNE_RUN_STAMP="same"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = out / "train" / "runs" / "same_tiny_default_mnrl_pairs"
    deadline = time.time() + 300
    while time.time() < deadline and not (run / "checkpoints").is_dir():
        time.sleep(0.05)
    record = (run / ".hydra" / "overrides.yaml").read_bytes()
    second = run_cli(
        "embtune.train", *COMMON, "trainer.args.learning_rate=5e-4", f"paths.output_dir={out}",
        env={"EMBTUNE_RUN_STAMP": "same"},
    )  # fmt: skip
    assert second.returncode == 1
    line = second.stderr.strip().splitlines()[-1]
    assert (
        line.startswith(f"error: the run dir {run} is in use by another embtune run (pid {first.pid} ")
        and "Fix:" in line
    )
    assert "Loading" not in second.stderr + second.stdout  # refused before any data or model loaded
    assert (run / ".hydra" / "overrides.yaml").read_bytes() == record  # the first run's record untouched
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr[-3000:]
    assert (run / "metrics.json").is_file() and not (run / "FAILED").exists()
    shutil.rmtree(out)
