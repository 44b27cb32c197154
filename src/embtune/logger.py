"""Experiment trackers: one W&B run per job (grouped per sweep), opened before training so that
transformers' W&B callback logs into it, and always finished, also when the job fails."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from embtune.redact import redact, redact_argv


def resolved_config(cfg: DictConfig) -> dict[str, Any]:
    """The job's config, interpolations resolved, the hydra node left out, secret-looking keys redacted."""
    job_cfg = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)
    return redact(job_cfg)


@contextmanager
def redacted_argv() -> Iterator[None]:
    """``sys.argv`` with secret override values replaced, for as long as W&B may read it.

    W&B records ``sys.argv[1:]`` as the run's args (``Settings._args``, read when ``wandb.init`` sends the settings
    and when ``wandb.finish`` builds an image job): they land in the offline ``run-*.wandb`` file and the
    metadata that ``wandb sync`` uploads. The real argv is restored afterwards.
    """
    original = sys.argv
    sys.argv = redact_argv(list(original))
    try:
        yield
    finally:
        sys.argv = original


def setup_logger(cfg: DictConfig, run_dir: Path, group: str | None) -> list[str]:
    """Open this job's tracker run; returns the trainer's ``report_to``.

    W&B: offline unless ``logger.mode=online``; files under the run dir; group = the sweep (or the config's
    ``logger.group``); name = the run name; config = the resolved Hydra config and args = the command line, both
    without secrets.
    """
    logger_cfg = cfg.logger
    report_to = list(logger_cfg.report_to)
    if "wandb" in report_to:
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        os.environ["WANDB_LOG_MODEL"] = "false"
        with redacted_argv():
            wandb.init(
                project=str(logger_cfg.project),
                entity=logger_cfg.get("entity"),
                group=logger_cfg.get("group") or group,
                name=str(cfg.run_name),
                tags=list(logger_cfg.get("tags") or []),
                mode=str(logger_cfg.mode),
                dir=str(run_dir),
                config=resolved_config(cfg),
                reinit="finish_previous",
            )
    if "tensorboard" in report_to:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / "tb")
    return report_to


def log_final_metrics(report_to: list[str], metrics: dict[str, Any]) -> None:
    """Put the final BM25 / zero-shot / fine-tuned / delta figures into the tracker run's summary."""
    if "wandb" not in report_to:
        return
    import wandb

    if wandb.run is not None:
        flat = {
            f"final/{block}/{k}": v
            for block, values in metrics.items()
            if isinstance(values, dict)
            for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        wandb.run.summary.update(flat)


def finish_logger(report_to: list[str], failed: bool = False) -> None:
    """Close this job's tracker run (the next job in a sweep gets its own)."""
    if "wandb" in report_to:
        import wandb

        if wandb.run is not None:
            with redacted_argv():
                wandb.finish(exit_code=1 if failed else 0)
