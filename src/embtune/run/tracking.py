"""The logger/ config group: experiment trackers. One W&B run per job (grouped per sweep), opened before training
so that transformers' W&B callback logs into it, and always finished, also when the job fails."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from embtune.run.redact import redact, redact_argv


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


class Logger:
    """No experiment tracker: metrics.json and the console only. The base of every logger/ config's ``_target_``:
    ``start`` opens the job's tracker run and gives the trainer's ``report_to``; ``log_final`` puts the final
    figures into it; ``finish`` closes it (also when the job fails)."""

    report_to: tuple[str, ...] = ()

    def __init__(self, name: str) -> None:
        self.name = name

    def start(self, cfg: DictConfig, run_dir: Path, group: str | None) -> list[str]:
        return list(self.report_to)

    def log_final(self, metrics: dict[str, Any]) -> None:
        """Nothing to put anywhere without a tracker."""

    def finish(self, failed: bool = False) -> None:
        """Nothing to close without a tracker."""


class TensorBoardLogger(Logger):
    """TensorBoard event files under ``<run dir>/tb`` (written by transformers' callback)."""

    report_to = ("tensorboard",)

    def start(self, cfg: DictConfig, run_dir: Path, group: str | None) -> list[str]:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / "tb")
        return list(self.report_to)


class WandbLogger(Logger):
    """Weights & Biases: one run per job, offline unless ``mode=online``; files under the run dir; group = the sweep
    (or ``group``); name = the run name; config = the resolved Hydra config and args = the command line, both
    without secrets. ``api_key`` (if given) is handed to wandb as WANDB_API_KEY, never recorded."""

    report_to = ("wandb",)

    def __init__(
        self,
        name: str,
        project: str,
        mode: str = "offline",
        entity: str | None = None,
        group: str | None = None,
        tags: Sequence[str] | None = (),
        api_key: str | None = None,
    ) -> None:
        super().__init__(name)
        self.project, self.mode, self.entity, self.group, self.tags = project, mode, entity, group, list(tags or ())
        self.api_key = api_key

    def start(self, cfg: DictConfig, run_dir: Path, group: str | None) -> list[str]:
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        os.environ["WANDB_LOG_MODEL"] = "false"
        if self.api_key:
            os.environ["WANDB_API_KEY"] = self.api_key
        with redacted_argv():
            wandb.init(
                project=str(self.project),
                entity=self.entity,
                group=self.group or group,
                name=str(cfg.run_name),
                tags=self.tags,
                mode=str(self.mode),
                dir=str(run_dir),
                config=resolved_config(cfg),
                reinit="finish_previous",
            )
        return list(self.report_to)

    def log_final(self, metrics: dict[str, Any]) -> None:
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

    def finish(self, failed: bool = False) -> None:
        import wandb

        if wandb.run is not None:
            with redacted_argv():
                wandb.finish(exit_code=1 if failed else 0)


def build_logger(logger_cfg: DictConfig) -> Logger:
    """The logger/ config's tracker."""
    return instantiate(logger_cfg)


def finish_failed(logger_cfg: DictConfig) -> None:
    """Close a failed job's tracker run; a logger config that cannot even be built has no run to close."""
    try:
        logger = build_logger(logger_cfg)
    except Exception:  # noqa: BLE001 - the job's own error is the one to report
        return
    logger.finish(failed=True)
