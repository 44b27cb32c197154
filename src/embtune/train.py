"""The training recipe, top to bottom: data -> format -> model -> loss -> baselines -> train -> evaluate -> save.

python -m embtune.train                                   # MiniLM on the embedded default data
python -m embtune.train experiment=scifact_minilm paths.data_dir=../shared/data
python -m embtune.train -m model=minilm,mpnet loss=mnrl,cosent data_format=pairs,scored
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig
from sentence_transformers import SentenceTransformerTrainer
from transformers import set_seed

from embtune.cache import cached_evaluation
from embtune.errors import EmbtuneError
from embtune.evaluator import build_evaluator, evaluate_bm25, evaluate_model, primary_metric_key
from embtune.logger import finish_logger, log_final_metrics, resolved_config, setup_logger
from embtune.loss import build_loss, check_loss_accepts_format
from embtune.metrics_table import format_table, with_deltas
from embtune.model import load_model, resolve_model
from embtune.prepare import evaluation_split, prepare_data
from embtune.run.checkpoints import check_keep, prune_checkpoints
from embtune.run.failure import raise_on_signals, run_or_fail, sweep_group
from embtune.run.files import write_json_atomic
from embtune.run.record import run_info
from embtune.run.resume import record_config, resume_checkpoint
from embtune.selection import LogBaseDevEvaluation, fine_tuned_candidate, select, warning_line
from embtune.trainer import NonFiniteLossGuard, build_training_args, column_prompts

log = logging.getLogger("embtune.train")


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Run the whole recipe once; returns the metrics written to ``run_dir/metrics.json``."""
    set_seed(cfg.seed)

    # 1. Choices that cannot work together fail here, before any data or model loads.
    #    Resuming: a finished run or a changed config is refused; the newest complete checkpoint is picked.
    check_loss_accepts_format(cfg.loss, cfg.data_format.name)
    check_keep(cfg.trainer.keep_checkpoints)
    config = resolved_config(cfg)
    checkpoint, forced_changes = resume_checkpoint(cfg.resume, run_dir, config)
    record_config(run_dir, config)

    # 2. Data: source -> dev split (carved from train if missing) -> quality filter -> negatives -> data checks
    #    -> rows (held-out negatives too when a triplet evaluator needs them).
    splits = ("train", "dev", "test") if "triplet" in cfg.evaluator.kinds else ("train",)
    prepared = prepare_data(cfg, splits=splits)
    data, train_rows = prepared.data, prepared.rows["train"]
    log.info("train rows (%s): %d", cfg.data_format.name, len(train_rows))

    # 3. Model: resolved offline-first, loaded with its prompts.
    builder = instantiate(cfg.model.builder) if cfg.model.get("builder") else None
    resolved = resolve_model(cfg.model.name_or_path, cfg.paths.cache_dir, builder)
    model = load_model(cfg.model, resolved)
    model_prompts = dict(cfg.model.prompts) if cfg.model.prompts else None

    # 4. Loss: sentence-transformers' own class.
    loss = build_loss(cfg.loss, model)

    # 5. Evaluators: dev during training (picks the best checkpoint), the evaluation split (test; dev when the
    #    source has no test) at the end. A source without dev trains without checkpoint selection.
    eval_split = evaluation_split(data)
    dev_evaluator = (
        build_evaluator(
            data,
            "dev",
            cfg.evaluator,
            model_prompts,
            prepared.negatives.get("dev"),
            cfg.dataset.dev_corpus_size,
            cfg.seed,
            cfg.dataset.get("dev_corpus_fill", "bm25"),
        )
        if data.has_split("dev")
        else None
    )
    test_evaluator = (
        build_evaluator(data, eval_split, cfg.evaluator, model_prompts, prepared.negatives.get(eval_split))
        if eval_split
        else None
    )
    best_metric = primary_metric_key(dev_evaluator, model, cfg.evaluator.main_metric) if dev_evaluator else None
    if eval_split != "test":
        log.warning(
            "dataset '%s' has no test split: %s",
            data.name,
            "reporting on dev, which also picks the checkpoint (optimistic)"
            if eval_split
            else "nothing to evaluate on",
        )

    # 6. Baselines on the evaluation split: plain BM25 and the zero-shot base model.
    cache_hit = False
    metrics: dict[str, Any] = {"dataset": data.name, "split": eval_split, "main_metric": cfg.evaluator.main_metric}
    if test_evaluator and cfg.evaluate_bm25 and cfg.evaluator.bm25:
        if bm25 := evaluate_bm25(test_evaluator, **cfg.evaluator.bm25):
            metrics["bm25"] = bm25
    if test_evaluator and cfg.evaluate_zero_shot:
        metrics["zero_shot"], cache_hit = cached_evaluation(
            Path(cfg.paths.cache_dir),
            model,
            resolved.weights_sha256,
            test_evaluator,
            lambda: evaluate_model(model, test_evaluator),
        )
        log.info(
            "zero-shot %s: %.4f%s",
            metrics["main_metric"],
            metrics["zero_shot"][metrics["main_metric"]],
            " (cached)" if cache_hit else "",
        )

    # 6b. The base model on dev (cached too): the step-0 point of the curves and a candidate for shipping.
    base_dev: dict[str, float] = {}
    if dev_evaluator is not None:
        base_dev, _ = cached_evaluation(
            Path(cfg.paths.cache_dir),
            model,
            resolved.weights_sha256,
            dev_evaluator,
            lambda: dev_evaluator(model),
            variant="raw",
        )

    # 7. Fine-tune (early stopping on dev when trainer.early_stopping.early_stopping_patience is set).
    report_to = setup_logger(cfg, run_dir, group=sweep_group())
    args = build_training_args(
        cfg.trainer,
        run_dir / "checkpoints",
        batch_sampler=cfg.loss.batch_sampler,
        prompts=column_prompts(cfg.data_format, cfg.model.prompts),
        metric_for_best_model=best_metric,
        report_to=report_to,
        run_name=cfg.run_name,
        seed=cfg.seed,
    )
    nan_guard = NonFiniteLossGuard()
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train_rows, loss=loss, evaluator=dev_evaluator, callbacks=[nan_guard]
    )
    trainer.add_callback(LogBaseDevEvaluation(trainer, base_dev))
    if cfg.trainer.early_stopping.early_stopping_patience:
        if dev_evaluator is None:
            log.warning("trainer.early_stopping is set but there is no dev split to watch: training without it")
        else:
            trainer.add_callback(instantiate(cfg.trainer.early_stopping))
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=checkpoint)
    train_seconds = time.perf_counter() - started
    if nan_guard.failure:
        raise EmbtuneError(nan_guard.failure)
    logged = {k for entry in trainer.state.log_history if entry.get("step", 0) > 0 for k in entry}  # not step 0
    if args.load_best_model_at_end and best_metric not in logged:
        raise EmbtuneError(
            f"the trainer never logged '{best_metric}', so the best checkpoint could not be chosen. "
            f"Logged keys: {sorted(k for k in logged if k.startswith('eval_'))}."
        )

    # 8. Ship the base if no checkpoint beat it on dev; evaluate the model shipped on the same split.
    tuned, tuned_dev = fine_tuned_candidate(trainer.state, best_metric, bool(args.load_best_model_at_end))
    selection = select(
        base_dev.get(best_metric.removeprefix("eval_")) if best_metric else None,
        tuned,
        tuned_dev,
        best_metric,
        float(cfg.trainer.keep_base_margin),
        bool(cfg.trainer.keep_base_if_better),
    )
    if selection.base_better:
        log.warning(warning_line(selection))
    if selection.selected == "base":
        model = load_model(cfg.model, resolved)  # the untouched base weights, from where they were found
    if test_evaluator:
        shipped_is_base = selection.selected == "base" and "zero_shot" in metrics
        metrics["fine_tuned"] = dict(metrics["zero_shot"]) if shipped_is_base else evaluate_model(model, test_evaluator)
        metrics = with_deltas(metrics)
    metrics["train"] = {
        "seconds": round(train_seconds, 2),
        "examples": len(train_rows),
        "epochs": float(trainer.state.epoch or 0),
        "steps": int(trainer.state.global_step),
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_dev_metric": trainer.state.best_metric,
        # what was shipped as model/ ("base" | "checkpoint-N" | "final") and the dev figures that decided it;
        # selected_dev_metric is what a hyperparameter search should optimize
        "selected": selection.selected,
        "selected_dev_metric": selection.selected_dev,
        "selection": selection.as_dict(),
        "device": str(model.device),
        "world_size": args.world_size,
        "resumed_from": checkpoint,
        "quality": prepared.stats["quality"],
        "mining": prepared.stats["mining"].get("train"),
        "data_checks": prepared.stats["data_checks"],
    }
    log_final_metrics(report_to, metrics)

    # 9. Save the model and the run's record; metrics.json last (its presence means "finished").
    #    Under DDP (torchrun) every rank ran the recipe in the same run dir; only rank 0 writes.
    if not trainer.is_world_process_zero():
        return metrics
    if cfg.save_model:
        model.save(str(run_dir / "model"))
    write_json_atomic(
        run_dir / "run_info.json",
        run_info(
            run_name=cfg.run_name,
            dataset_fingerprint=prepared.stats["fingerprint"],
            model={
                "name_or_path": cfg.model.name_or_path,
                "source": resolved.source,
                "path": str(resolved.path),
                "weights_sha256": resolved.weights_sha256,
            },
            trust_remote_code=bool(cfg.model.trust_remote_code),
            zero_shot_cache_hit=cache_hit,
            config=config,
            resume_forced_changes=forced_changes,
            device=str(model.device),
            cuda=torch.cuda.is_available(),
        ),
    )
    print(format_table(metrics), flush=True)
    write_json_atomic(run_dir / "metrics.json", metrics)
    # finished: optimizer checkpoints are only needed to resume (trainer.keep_checkpoints: none | best | all)
    #    (without model/, save_model=false, the best checkpoint's weights are the only copy: never dropped)
    keep = cfg.trainer.keep_checkpoints if cfg.save_model or cfg.trainer.keep_checkpoints == "all" else "best"
    prune_checkpoints(run_dir / "checkpoints", keep, trainer.state.best_model_checkpoint)
    finish_logger(report_to)
    return metrics


@hydra.main(version_base="1.3", config_path="../../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entrypoint: runs the recipe; on failure leaves FAILED in the run dir; returns the sweep metric."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if cfg.resume.enabled:
        (run_dir / "FAILED").unlink(missing_ok=True)  # the interrupted attempt's marker
    raise_on_signals(run_dir)
    metrics = run_or_fail(
        run_dir,
        lambda: train(cfg, run_dir),
        lambda: finish_logger(list(cfg.logger.report_to), failed=True),
        resumable=True,
    )
    # sweepers optimize the dev figure of the model shipped (the base when fine-tuning lost), never test
    return metrics["train"]["selected_dev_metric"]


if __name__ == "__main__":
    main()
