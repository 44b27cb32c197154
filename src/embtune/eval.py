"""Evaluate a fine-tuned run, a saved model dir or a base model on any dataset config.

    python -m embtune.eval model_path=outputs/train/runs/<run>     # = make eval RUN=outputs/train/runs/<run>
    python -m embtune.eval model=mpnet dataset=scifact paths.data_dir=../shared/data
    python -m embtune.eval model_path=<run> merge=interpolate     # = make merge RUN=<run>: base/run mixes, pick saved

Writes metrics.json (bm25 / zero_shot / fine_tuned / delta, regression), the shape train.py writes; with
merge=interpolate also merge.png and the picked mix as model/ in its own dir.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from embtune.config.paths import CONF_DIR
from embtune.dataset.mining import mine_cached
from embtune.dataset.prepared import combine_negatives, load_data
from embtune.dataset.splits import evaluation_split
from embtune.errors import EmbtuneError
from embtune.evaluation import per_query
from embtune.evaluation.baselines import baselines, build_evaluation, evaluate_shipped
from embtune.evaluation.evaluators import evaluator_needs
from embtune.evaluation.regression import Regression
from embtune.evaluation.tables import format_table
from embtune.model.adapters import is_adapter_dir, load_adapter_model
from embtune.model.loading import ResolvedModel, load_base_model, load_model, resolve_model, weights_sha256
from embtune.report.card import add_to_card
from embtune.run.adopt import adopt_run_config, explicit_model
from embtune.run.console_guard import guarded
from embtune.run.disk import save_dir_atomic, writing
from embtune.run.failure import job_overrides, run_or_fail
from embtune.run.record import run_info, write_results
from embtune.training.losses import matryoshka_dims
from embtune.training.merge import check_merge, ship_merge

log = logging.getLogger("embtune.eval")


def evaluate(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """BM25, the base model (zero-shot, cached) and ``model_path`` (if given) on the dataset's evaluation split:
    the data, evaluator, baseline and record stages of a training run, without the training."""
    adopted = bool(cfg.model_path) and (Path(cfg.model_path) / ".hydra" / "config.yaml").is_file()
    cfg = adopt_run_config(cfg)
    data = load_data(cfg)
    split = evaluation_split(data)
    if split is None:
        raise EmbtuneError(f"dataset '{data.name}' has no test or dev split to evaluate on. Fix: give it a test file.")
    merging = bool(cfg.merge.get("alphas"))  # merge=interpolate: mixes of the base and model_path, picked on dev
    check_merge(cfg.merge)
    if merging and not (cfg.model_path and (adopted or explicit_model())):
        raise EmbtuneError(
            "merge=interpolate mixes a fine-tuned model with its base: give model_path=<run dir> (its record names "
            "the base), or a model dir plus model=<its base config>."
        )
    splits = [split] + (["dev"] if merging and split != "dev" and data.has_split("dev") else [])
    negatives = {s: data.negatives for s in splits}
    if evaluator_needs(cfg.evaluator, "negatives") and cfg.mining.name != "none":  # held-out negatives as in training
        for s in splits:
            negatives[s] = combine_negatives(
                data.negatives, mine_cached(data, s, cfg.mining, Path(cfg.paths.cache_dir))[0]
            )
    evaluation = build_evaluation(cfg, data, negatives, with_dev=merging)
    base, resolved = load_base_model(cfg.model, cfg.paths.cache_dir) if cfg.evaluate_zero_shot else (None, None)
    dims = matryoshka_dims(cfg.loss) if "loss" in cfg else None  # a Matryoshka run: each dimension too
    metrics, _ = baselines(cfg, data, evaluation, base, resolved, dims)
    regression = Regression.measure_base(cfg, base, resolved) if base is not None else None
    models: dict[str, Any] = {}
    merged = None
    if resolved is not None:
        models["base"] = {"name_or_path": cfg.model.name_or_path, "weights_sha256": resolved.weights_sha256}
    if cfg.model_path:
        path = Path(cfg.model_path)
        tuned = (
            ResolvedModel(path, "local", weights_sha256(path))
            if path.is_dir()
            else resolve_model(str(path), cfg.paths.cache_dir)
        )
        model = (
            load_adapter_model(path, cfg.paths.cache_dir)  # a LoRA run's model/ with model.adapter.ship=adapter
            if is_adapter_dir(path)
            else load_model(OmegaConf.merge(cfg.model, {"max_seq_length": None}), tuned)
        )
        model, merged = ship_merge(cfg, model, evaluation.dev, regression.sets if regression else [], out_dir)
        metrics, queries = evaluate_shipped(metrics, model, evaluation, dims=dims)
        per_query.write(out_dir, metrics["main_metric"], {evaluation.split or "evaluation": queries})
        if regression is not None and (block := regression.block(model)):
            metrics["regression"] = block
        models["evaluated"] = {"path": str(tuned.path), "weights_sha256": tuned.weights_sha256}
    info = run_info(
        models=models,
        dataset_fingerprint=data.fingerprint(),
        overrides=job_overrides(),
        trust_remote_code=bool(cfg.model.get("trust_remote_code", False)),
    )
    if cfg.model_path and merged:
        metrics["merge"] = merged
        with writing("the merged model", out_dir / "model"):  # the mix picked; the run's own model/ stays as it was
            save_dir_atomic(lambda tmp: model.save(str(tmp)), out_dir / "model")
        recipe = {"base": cfg.model.name_or_path, "mixed with": cfg.model_path, "alpha": merged["picked"]}
        add_to_card(out_dir / "model", metrics, info, recipe, command="embtune.eval")
    write_results(out_dir, metrics, info, format_table(metrics))
    return metrics


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="eval")
def main(cfg: DictConfig) -> float | None:
    """Hydra entrypoint; one-line error and FAILED on bad input."""
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    metrics = run_or_fail(out_dir, lambda: evaluate(cfg, out_dir))
    block = metrics.get("fine_tuned") or metrics.get("zero_shot") or {}
    return block.get(cfg.evaluator.main_metric)


if __name__ == "__main__":
    guarded(main)()
