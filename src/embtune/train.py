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
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig
from sentence_transformers import SentenceTransformer
from transformers import set_seed

from embtune import per_query
from embtune.adapter import is_adapter_dir
from embtune.batching import check_name as check_sampler
from embtune.card import add_to_card
from embtune.curves import write_curves
from embtune.dataset_mix import check_mix, prepare_mix
from embtune.errors import EmbtuneError
from embtune.evaluator import primary_metric_key
from embtune.logger import build_logger, finish_failed, resolved_config
from embtune.loss import build_loss, check_loss_accepts_format, matryoshka_dims
from embtune.merge import check_merge, ship_merge
from embtune.model import ResolvedModel, load_base_model
from embtune.pipeline import (
    base_on_dev,
    baselines,
    build_evaluation,
    data_splits,
    evaluate_shipped,
    prepare_data,
    record,
    shipped_per_query,
)
from embtune.regression import Regression
from embtune.run.checkpoints import check_keep, prune_checkpoints
from embtune.run.console_guard import guard_console
from embtune.run.disk import save_dir_atomic, writing
from embtune.run.failure import job_overrides, make_command, raise_on_signals, run_or_fail, sweep_group
from embtune.run.record import run_info
from embtune.run.resume import record_config, resume_checkpoint
from embtune.selection import Selection, choose_model
from embtune.trainer import FineTuned, fine_tune
from embtune.trainer_args import with_trainer_args

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
    prepared = prepare_data(cfg, splits=data_splits(cfg))
    data, mix = prepared.data, prepare_mix(cfg, prepared.data.name)

    # 3. Model (offline-first, with its prompts) and loss (sentence-transformers' own class; one per dataset).
    model, resolved = load_base_model(cfg.model, cfg.paths.cache_dir)
    loss = mix.losses(data.name, build_loss(cfg.loss, model, cfg.paths.cache_dir), model)

    # 4. Evaluators: dev during training (picks the checkpoint), the evaluation split (test, else dev) at the end.
    evaluation = build_evaluation(cfg, data, prepared.negatives, with_dev=bool(cfg.get("evaluate_dev", True)))
    best_metric = primary_metric_key(evaluation.dev, model, cfg.evaluator.main_metric) if evaluation.dev else None

    # 5. Baselines on the evaluation split (BM25, the zero-shot base), and the base on dev: the step-0 point of the
    #    curves and a candidate for shipping. Zero-shot figures are cached by the weights' sha256.
    metrics, cache_hit = baselines(cfg, data, evaluation, model, resolved)
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
        cfg,
        run_dir,
        model,
        loss,
        rows,
        evaluation.dev,
        best_metric,
        base_dev,
        report_to,
        checkpoint,
        prompts,
        prepared.judged,
    )

    # 7. Ship the base if no checkpoint beat it on dev, or a mix of both (merge/); evaluate the model shipped on the
    #    evaluation split and the regression sets.
    selection, writer = choose_model(cfg.trainer, tuned, base_dev, best_metric), tuned.trainer.is_world_process_zero()
    base = {"name_or_path": cfg.model.name_or_path, "weights_sha256": resolved.weights_sha256}
    if adapter_record is not None:  # the adapter saved as model.adapter.ship asks, then folded into the weights
        keep = selection.selected != "base" and writer
        adapter_record |= adapter.fold(model, run_dir, base, keep) | {"shipped": _adapter_shipped(cfg, selection)}
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
    metrics["train"] = train_record(tuned, selection, prepared.stats, model, checkpoint, merged)
    metrics["train"]["adapter"] = adapter_record
    logger.log_final(metrics)

    # 8. Save the model and the run's record, metrics.json last; drop what only a resume needs. Under DDP
    #    (torchrun) every rank ran the recipe in the same run dir; only rank 0 writes.
    if writer:
        info = run_record(cfg, prepared.stats, resolved, cache_hit, config, forced_changes, model)
        save_run(cfg, run_dir, model, metrics, tuned, info, queries)
        logger.finish()
    return metrics


def check_choices(cfg: DictConfig) -> None:
    """What the config alone can tell: each loss accepts its format, Matryoshka dims, the mix, checkpoint keeping."""
    check_loss_accepts_format(cfg.loss, cfg.data_format.name)
    check_sampler(str(cfg.loss.batch_sampler))
    check_mix(cfg)
    check_merge(cfg.merge)
    matryoshka_dims(cfg.loss)
    check_keep(cfg.trainer.keep_checkpoints)
    adapter = instantiate(cfg.model.adapter)
    adapter.check()
    if getattr(adapter, "ship", None) == "adapter" and cfg.merge.get("alphas"):
        raise EmbtuneError(
            "model.adapter.ship=adapter with merge.alphas: a mix of base and fine-tuned weights is not an adapter. "
            "Fix: model.adapter.ship=merged (or both: model/ the mix, adapter/ the adapter as trained), or merge=none."
        )


def run_record(
    cfg: DictConfig,
    stats: dict[str, Any],
    resolved: ResolvedModel,
    cache_hit: bool,
    config: dict[str, Any],
    forced_changes: list[str],
    model: SentenceTransformer,
) -> dict[str, Any]:
    """run_info.json: what the run needs to be re-run and trusted."""
    return run_info(
        run_name=cfg.run_name,
        overrides=job_overrides(),
        dataset_fingerprint=stats["fingerprint"],
        model={"name_or_path": cfg.model.name_or_path, **resolved.as_record()},
        trust_remote_code=bool(cfg.model.trust_remote_code),
        zero_shot_cache_hit=cache_hit,
        config=config,
        resume_forced_changes=forced_changes,
        device=str(model.device),
        cuda=torch.cuda.is_available(),
    )


