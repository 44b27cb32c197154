"""What a training run writes about itself: run_info.json, metrics.json's ``train`` block, the card's recipe, and
the save of model/ and the record (metrics.json last), then the checkpoint pruning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from sentence_transformers import SentenceTransformer

from embtune.evaluation import per_query
from embtune.evaluation.tables import format_table
from embtune.model.adapters import is_adapter_dir
from embtune.model.loading import ResolvedModel
from embtune.report.card import add_to_card
from embtune.report.curves import write_curves
from embtune.run.checkpoints import prune_checkpoints
from embtune.run.disk import save_dir_atomic, writing
from embtune.run.failure import job_overrides, make_command
from embtune.run.record import run_info, write_results
from embtune.training.selection import Selection
from embtune.training.trainer import FineTuned


def train_run_info(
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
        add_to_card(run_dir / "model", metrics, info, card_recipe(cfg))
    with writing("the run's record", run_dir, fix=resume):
        write_curves(run_dir, tuned.trainer.state.log_history, tuned.args.metric_for_best_model)
        per_query.write(run_dir, metrics["main_metric"], queries)
        write_results(run_dir, metrics, info, format_table(metrics))
    keep = cfg.trainer.keep_checkpoints if cfg.save_model or cfg.trainer.keep_checkpoints == "all" else "best"
    prune_checkpoints(run_dir / "checkpoints", keep, tuned.trainer.state.best_model_checkpoint)


def card_recipe(cfg: DictConfig) -> dict[str, Any]:
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


def adapter_shipped(cfg: DictConfig, selection: Selection) -> str:
    """What model/ holds for an adapter run: base (fine-tuning lost on dev), merged, adapter, or both."""
    if selection.selected == "base":
        return "base"
    return str(cfg.model.adapter.ship)


def train_block(
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
        "teacher": stats.get("teacher"),  # a distillation run: what the teacher scored (teacher/)
        "pseudo_queries": stats.get("pseudo_queries"),  # adapted from the corpus alone (generator/)
    }
