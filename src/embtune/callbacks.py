"""Trainer callbacks: stop at the first non-finite loss, saying where, with the last good checkpoint kept."""

from __future__ import annotations

import math
from pathlib import Path

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from embtune.checkpoints import newest_complete_checkpoint


class NonFiniteLossGuard(TrainerCallback):
    """Stops training when the logged loss or gradient norm is NaN or infinite; ``failure`` holds the message.

    Needs ``logging_nan_inf_filter: false`` (trainer/default.yaml), or transformers hides non-finite losses.
    """

    def __init__(self) -> None:
        self.failure: str | None = None

    def on_log(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs: dict | None = None, **kw
    ) -> None:
        logs = logs or {}
        bad = {k: logs[k] for k in ("loss", "grad_norm") if k in logs and not math.isfinite(float(logs[k]))}
        if not bad:
            return
        newest = newest_complete_checkpoint(Path(args.output_dir))  # a half-written one is no "last good"
        last_good = str(newest) if newest else "none saved yet"
        what = " and ".join(f"{k} became {v}" for k, v in bad.items())
        self.failure = (
            f"training {what} at step {state.global_step} (epoch {state.epoch:.2f}); stopped. "
            f"Last good checkpoint: {last_good}. Fix: lower trainer.args.learning_rate or check the data."
        )
        control.should_training_stop = True
        control.should_save = False
