"""Which model a run ships: the best fine-tuned checkpoint on dev, or the base model it started from.

Fine-tuning can make a model worse (a new domain, too high a learning rate, too little data). The base model's
dev figure is measured at step 0 and logged into the trainer's history, so the curves start at the base; after
training, a checkpoint must beat it by ``trainer.keep_base_margin`` or the run says so, and with
``trainer.keep_base_if_better`` ships the base.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

log = logging.getLogger("embtune.training.selection")


class LogBaseDevEvaluation(TrainerCallback):
    """Logs the base model's dev metrics as the step-0 evaluation (curves start at the base; no re-encoding:
    the figures come from the evaluation cache). Skipped on resume, where the history already holds them."""

    def __init__(self, trainer: Trainer, dev_metrics: dict[str, float]) -> None:
        self.trainer = trainer
        self.dev_metrics = {f"eval_{k}": float(v) for k, v in dev_metrics.items()}

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if state.global_step == 0 and self.dev_metrics:
            self.trainer.log(dict(self.dev_metrics))


@dataclass
class Selection:
    """What was compared on dev and what was shipped."""

    selected: str  # "base" | "checkpoint-N" | "final"
    metric: str | None
    base_dev: float | None
    tuned_dev: float | None
    tuned: str  # the fine-tuned candidate: "checkpoint-N" or "final"
    margin: float
    base_better: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def selected_dev(self) -> float | None:
        """The dev figure of the model shipped: what a hyperparameter search should optimize."""
        return self.base_dev if self.selected == "base" else self.tuned_dev


def fine_tuned_candidate(state: TrainerState, metric: str | None, loaded_best: bool) -> tuple[str, float | None]:
    """(name, dev figure) of the model the trainer ends with: its best checkpoint, or the last evaluation."""
    if metric is None:
        return "final", None
    if loaded_best and state.best_model_checkpoint:
        return Path(state.best_model_checkpoint).name, state.best_metric
    values = [e[metric] for e in state.log_history if metric in e and e.get("step", 0) > 0]
    return "final", (values[-1] if values else None)


def select(
    base_dev: float | None, tuned: str, tuned_dev: float | None, metric: str | None, margin: float, keep_base: bool
) -> Selection:
    """Ship the base unless the fine-tuned candidate beats it on dev by more than ``margin`` (higher is better)."""
    base_better = base_dev is not None and tuned_dev is not None and tuned_dev <= base_dev + margin
    selected = "base" if base_better and keep_base else tuned
    return Selection(selected, metric, base_dev, tuned_dev, tuned, margin, base_better)


def warning_line(s: Selection) -> str:
    """The one console line a regression gets."""
    action = (
        "saving the base model as model/ (trainer.keep_base_if_better=false keeps the fine-tuned one)"
        if s.selected == "base"
        else f"keeping {s.tuned} anyway (trainer.keep_base_if_better=false)"
    )
    return (
        f"fine-tuning did not beat the base model on dev: {s.metric} base {s.base_dev:.4f}, best {s.tuned} "
        f"{s.tuned_dev:.4f} (margin {s.margin}); {action}"
    )


def choose_model(
    trainer_cfg: DictConfig, fine_tuned: Any, base_dev: dict[str, float], best_metric: str | None
) -> Selection:
    """Compare the fine-tuned candidate (``trainer.FineTuned``) with the base on dev (trainer.keep_base_margin /
    keep_base_if_better); one warning line when the base was as good."""
    state, loaded_best = fine_tuned.trainer.state, bool(fine_tuned.args.load_best_model_at_end)
    tuned, tuned_dev = fine_tuned_candidate(state, best_metric, loaded_best)
    selection = select(
        base_dev.get(best_metric.removeprefix("eval_")) if best_metric else None,
        tuned,
        tuned_dev,
        best_metric,
        float(trainer_cfg.keep_base_margin),
        bool(trainer_cfg.keep_base_if_better),
    )
    if selection.base_better:
        log.warning(warning_line(selection))
    return selection
