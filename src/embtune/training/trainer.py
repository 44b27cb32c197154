"""The trainer/ config group: SentenceTransformerTrainingArguments from the trainer/, loss/, model/ and data_format/
choices, and the callback that stops at the first non-finite loss."""

from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset, DatasetDict
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator
from transformers import ProgressCallback, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from embtune.dataset.samplers import Judged, batch_sampler
from embtune.errors import EmbtuneError
from embtune.evaluation import per_query
from embtune.model.adapters import AdapterAwareTrainer
from embtune.run.checkpoints import newest_complete_checkpoint
from embtune.run.console import QuietProgress
from embtune.run.disk import DiskFull, dir_bytes, writing
from embtune.run.failure import make_command
from embtune.training.selection import LogBaseDevEvaluation

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def column_prompts(
    fmt: DictConfig, model_prompts: DictConfig | None, columns: list[str] | None = None
) -> dict[str, str] | None:
    """Per-column training prompts: each text column gets the prompt of its role (query / document). Numbered
    columns (``negative_3``) take the role of their prefix (``negative``)."""
    if not model_prompts:
        return None
    roles = dict(fmt.text_columns)
    for col in columns or []:
        prefix = col.rsplit("_", 1)[0]
        if col not in roles and prefix in roles and col.rsplit("_", 1)[-1].isdigit():
            roles[col] = roles[prefix]
    prompts = {col: model_prompts.get(role) for col, role in roles.items()}
    return {col: p for col, p in prompts.items() if p} or None


def precision_flags(precision: str) -> dict[str, bool]:
    """fp16 / bf16 flags: mixed precision only where the device supports it."""
    if precision not in PRECISIONS:
        raise EmbtuneError(f"trainer.precision={precision!r}: choose one of {', '.join(PRECISIONS)}.")
    cuda = torch.cuda.is_available()
    if precision == "auto":
        bf16 = cuda and torch.cuda.is_bf16_supported()
        return {"bf16": bf16, "fp16": cuda and not bf16}
    if precision in ("fp16", "bf16") and not cuda:
        raise EmbtuneError(f"trainer.precision={precision} needs a CUDA GPU; use auto or fp32 on this machine.")
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def build_training_args(
    trainer_cfg: DictConfig,
    output_dir: Path,
    *,
    batch_sampler: Any,
    prompts: Any,
    multi_dataset_batch_sampler: str = "proportional",
    metric_for_best_model: str | None,
    report_to: list[str],
    run_name: str,
    seed: int,
) -> SentenceTransformerTrainingArguments:
    """Training arguments: the trainer/ config plus what the other groups decide."""
    args = OmegaConf.to_container(trainer_cfg.args, resolve=True)
    assert isinstance(args, dict)
    check_counts(args)
    if metric_for_best_model is None:  # no dev split: nothing to evaluate during training or choose by
        args.update(eval_strategy="no", load_best_model_at_end=False)
    try:
        return SentenceTransformerTrainingArguments(
            output_dir=str(output_dir),
            batch_sampler=batch_sampler,
            multi_dataset_batch_sampler=multi_dataset_batch_sampler,
            prompts=prompts,
            metric_for_best_model=metric_for_best_model,
            greater_is_better=True,
            report_to=report_to,
            run_name=run_name,
            seed=seed,
            data_seed=seed,
            # without a GPU, say so: accelerate then runs torchrun DDP as multi-CPU (gloo), not N separate trainings
            use_cpu=not torch.cuda.is_available(),
            **precision_flags(str(trainer_cfg.precision)),
            **args,
        )
    except TypeError as e:
        raise EmbtuneError(f"trainer.args: {e}. Check the key names against TrainingArguments.") from None
    except ValueError as e:
        raise EmbtuneError(f"trainer.args: {str(e).splitlines()[0]}") from None


# counts the trainer divides by or loops over: 0 or a negative value fails deep inside transformers / torch
POSITIVE_INTS = (
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "eval_steps",
    "save_steps",
    "logging_steps",
)


STEP_INTERVALS = ("eval_steps", "save_steps", "logging_steps")  # transformers reads a float < 1 as a fraction


def check_counts(args: dict) -> None:
    """Batch sizes, step intervals and epochs must be positive: one line naming the key, before anything loads."""
    for key in POSITIVE_INTS:
        value = args.get(key)
        if value is None:
            continue
        fraction = key in STEP_INTERVALS and isinstance(value, float) and 0 < value < 1  # a share of all steps
        if fraction:
            continue
        whole = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not whole or value <= 0 or value != int(value):
            raise EmbtuneError(
                f"trainer.args.{key}={value!r}: must be a whole number >= 1. Fix: e.g. trainer.args.{key}=16."
            )
    epochs, steps = args.get("num_train_epochs", 1), args.get("max_steps", -1)
    for key, value in (("num_train_epochs", epochs), ("max_steps", steps)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
        ):
            raise EmbtuneError(f"trainer.args.{key}={value!r}: must be a number. Fix: e.g. trainer.args.{key}=3.")
    if (steps is None or steps <= 0) and not (epochs is not None and epochs > 0):
        raise EmbtuneError(
            f"trainer.args.num_train_epochs={epochs!r} with no max_steps: nothing would be trained. "
            "Fix: num_train_epochs > 0 or max_steps >= 1."
        )
    if steps == 0:
        raise EmbtuneError("trainer.args.max_steps=0: nothing would be trained. Fix: max_steps >= 1, or -1 for epochs.")


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


