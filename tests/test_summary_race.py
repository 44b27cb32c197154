"""Sweep summaries written by parallel jobs at the same moment (joblib, submitit): no job fails on another's file."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

from omegaconf import OmegaConf


def _write(sweep: str) -> None:
    from embtune.search.sweep_summary import write_summary

    for _ in range(6):
        write_summary(Path(sweep))


def test_two_processes_writing_one_summary_together_both_succeed(tmp_path: Path) -> None:
    for i in range(3):
        job = tmp_path / f"{i}_job"
        (job / ".hydra").mkdir(parents=True)
        choices = {"model": "tiny", "loss": "mnrl", "data_format": "pairs"}
        hydra = {"hydra": {"runtime": {"choices": choices}, "overrides": {"task": [f"seed={i}"]}}}
        OmegaConf.save(hydra, job / ".hydra" / "hydra.yaml")
        OmegaConf.save({"seed": i}, job / ".hydra" / "config.yaml")
        metrics = {"main_metric": "ndcg@10", "zero_shot": {"ndcg@10": 0.4}, "fine_tuned": {"ndcg@10": 0.5 + i / 10}}
        (job / "metrics.json").write_text(json.dumps(metrics))
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_write, args=(str(tmp_path),)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0]
    assert (tmp_path / "summary.png").stat().st_size > 1000
    assert not list(tmp_path.glob(".summary-*")) and not list(tmp_path.glob("*.tmp*"))
