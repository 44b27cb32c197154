"""The evaluation stages every command shares: the evaluators, the baselines (BM25, zero-shot) on the evaluation
split, the shipped model on it, the base on dev; so a figure in metrics.json means the same thing whichever
command wrote it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

from embtune.dataset.splits import evaluation_split
from embtune.dataset.types import RetrievalData
from embtune.errors import EmbtuneError
from embtune.evaluation import per_query
from embtune.evaluation.cache import cached_evaluation
from embtune.evaluation.evaluators import (
    EvalInputs,
    build_evaluator,
    evaluate_bm25,
    evaluate_model,
    evaluate_per_dim,
)
from embtune.evaluation.tables import with_deltas
from embtune.model.loading import ResolvedModel, model_prompts

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """The run's evaluators: ``final`` on the evaluation split (test; dev without one), ``dev`` during training."""

    split: str | None
    final: SentenceEvaluator | None
    dev: SentenceEvaluator | None = None


def build_evaluation(
    cfg: DictConfig, data: RetrievalData, negatives: dict[str, dict[str, list[str]]], with_dev: bool
) -> Evaluation:
    """The configured evaluators; the dev one (``with_dev``) on a corpus sample of ``dataset.dev_corpus_size``."""
    split = evaluation_split(data)
    prompts = model_prompts(cfg.model)
    if split != "test" and cfg.get("evaluate_final", True):
        log.warning(
            "dataset '%s' has no test split: %s",
            data.name,
            "reporting on dev, which also picks the checkpoint (optimistic)" if split else "nothing to evaluate on",
        )
    if not cfg.get("evaluate_final", True):  # dev only: the evaluation split is never read
        split = None
    final = build_evaluator(cfg.evaluator, EvalInputs(data, split, prompts, negatives.get(split))) if split else None
    dev = None
    if with_dev and data.has_split("dev"):
        dev_inputs = EvalInputs(
            data,
            "dev",
            prompts,
            negatives.get("dev"),
            cfg.dataset.get("dev_corpus_size"),
            cfg.seed,
            cfg.dataset.get("dev_corpus_fill", "bm25"),
            cfg.dataset.get("dev_queries"),
        )
        dev = build_evaluator(cfg.evaluator, dev_inputs)
    if with_dev and dev is None and (cfg.get("merge") or {}).get("alphas"):
        raise EmbtuneError(
            f"merge.alphas needs a dev split to choose the mix, and dataset '{data.name}' has none. Fix: "
            "dataset.dev_fraction > 0 (dev carved from train), or merge=none."
        )
    return Evaluation(split, final, dev)


def baselines(
    cfg: DictConfig,
    data: RetrievalData,
    evaluation: Evaluation,
    model: SentenceTransformer | None,
    resolved: ResolvedModel | None,
    dims: list[int] | None = None,
) -> tuple[dict[str, Any], bool]:
    """(metrics with ``bm25`` and ``zero_shot`` on the evaluation split, zero-shot cache hit). BM25 where the
    evaluator has an IR part and ``evaluate_bm25``; the base model (cached by its weights) with
    ``evaluate_zero_shot``; with Matryoshka ``dims``, its main metric per dimension too."""
    metrics: dict[str, Any] = {
        "dataset": data.name,
        "split": evaluation.split,
        "main_metric": cfg.evaluator.main_metric,
    }
    final = evaluation.final
    if final is not None and cfg.evaluate_bm25 and cfg.evaluator.get("bm25"):
        if bm25 := evaluate_bm25(final, **cfg.evaluator.bm25):
            metrics["bm25"] = bm25
    hit = False
    if final is not None and model is not None and resolved is not None and cfg.evaluate_zero_shot:
        metrics["zero_shot"], hit = cached_evaluation(
            Path(cfg.paths.cache_dir), model, resolved.weights_sha256, final, lambda: evaluate_model(model, final)
        )
        main = metrics["main_metric"]
        log.info("zero-shot %s: %.4f%s", main, metrics["zero_shot"].get(main, float("nan")), " (cached)" if hit else "")
        if dims:
            metrics["per_dim"] = {"zero_shot": evaluate_per_dim(model, final, dims, main)}
    return metrics, hit


def evaluate_shipped(
    metrics: dict[str, Any],
    model: SentenceTransformer,
    evaluation: Evaluation,
    shipped_is_base: bool = False,
    dims: list[int] | None = None,
) -> tuple[dict[str, Any], dict[str, float]]:
    """``fine_tuned`` (the model shipped) on the evaluation split, with the deltas; the zero-shot figures again when
    the base itself is shipped (same weights, same inputs: no second encoding). With Matryoshka ``dims``, the main
    metric per dimension too. Also the main metric per query of the split ({} where not measured here)."""
    queries: dict[str, float] = {}
    if evaluation.final is None:
        return metrics, queries
    if shipped_is_base and "zero_shot" in metrics:
        metrics["fine_tuned"] = dict(metrics["zero_shot"])
    else:
        metrics["fine_tuned"] = evaluate_model(model, evaluation.final)
        queries = per_query.values(evaluation.final, metrics["main_metric"])  # before per-dim runs overwrite it
    if dims:
        per_dim = metrics.setdefault("per_dim", {})
        per_dim["fine_tuned"] = (
            dict(per_dim["zero_shot"])
            if shipped_is_base and "zero_shot" in per_dim
            else evaluate_per_dim(model, evaluation.final, dims, metrics["main_metric"])
        )
    return (with_deltas(metrics) if "zero_shot" in metrics or "bm25" in metrics else metrics), queries


def base_on_dev(
    cfg: DictConfig, evaluation: Evaluation, model: SentenceTransformer, resolved: ResolvedModel
) -> tuple[dict[str, float], dict[str, float]]:
    """The base model on dev: its figures as the trainer logs them, and its main metric per dev query; both cached
    like the zero-shot figures (one dev pass for both on a miss), ({}, {}) without dev."""
    dev = evaluation.dev
    if dev is None:
        return {}, {}
    metric, cache_dir, measured = str(cfg.evaluator.main_metric), Path(cfg.paths.cache_dir), {}

    def evaluate() -> dict[str, float]:
        figures = dev(model)
        measured.update(per_query.values(dev, metric))
        return figures

    figures, _ = cached_evaluation(cache_dir, model, resolved.weights_sha256, dev, evaluate, variant="raw")
    if not metric.startswith("ndcg@"):  # per-query values are kept for retrieval's nDCG@k only
        return figures, {}

    def per_dev_query() -> dict[str, float]:
        if not measured:  # the figures came from the cache: one pass for the values
            evaluate()
        return dict(measured)

    queries, _ = cached_evaluation(
        cache_dir, model, resolved.weights_sha256, dev, per_dev_query, variant=f"per_query_{metric}"
    )
    return figures, queries


def shipped_per_query(
    model: SentenceTransformer,
    evaluation: Evaluation,
    metric: str,
    final_queries: dict[str, float],
    known_dev: dict[str, float] | None = None,
) -> dict[str, dict[str, float]]:
    """The shipped model's per-query values: on dev (the split that chose it: ``known_dev`` when training measured
    these very weights, else one more dev pass, on the dev corpus sample) and on the evaluation split
    (``final_queries``), for ``per_query.json``."""
    dev: dict[str, float] = dict(known_dev or {})
    if not dev and evaluation.dev is not None and metric.startswith("ndcg@"):
        evaluate_model(model, evaluation.dev)
        dev = per_query.values(evaluation.dev, metric)
    final_name = evaluation.split if evaluation.split and evaluation.split != "dev" else "dev_full_corpus"
    return {"dev": dev, final_name: final_queries}