class DevPerQuery(TrainerCallback):
    """Keeps each dev evaluation's per-query values by step, so the checkpoint that ships has its per-query figures
    without one more pass over the dev corpus (a third of a short tune run's fixed cost on long documents)."""

    def __init__(self, dev: SentenceEvaluator | None, metric: str) -> None:
        self.dev, self.metric = dev, metric
        self.by_step: dict[int, dict[str, float]] = {}

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        if queries := per_query.values(self.dev, self.metric):
            self.by_step[state.global_step] = queries


@dataclass
class FineTuned:
    """What training left: the trainer (its state and history), its arguments, and the seconds it took."""

    trainer: SentenceTransformerTrainer
    args: SentenceTransformerTrainingArguments
    seconds: float
    sampler: dict[str, Any] = field(default_factory=dict)  # loss.batch_sampler and what it did (judged: separated)
    dev_per_query: dict[int, dict[str, float]] = field(default_factory=dict)  # dev step -> per-query values

    def dev_queries_of(self, selected: str, base: dict[str, float]) -> dict[str, float] | None:
        """The per-query dev values already measured for ``selected``: the base's, or a checkpoint's from its
        evaluation in training (in this process: not one from before a resume)."""
        if selected == "base":
            return base or None
        step = selected.removeprefix("checkpoint-")
        return self.dev_per_query.get(int(step)) if step.isdigit() else None


class RunTrainer(AdapterAwareTrainer):
    """The trainer of a run: a checkpoint that cannot be written completely (a full disk, ``ulimit -f``) is removed
    and named in one line, so the run dir keeps only complete checkpoints to resume from."""

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

        checkpoints = Path(self.args.output_dir)
        target = checkpoints / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        previous = newest_complete_checkpoint(checkpoints, quiet=True) if checkpoints.is_dir() else None
        # weights + Adam's two moments: about 3x the parameters, unless an earlier checkpoint says exactly
        params = sum(p.numel() * p.element_size() for p in self.model.parameters())
        needed = dir_bytes(previous) if previous is not None else 3 * params
        kept = f"the newest complete checkpoint, {previous.name}, is kept" if previous else "no checkpoint was complete"
        try:
            with writing(
                f"checkpoint {target.name}",
                target,
                needed,
                f"the partial {target.name} was removed and {kept}",
                make_command("resume" if previous else "rerun", checkpoints.parent),
            ):
                super()._save_checkpoint(model, trial)
        except DiskFull:
            shutil.rmtree(target, ignore_errors=True)
            raise


def fine_tune(
    cfg: DictConfig,
    run_dir: Path,
    model: SentenceTransformer,
    loss: torch.nn.Module,
    rows: Dataset | DatasetDict,
    *,
    dev: SentenceEvaluator | None = None,
    best_metric: str | None = None,
    base_dev: dict[str, float] | None = None,
    report_to: list[str] | None = None,
    checkpoint: str | None = None,
    prompts: Any = None,
    judged: Judged | None = None,
) -> FineTuned:
    """sentence-transformers' trainer on the rows, choosing checkpoints on ``dev``; the base's dev figures are the
    step-0 point; early stopping when trainer.early_stopping.early_stopping_patience is set; a non-finite loss or a
    best metric never logged stops the run with one line. ``judged`` (anchor -> relevant texts) is what
    loss.batch_sampler=judged keeps apart."""
    sampler = {"name": str(cfg.loss.batch_sampler)}
    args = build_training_args(
        cfg.trainer,
        run_dir / "checkpoints",
        batch_sampler=batch_sampler(str(cfg.loss.batch_sampler), judged or {}, sampler),
        multi_dataset_batch_sampler=str((cfg.get("dataset_mix") or {}).get("sampler", "proportional")),
        prompts=prompts
        if prompts is not None
        else column_prompts(cfg.data_format, cfg.model.prompts, getattr(rows, "column_names", None)),
        metric_for_best_model=best_metric,
        report_to=report_to or [],
        run_name=cfg.run_name,
        seed=cfg.seed,
    )
    nan_guard = NonFiniteLossGuard()
    trainer = RunTrainer(  # sentence-transformers' trainer; adapter checkpoints load through peft
        model=model, args=args, train_dataset=rows, loss=loss, evaluator=dev, callbacks=[nan_guard]
    )
    trainer.add_callback(LogBaseDevEvaluation(trainer, base_dev or {}))
    trainer.add_callback(dev_queries := DevPerQuery(dev, str(cfg.evaluator.main_metric)))
    bars = any(isinstance(c, ProgressCallback) for c in trainer.callback_handler.callbacks)
    if bars and not cfg.get("verbose", False):
        trainer.remove_callback(ProgressCallback)  # the bar stays; the printed log dicts go to the log file
        trainer.add_callback(QuietProgress)
    if cfg.trainer.early_stopping.early_stopping_patience:
        if dev is None:
            log.warning("trainer.early_stopping is set but there is no dev split to watch: training without it")
        else:
            trainer.add_callback(instantiate(cfg.trainer.early_stopping))
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - started
    if nan_guard.failure:
        raise EmbtuneError(nan_guard.failure)
    logged = {k for entry in trainer.state.log_history if entry.get("step", 0) > 0 for k in entry}  # not step 0
    if args.load_best_model_at_end and best_metric not in logged:
        raise EmbtuneError(
            f"the trainer never logged '{best_metric}', so the best checkpoint could not be chosen. "
            f"Logged keys: {sorted(k for k in logged if k.startswith('eval_'))}."
        )
    return FineTuned(trainer, args, seconds, sampler, dev_queries.by_step)
