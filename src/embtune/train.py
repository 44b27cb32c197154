"""The training recipe, top to bottom: data -> format -> model -> loss -> baselines -> train -> evaluate -> save.

python -m embtune.train                                   # MiniLM on the embedded default data
python -m embtune.train experiment=scifact_minilm paths.data_dir=../shared/data
python -m embtune.train -m model=minilm,mpnet loss=mnrl,cosent data_format=pairs,scored
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig
from transformers import set_seed

from embtune.config.paths import CONF_DIR
from embtune.config.trainer_args import with_trainer_args
from embtune.dataset.prepared import data_splits, prepare_data
from embtune.evaluation.baselines import base_on_dev, baselines, build_evaluation, evaluate_shipped, shipped_per_query
from embtune.evaluation.evaluators import evaluator_needs, primary_metric_key
from embtune.evaluation.regression import Regression
from embtune.model.loading import load_base_model
from embtune.run.console_guard import guard_console
from embtune.run.failure import raise_on_signals, run_or_fail, sweep_group
from embtune.run.resume import record_config, resume_checkpoint
from embtune.run.tracking import build_logger, finish_failed, resolved_config
from embtune.training.choices import check_choices
from embtune.training.distill import build_teacher, label_rows, teacher_figures
from embtune.training.losses import build_loss, matryoshka_dims
from embtune.training.merge import ship_merge
from embtune.training.mixes import prepare_mix
from embtune.training.record import adapter_shipped, save_run, train_block, train_run_info
from embtune.training.selection import choose_model
from embtune.training.trainer import fine_tune

log = logging.getLogger("embtune.train")


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Run the whole recipe once; returns the metrics written to ``run_dir/metrics.json``."""
    set_seed(cfg.seed)

    # 1. Choices that cannot work together fail here, before any data or model loads. Resuming: a finished run or
    #    a changed config is refused; the newest complete checkpoint is picked.
    check_choices(cfg)
    config = resolved_config(cfg)
    checkpoint, forced_changes = resume_checkpoint(cfg.resume, run_dir, config)
    record_config(run_dir, config)
    logger = build_logger(cfg.logger)

    # 2. Data: source -> dev split -> negatives -> quality filter -> data checks -> rows; more sources with
    #    dataset_mix/ (each with its own format, loss and evaluation).
    held_out = evaluator_needs(cfg.evaluator, "negatives")  # held-out negatives too
    prepared = prepare_data(cfg, data_splits(held_out), held_out)
    data, mix = prepared.data, prepare_mix(cfg, prepared.data.name)

    # 3. Model (offline-first, with its prompts) and loss (sentence-transformers' own class; one per dataset).
    model, resolved = load_base_model(cfg.model, cfg.paths.cache_dir)
    loss = mix.losses(data.name, build_loss(cfg.loss, model, cfg.paths.cache_dir), model)
    if (teacher := build_teacher(cfg.teacher)) is not None:  # distillation: the teacher labels every row (cached)
        prepared.rows["train"], prepared.stats["teacher"] = label_rows(
            prepared.rows["train"], teacher, str(cfg.loss.labels), list(data.corpus.values()), cfg.paths.cache_dir
        )

    # 4. Evaluators: dev during training (picks the checkpoint), the evaluation split (test, else dev) at the end.
    evaluation = build_evaluation(cfg, data, prepared.negatives, with_dev=bool(cfg.get("evaluate_dev", True)))
    best_metric = primary_metric_key(evaluation.dev, model, cfg.evaluator.main_metric) if evaluation.dev else None

    # 5. Baselines on the evaluation split (BM25, the zero-shot base), and the base on dev: the step-0 point of the
    #    curves and a candidate for shipping. Zero-shot figures are cached by the weights' sha256.
    metrics, cache_hit = baselines(cfg, data, evaluation, model, resolved, matryoshka_dims(cfg.loss))
    if teacher_block := teacher_figures(teacher, evaluation.final, metrics):  # the teacher's own figure beside them
        metrics["teacher"] = teacher_block
    base_dev, base_dev_queries = base_on_dev(cfg, evaluation, model, resolved)
    regression = Regression.measure_base(cfg, model, resolved)  # general-purpose sets: what fine-tuning breaks
    mixed = mix.measure_base(cfg, model, resolved)  # the other sources' evaluation splits

    # 6. Fine-tune: every weight, or a LoRA adapter on a frozen base (model/adapter).
    adapter = instantiate(cfg.model.adapter)
    set_seed(cfg.seed)  # the adapter's random init must not depend on which caches were warm (a model built, ...)
    adapter_record = adapter.attach(model)
    report_to = logger.start(cfg, run_dir, group=sweep_group())
    rows = mix.train_rows(data.name, prepared.rows["train"])
    prompts = mix.prompts(data.name, cfg, prepared.rows["train"].column_names)
    tuned = fine_tune(
        cfg, run_dir, model, loss, rows, dev=evaluation.dev, best_metric=best_metric, base_dev=base_dev,
        report_to=report_to, checkpoint=checkpoint, prompts=prompts, judged=prepared.judged,
    )  # fmt: skip

    # 7. Ship the base if no checkpoint beat it on dev, or a mix of both (merge/); evaluate the model shipped on the
    #    evaluation split and the regression sets.
    selection, writer = choose_model(cfg.trainer, tuned, base_dev, best_metric), tuned.trainer.is_world_process_zero()
    base = {"name_or_path": cfg.model.name_or_path, "weights_sha256": resolved.weights_sha256}
    if adapter_record is not None:  # the adapter saved as model.adapter.ship asks, then folded into the weights
        keep = selection.selected != "base" and writer
        adapter_record |= adapter.fold(model, run_dir, base, keep) | {"shipped": adapter_shipped(cfg, selection)}
    model, merged = ship_merge(cfg, model, evaluation.dev, regression.sets, run_dir, writer)  # alpha 0 = the base
    if shipped_is_base := selection.selected == "base" and not merged:
        model, _ = load_base_model(cfg.model, cfg.paths.cache_dir)  # the untouched base weights
    metrics, final_queries = evaluate_shipped(metrics, model, evaluation, shipped_is_base, matryoshka_dims(cfg.loss))
    # per query, for paired comparisons; on dev, the figures already measured when the base or the selected
    # checkpoint ships unchanged
    known_dev = None if merged or adapter_record else tuned.dev_queries_of(selection.selected, base_dev_queries)
    queries = shipped_per_query(model, evaluation, metrics["main_metric"], final_queries, known_dev)
    blocks = (("regression", regression.block(model)), ("datasets", mixed.block(model)), ("merge", merged))
    metrics |= {k: v for k, v in blocks if v}
    metrics["train"] = train_block(tuned, selection, prepared.stats, model, checkpoint, merged)
    metrics["train"]["adapter"] = adapter_record
    logger.log_final(metrics)

    # 8. Save the model and the run's record, metrics.json last; drop what only a resume needs. Under DDP
    #    (torchrun) every rank ran the recipe in the same run dir; only rank 0 writes.
    if writer:
        info = train_run_info(cfg, prepared.stats, resolved, cache_hit, config, forced_changes, model)
        save_run(cfg, run_dir, model, metrics, tuned, info, queries)
        logger.finish()
    return metrics


def run(cfg: DictConfig) -> float | None:
    """The recipe in its run dir: on failure FAILED is left there; returns the sweep metric. (train and adapt.)"""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if cfg.resume.enabled:
        (run_dir / "FAILED").unlink(missing_ok=True)  # the interrupted attempt's marker
    raise_on_signals(run_dir)
    metrics = run_or_fail(
        run_dir,
        lambda: train(cfg, run_dir),
        lambda: finish_failed(cfg.logger),
        resumable=True,
    )
    log.info("run dir: %s", run_dir)
    # sweepers optimize the dev figure of the model shipped (the base when fine-tuning lost), never test
    return metrics["train"]["selected_dev_metric"]


main = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")(run)


def cli() -> None:
    """The command line: trainer.args.<any field>=value works as typed (embtune.config.trainer_args), then Hydra."""
    guard_console()  # secret values never reach the console, Hydra's own lines included
    with_trainer_args(main)


if __name__ == "__main__":
    cli()