def save_run(
    cfg: DictConfig,
    run_dir: Path,
    model: SentenceTransformer,
    metrics: dict[str, Any],
    tuned: FineTuned,
    info: dict[str, Any],
    queries: dict[str, dict[str, float]],
) -> None:
    """model/, per_query.json, run_info.json, metrics.json (last: "finished"); then optimizer checkpoints, needed
    only to resume, are pruned (trainer.keep_checkpoints: none | best | all). Without model/ (save_model=false) the best
    checkpoint's weights are the only copy: never dropped."""
    resume = f"train again (the checkpoints are kept): {make_command('rerun', run_dir)}"
    if cfg.save_model:
        if not is_adapter_dir(run_dir / "model"):  # model.adapter.ship=adapter wrote the adapter as model/
            needed = sum(p.numel() * p.element_size() for p in model.parameters())
            with writing("the model", run_dir / "model", needed, fix=resume):
                save_dir_atomic(lambda tmp: model.save(str(tmp)), run_dir / "model")
        add_to_card(run_dir / "model", metrics, info, recipe(cfg))
    with writing("the run's record", run_dir, fix=resume):
        write_curves(run_dir, tuned.trainer.state.log_history, tuned.args.metric_for_best_model)
        per_query.write(run_dir, metrics["main_metric"], queries)
        record(run_dir, metrics, info)
    keep = cfg.trainer.keep_checkpoints if cfg.save_model or cfg.trainer.keep_checkpoints == "all" else "best"
    prune_checkpoints(run_dir / "checkpoints", keep, tuned.trainer.state.best_model_checkpoint)


def recipe(cfg: DictConfig) -> dict[str, Any]:
    """The choices a model card names: model, data, format, loss, mining, key trainer settings."""
    args = cfg.trainer.args
    return {
        "model": cfg.model.name_or_path,
        "dataset": cfg.dataset.name,
        "data_format": cfg.data_format.name,
        "loss": cfg.loss.name,
        "mining": cfg.mining.name,
        "epochs": args.get("num_train_epochs"),
        "max_steps": args.get("max_steps"),
        "batch_size": args.get("per_device_train_batch_size"),
        "learning_rate": args.get("learning_rate"),
        "adapter": _adapter_label(cfg.model.adapter),
    }


def _adapter_label(adapter: DictConfig) -> str | None:
    """How the card names an adapter run: ``lora r=8 alpha=16 on query,value`` (None: full fine-tuning)."""
    if adapter.get("name", "none") == "none":
        return None
    return f"{adapter.name} r={adapter.r} alpha={adapter.alpha} ship={adapter.ship}"


def _adapter_shipped(cfg: DictConfig, selection: Selection) -> str:
    """What model/ holds for an adapter run: base (fine-tuning lost on dev), merged, adapter, or both."""
    if selection.selected == "base":
        return "base"
    return str(cfg.model.adapter.ship)


def train_record(
    tuned: FineTuned,
    selection: Selection,
    stats: dict[str, Any],
    model: SentenceTransformer,
    checkpoint: str | None,
    merged: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """metrics.json's ``train`` block: what training did, what was shipped and why, what the data stage did."""
    state = tuned.trainer.state
    return {
        "seconds": round(tuned.seconds, 2),
        "examples": len(tuned.trainer.train_dataset)
        if not isinstance(tuned.trainer.train_dataset, dict)
        else sum(len(d) for d in tuned.trainer.train_dataset.values()),
        "examples_per_dataset": {k: len(d) for k, d in tuned.trainer.train_dataset.items()}
        if isinstance(tuned.trainer.train_dataset, dict)
        else None,
        "epochs": float(state.epoch or 0),
        "steps": int(state.global_step),
        "best_checkpoint": state.best_model_checkpoint,
        "best_dev_metric": state.best_metric,
        # what was shipped as model/ ("base" | "checkpoint-N" | "final") and the dev figures that decided it;
        # selected_dev_metric is what a hyperparameter search should optimize
        "selected": selection.selected,
        "selected_dev_metric": (
            next(r["dev"] for r in merged["alphas"] if r["alpha"] == merged["picked"])
            if merged
            else selection.selected_dev
        ),
        "selection": selection.as_dict(),
        "batch_sampler": tuned.sampler,
        "device": str(model.device),
        "world_size": tuned.args.world_size,
        "resumed_from": checkpoint,
        "quality": stats["quality"],
        "mining": stats["mining"].get("train"),
        "data_checks": stats["data_checks"],
    }


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
        lambda: finish_failed(cfg.logger),
        resumable=True,
    )
    log.info("run dir: %s", run_dir)
    # sweepers optimize the dev figure of the model shipped (the base when fine-tuning lost), never test
    return metrics["train"]["selected_dev_metric"]


def cli() -> None:
    """The command line: trainer.args.<any field>=value works as typed (embtune.trainer_args), then Hydra."""
    guard_console()  # secret values never reach the console, Hydra's own lines included
    with_trainer_args(main)


if __name__ == "__main__":
    cli()
