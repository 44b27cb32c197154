"""What a full run costs per model: step time measured here (a few real training steps on the user's rows) times
the steps the configured trainer would take, as hours and USD at the device's rate. A model whose weights are not
already here is never downloaded to be timed: it is estimated from the measured model nearest in size."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from omegaconf import DictConfig

from embtune.advice.pilot import pilot_config
from embtune.errors import EmbtuneError
from embtune.model.loading import load_base_model
from embtune.training.losses import build_loss
from embtune.training.trainer import fine_tune

log = logging.getLogger(__name__)


def full_run_steps(trainer_args: DictConfig, rows: int) -> int:
    """Optimizer steps of the configured run on ``rows`` training rows (max_steps when set, else epochs)."""
    planned = int(trainer_args.get("max_steps") or -1)
    if planned > 0:
        return planned
    per_epoch = math.ceil(rows / int(trainer_args.per_device_train_batch_size))
    return math.ceil(float(trainer_args.num_train_epochs) * per_epoch)


@contextmanager
def _hub_off():
    """Resolve models from what is already on this machine only (no download just to time a step)."""
    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = before


def time_steps(
    cfg: DictConfig, model_cfg: DictConfig, rows: Dataset, run_dir: Path, steps: int, batch: int
) -> tuple[float, str]:
    """Seconds per training step of ``model_cfg`` with the run's loss and batch size, timed on ``steps`` batches of
    at most ``batch`` rows and scaled linearly to the configured batch (compute-bound on CPU): a large model at the
    full batch may not fit in memory beside other work, and a cost probe must never be what fails."""
    pilot, _ = pilot_config(cfg, len(rows), steps)
    configured = int(pilot.trainer.args.per_device_train_batch_size)
    probe = max(1, min(batch, configured))
    pilot.trainer.args.per_device_train_batch_size = probe
    pilot.model = model_cfg
    with _hub_off():
        model, _ = load_base_model(model_cfg, cfg.paths.cache_dir)
    sample = rows.select(range(min(len(rows), probe * steps)))
    loss = build_loss(pilot.loss, model, cfg.paths.cache_dir)
    tuned = fine_tune(pilot, run_dir / "cost", model, loss, sample)
    per_step = tuned.seconds / max(tuned.trainer.state.global_step, 1) * configured / probe
    how = "measured" if probe == configured else f"measured at batch {probe}, scaled to {configured}"
    return per_step, how


def measure_models(
    cfg: DictConfig,
    rows: Dataset,
    run_dir: Path,
    compose_model: Callable[[str], DictConfig],
    skip: str,
) -> dict[str, tuple[float, str]]:
    """Seconds per step and how they were had, for each ``advice.cost.models`` entry other than ``skip`` (the
    configured model, which the pilot times) whose weights are here. Run before the pilot: a probe that fails
    costs seconds, not the pilot's minutes."""
    cost, times = cfg.advice.cost, {}
    for name in cost.models:
        if name == skip:
            continue
        try:
            model_cfg = compose_model(name)
            times[name] = time_steps(cfg, model_cfg, rows, run_dir, int(cost.measure_steps), int(cost.measure_batch))
        except EmbtuneError as e:
            log.info("cost of %s estimated, not measured: %s", name, str(e).split(". ")[0])
    return times


def model_costs(cfg: DictConfig, rows: Dataset, times: dict[str, tuple[float, str]]) -> list[dict[str, Any]]:
    """One row per ``advice.cost.models``: seconds per step (``times``: measured; a model without weights here is
    estimated by parameter count from the nearest measured one), the full run's steps, hours and USD."""
    cost = cfg.advice.cost
    params = {str(k): float(v) for k, v in cost.params_m.items()}
    gpu = torch.cuda.is_available()
    rate = float(cost.gpu_usd_per_hour if gpu else cost.cpu_usd_per_hour)
    steps = full_run_steps(cfg.trainer.args, len(rows))
    out = []
    for name in cost.models:
        if name in times:
            seconds, how = times[name]
        else:
            base = min(times, key=lambda m: abs(math.log(params.get(m, 1.0) / params.get(name, 1.0))), default=None)
            if base is None or name not in params or base not in params:
                out.append({"model": name, "how": "unknown (no weights here, no advice.cost.params_m entry)"})
                continue
            seconds = times[base][0] * params[name] / params[base]
            how = f"estimated: {base}'s step x {params[name] / params[base]:.2g} (parameters); weights not here"
        hours = seconds * steps / 3600
        out.append(
            {
                "model": name,
                "seconds_per_step": round(seconds, 3),
                "steps": steps,
                "hours": round(hours, 4),
                "usd": round(hours * rate, 4),
                "device": "cuda" if gpu else "cpu",
                "usd_per_hour": rate,
                "how": how,
            }
        )
    return out
