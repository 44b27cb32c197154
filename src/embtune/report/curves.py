"""Training curves without a tracker: curves.json (the trainer's log history: loss and dev metric per step, the base
at step 0) and curves.png in every run dir; the sweep summary overlays its jobs' dev curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from embtune.report.plots import figure
from embtune.run.files import write_json_atomic


def curve_points(log_history: list[dict[str, Any]], metric_key: str | None) -> dict[str, list[list[float]]]:
    """{"loss": [[step, value], ...], "dev": [[step, value], ...]} from a trainer's log history."""
    loss = [[e["step"], e["loss"]] for e in log_history if "loss" in e and "step" in e]
    dev = [[e["step"], e[metric_key]] for e in log_history if metric_key and metric_key in e and "step" in e]
    return {"loss": loss, "dev": dev}


def write_curves(run_dir: Path, log_history: list[dict[str, Any]], metric_key: str | None) -> None:
    """curves.json and curves.png: train loss (left axis) and the dev metric (right axis) per step."""
    points = curve_points(log_history, metric_key)
    write_json_atomic(run_dir / "curves.json", {"metric": metric_key, **points})
    with figure(run_dir / "curves.png", figsize=(6.5, 4), dpi=110) as (fig, ax):
        if points["loss"]:
            ax.plot(*zip(*points["loss"], strict=True), color="tab:orange", label="train loss")
        ax.set_xlabel("step")
        ax.set_ylabel("train loss")
        if points["dev"]:
            dev_ax = ax.twinx()
            dev_ax.plot(*zip(*points["dev"], strict=True), color="tab:blue", marker="o", label=f"dev {metric_key}")
            dev_ax.set_ylabel(f"dev {str(metric_key).removeprefix('eval_')}")
            fig.legend(loc="upper center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8)


def overlay(job_dirs: list[Path], labels: list[str], path: Path) -> bool:
    """The jobs' dev curves in one plot (from each job's curves.json); False when no job has one."""
    curves = []
    for job, label in zip(job_dirs, labels, strict=True):
        file = job / "curves.json"
        if file.is_file():
            data = json.loads(file.read_text())
            if data.get("dev"):
                curves.append((label, data["dev"], data.get("metric")))
    if not curves:
        return False
    with figure(path, figsize=(7, 4.2), dpi=110) as (fig, ax):
        for label, dev, _ in curves:
            ax.plot(*zip(*dev, strict=True), marker="o", label=label)
        ax.set_xlabel("step")
        ax.set_ylabel(f"dev {str(curves[0][2]).removeprefix('eval_')}")
        ax.set_title("dev curves per job (step 0 = the base model)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return True
