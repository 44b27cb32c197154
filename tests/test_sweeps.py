"""Multirun sweeps through the real CLI: one W&B run per job in one group, a summary, failures kept."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import TINY_CACHE, run_cli
from wandb_reader import read_run

from embtune.model.tiny import build_tiny_model

TINY = ["model=tiny", "trainer=debug", f"paths.cache_dir={TINY_CACHE}", "evaluate_bm25=false", "save_model=false"]


def _sweep_dir(out: Path) -> Path:
    (sweep,) = (out / "train" / "multiruns").iterdir()
    return sweep


def _sweep(out: Path, *args: str) -> Path:
    """A finished ``-m`` sweep of the tiny model with ``args``; its multirun dir."""
    result = run_cli("embtune.train", "-m", *TINY, *args, f"paths.output_dir={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    return _sweep_dir(out)


def test_two_by_two_sweep_logs_four_wandb_runs_in_one_group_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    sweep = _sweep(out, "logger=wandb", "objective=mnrl_pairs,cosent_scored", "seed=1,2")
    runs = [read_run(f) for f in sorted(sweep.glob("*/wandb/offline-run-*/run-*.wandb"))]
    assert len(runs) == 4 and len({r["id"] for r in runs}) == 4
    assert {r["group"] for r in runs} == {sweep.name}
    assert sorted(r["name"] for r in runs) == sorted(
        ["tiny_default_mnrl_pairs"] * 2 + ["tiny_default_cosent_scored"] * 2
    )
    for r in runs:
        assert r["config"]["model"]["name_or_path"].endswith("embtune-tiny-bert")
        assert {"final/zero_shot/ndcg@10", "final/fine_tuned/ndcg@10", "final/delta/vs_zero_shot"} <= set(r["summary"])
        assert any("train/loss" in row for row in r["history"])
        assert r["exit_code"] == 0
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    assert {r["loss"] for r in rows} == {"mnrl", "cosent"} and all(float(r["fine_tuned"]) >= 0 for r in rows)
    assert (sweep / "summary.png").stat().st_size > 1000
    assert "Across seeds" in (sweep / "summary.md").read_text()
    # each job named by what varied; the dev figure it chose by; the best by dev marked once
    assert sorted(r["varied"] for r in rows) == sorted(
        f"objective={o} seed={s}" for o in ("mnrl_pairs", "cosent_scored") for s in (1, 2)
    )
    devs = [float(r["dev"]) for r in rows]
    assert [r["best"] for r in rows].count("*") >= 1 and all(
        r["best"] == "*" for r in rows if float(r["dev"]) == max(devs)
    )
    assert all(r["device"] == "cpu" and float(r["est_cost_usd"]) < 0.01 for r in rows)  # the CPU-hour rate
    md = (sweep / "summary.md").read_text()
    assert "![BM25 vs zero-shot vs fine-tuned per job](summary.png)" in md and "![dev curves per job](curves.png)" in md
    assert "| objective=mnrl_pairs |" in md or "objective=mnrl_pairs" in md.split("Across seeds")[1]
    # per run: the curves come from the trainer's log history, the base at step 0, the dev figure it chose by
    for r in rows:
        curves = json.loads((sweep / r["job"] / "curves.json").read_text())
        assert curves["dev"][0][0] == 0 and curves["loss"] and (sweep / r["job"] / "curves.png").stat().st_size > 1000
        metrics = json.loads((sweep / r["job"] / "metrics.json").read_text())
        assert max(v for step, v in curves["dev"] if step > 0) == pytest.approx(metrics["train"]["best_dev_metric"])
    assert (sweep / "curves.png").stat().st_size > 1000


def test_a_failing_job_is_marked_and_the_others_finish(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    good = build_tiny_model(TINY_CACHE / "models" / "embtune-tiny-bert")
    result = run_cli(
        "embtune.train",
        "-m",
        *TINY,
        f"model.name_or_path=/nonexistent/model,{good}",
        "model.builder=null",
        f"paths.output_dir={out}",
    )
    assert result.returncode != 0  # Hydra reports the failed job at the end
    rows = list(csv.DictReader((_sweep_dir(out) / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["FAILED", "ok"]
    assert "nonexistent" in rows[0]["error"]


def test_submitit_local_launcher_runs_two_jobs(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path / "outputs", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "seed=1,2")
    assert len(list(sweep.glob("*/metrics.json"))) == 2
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "ok"]


def test_two_process_gloo_ddp_writes_one_run_dir(tmp_path: Path) -> None:
    """As make train-ddp runs it: EMBTUNE_RUN_STAMP gives both ranks one dir, named by the rule of every run."""
    import json
    import os
    import subprocess
    import sys

    from conftest import ROOT

    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "EMBTUNE_RUN_STAMP": "2026-01-02_03-04-05-1"}
    result = subprocess.run(
        [str(torchrun), "--nproc_per_node=2", "-m", "embtune.train", *TINY, f"paths.output_dir={tmp_path}/outputs"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "outputs" / "train" / "runs").iterdir()
    assert run_dir.name == "2026-01-02_03-04-05-1_tiny_default_mnrl_pairs"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train"]["world_size"] == 2 and metrics["train"]["steps"] == 4
    assert not (run_dir / "FAILED").exists()
