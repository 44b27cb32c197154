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
from omegaconf import DictConfig, OmegaConf, open_dict

from embtune import per_query
from embtune.adapter import is_adapter_dir, load_adapter_model
from embtune.card import add_to_card
from embtune.dataset.splits import evaluation_split
from embtune.errors import EmbtuneError
from embtune.evaluator import evaluator_needs
from embtune.loss import matryoshka_dims
from embtune.merge import check_merge, ship_merge
from embtune.mining import mine_cached
from embtune.model import ResolvedModel, load_base_model, load_model, resolve_model, weights_sha256
from embtune.pipeline import baselines, build_evaluation, combine_negatives, evaluate_shipped, load_data, record
from embtune.regression import Regression
from embtune.run.console_guard import guarded
from embtune.run.disk import save_dir_atomic, writing
from embtune.run.failure import job_overrides, run_or_fail
from embtune.run.legacy import upgrade
from embtune.run.record import run_info

log = logging.getLogger("embtune.eval")


def adopt_run_config(cfg: DictConfig) -> DictConfig:
    """With ``model_path`` a training run dir: take its model (and dataset) config from its Hydra record."""
    if not cfg.model_path:
        return cfg
    run_dir = Path(cfg.model_path)
    record = run_dir / ".hydra" / "config.yaml"
    if not record.is_file():
        return cfg
    if not (run_dir / "model").is_dir():
        raise EmbtuneError(f"{run_dir} is a run dir without a saved model/ (trained with save_model=false?).")
    run_cfg = OmegaConf.create(upgrade(OmegaConf.to_container(OmegaConf.load(record)), resolved=False))
    adopted = ["model", "evaluator", "mining", "loss", *(["dataset"] if cfg.use_run_dataset else [])]
    if foreign := foreign_targets({k: OmegaConf.to_container(run_cfg[k]) for k in adopted if k in run_cfg}):
        raise EmbtuneError(
            f"{record} names code outside embtune and the libraries it builds on ({foreign[0]}): evaluating it would "
            "run that code, and a run's record never grants that. Fix: evaluate the model dir itself "
            f"(model_path={run_dir / 'model'} model=<its base config>) after checking the record."
        )
    # remote code runs only when this command says so (model.trust_remote_code=true): a record never grants it
    asked = bool(cfg.model.get("trust_remote_code", False))
    if bool(run_cfg.model.get("trust_remote_code", False)) and not asked:
        raise EmbtuneError(
            f"{run_dir} was trained with model.trust_remote_code=true: evaluating it runs the Python code its model "
            "carries, and a run's record never grants that. Fix: if you trust who made this run, add "
            "model.trust_remote_code=true to this command."
        )
    with open_dict(cfg):
        cfg.model = run_cfg.model
        cfg.model.trust_remote_code = asked
        cfg.evaluator = run_cfg.evaluator
        cfg.mining = run_cfg.mining
        if "loss" in run_cfg:  # Matryoshka dims: per-dimension figures as the run reported them
            cfg.loss = run_cfg.loss
        if cfg.use_run_dataset:
            cfg.dataset = run_cfg.dataset
            cfg.seed = run_cfg.seed  # the same dev split carved from train (what merge=interpolate picks on)
        cfg.model_path = str(run_dir / "model")
    return cfg


# the packages embtune's own configs build objects from (conf/**/_target_)
TRUSTED_TARGETS = ("embtune.", "sentence_transformers.", "transformers.", "peft.", "torch.", "hydra.utils.")


def foreign_targets(node: Any, where: str = "") -> list[str]:
    """``key._target_: target`` of every ``_target_`` in ``node`` outside ``TRUSTED_TARGETS``."""
    found: list[str] = []
    if isinstance(node, dict):
        target = node.get("_target_")
        if target is not None and not str(target).startswith(TRUSTED_TARGETS):
            found.append(f"{where or '.'}._target_: {target}")
        for k, v in node.items():
            found += foreign_targets(v, f"{where}.{k}" if where else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += foreign_targets(v, f"{where}[{i}]")
    return found


def explicit_model() -> bool:
    """Whether the command line chose model=... (a plain model dir does not say which base it came from)."""
    return HydraConfig.initialized() and any(o.startswith("model=") for o in HydraConfig.get().overrides.task)


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
    metrics, _ = baselines(cfg, data, evaluation, base, resolved)
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
        metrics, queries = evaluate_shipped(
            metrics, model, evaluation, dims=matryoshka_dims(cfg.loss) if "loss" in cfg else None
        )
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
    record(out_dir, metrics, info)
    return metrics


@hydra.main(version_base="1.3", config_path="../../conf", config_name="eval")
def main(cfg: DictConfig) -> float | None:
    """Hydra entrypoint; one-line error and FAILED on bad input."""
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    metrics = run_or_fail(out_dir, lambda: evaluate(cfg, out_dir))
    block = metrics.get("fine_tuned") or metrics.get("zero_shot") or {}
    return block.get(cfg.evaluator.main_metric)


if __name__ == "__main__":
    guarded(main)()
