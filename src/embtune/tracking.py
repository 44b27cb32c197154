"""Experiment trackers: which `report_to` the trainer gets, W&B settings per run, and closing runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig


def setup_logger(logger_cfg: DictConfig, run_dir: Path, run_name: str) -> list[str]:
    """Prepare the configured tracker for this run; returns the trainer's ``report_to``."""
    report_to = list(logger_cfg.report_to)
    if "wandb" in report_to:
        os.environ["WANDB_MODE"] = str(logger_cfg.mode)
        os.environ["WANDB_DIR"] = str(run_dir)
        os.environ["WANDB_PROJECT"] = str(logger_cfg.project)
        os.environ["WANDB_NAME"] = run_name
        if logger_cfg.get("entity"):
            os.environ["WANDB_ENTITY"] = str(logger_cfg.entity)
        if logger_cfg.get("group"):
            os.environ["WANDB_RUN_GROUP"] = str(logger_cfg.group)
        os.environ.setdefault("WANDB_SILENT", "true")
    return report_to


def log_final_metrics(report_to: list[str], metrics: dict[str, Any]) -> None:
    """Put the final zero-shot / fine-tuned / delta figures into the tracker's run summary."""
    if "wandb" not in report_to:
        return
    import wandb

    if wandb.run is not None:
        flat = {
            f"final/{block}/{k}": v
            for block, values in metrics.items()
            if isinstance(values, dict)
            for k, v in values.items()
            if isinstance(v, (int, float))
        }
        wandb.run.summary.update(flat)


def finish_logger(report_to: list[str], failed: bool = False) -> None:
    """Close this job's tracker run, also after a failure (the next job in a sweep gets its own)."""
    if "wandb" in report_to:
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=1 if failed else 0)
