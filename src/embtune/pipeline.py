"""The stages every command shares: data -> evaluators -> baselines -> (train, in train.py) -> evaluate -> record.

``prepare`` runs the data stage alone, ``eval`` the data, evaluator, baseline and record stages, ``train`` all of
them with fine-tuning in between; so a figure in metrics.json means the same thing whichever command wrote it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset
from hydra.utils import instantiate
from omegaconf import DictConfig
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

from embtune import per_query
from embtune.batching import Judged, judged_texts
from embtune.cache import cached_evaluation
from embtune.data_format import build_rows, format_needs, trains_as_written
from embtune.dataset.checks import build_report, enforce
from embtune.dataset.splits import carve_dev_split, evaluation_split, sample_positives
from embtune.dataset.types import RetrievalData
from embtune.errors import EmbtuneError
from embtune.evaluator import (
    EvalInputs,
    build_evaluator,
    evaluate_bm25,
    evaluate_model,
    evaluate_per_dim,
    evaluator_needs,
)
from embtune.loss import matryoshka_dims
from embtune.metrics_table import format_table, with_deltas
from embtune.mining import mine_cached
from embtune.model import ResolvedModel, model_prompts
from embtune.run.files import write_json_atomic

log = logging.getLogger("embtune.pipeline")


# -- data ---------------------------------------------------------------------------------------------------------


@dataclass
class PreparedData:
    """The loaded data (all splits) and the training rows built from it, with what each step did."""

    data: RetrievalData
    rows: dict[str, Dataset]
    negatives: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # split -> query id -> doc ids
    judged: Judged = field(default_factory=dict)  # anchor text -> relevant texts, before the filter (batching)
    stats: dict[str, Any] = field(default_factory=dict)


def load_data(cfg: DictConfig) -> RetrievalData:
    """The dataset config's source, with a dev split carved from train when it has none."""
    return carve_dev_split(instantiate(cfg.dataset.source), cfg.dataset.dev_fraction, cfg.seed)


def combine_negatives(source: dict[str, list[str]], mined: dict[str, list[str]]) -> dict[str, list[str]]:
    """The source's own (labeled) negatives first, mined ones after: mining adds, never replaces."""
    return {
        q: source.get(q, []) + [d for d in mined.get(q, []) if d not in source.get(q, [])]
        for q in set(mined) | set(source)
    }


def data_splits(cfg: DictConfig) -> tuple[str, ...]:
    """The splits a run builds rows (and negatives) for: held-out ones too when an evaluator needs negatives."""
    return ("train", "dev", "test") if evaluator_needs(cfg.evaluator, "negatives") else ("train",)


def prepare_data(cfg: DictConfig, splits: tuple[str, ...] = ("train",)) -> PreparedData:
    """Source -> dev split -> negatives -> quality filter -> data checks -> rows in ``cfg.data_format``.

    Splits the source does not have (no dev with dataset.dev_fraction=0, no test file) are skipped, except train.
    Negatives are mined for train when the format needs them, for held-out splits when an evaluator does.
    """
    started = time.perf_counter()
    data = load_data(cfg)
    splits = tuple(s for s in splits if s == "train" or data.has_split(s))
    fmt = cfg.data_format
    stats: dict[str, Any] = {"dataset": data.name, "fingerprint": data.fingerprint(), "format": fmt.name}
    # mine before filtering: a positive the filter drops must still never come back as its query's negative
    negatives: dict[str, dict[str, list[str]]] = {}
    stats["mining"] = {}
    for split in splits:
        negatives[split] = data.negatives
        held_out_for_eval = split != "train" and "evaluator" in cfg  # prepare alone builds rows for every split
        wanted = evaluator_needs(cfg.evaluator, "negatives") if held_out_for_eval else format_needs(fmt, "negatives")
        if not wanted and cfg.mining.name != "none" and split == "train":
            log.warning("mining=%s skipped: data_format=%s trains without negatives", cfg.mining.name, fmt.name)
        if wanted and cfg.mining.name != "none" and data.qrels.get(split) and not trains_as_written(data, split, fmt):
            mined, stats["mining"][split] = mine_cached(data, split, cfg.mining, Path(cfg.paths.cache_dir))
            # the source's own (labeled) negatives first, mined ones after: mining adds, never replaces
            negatives[split] = combine_negatives(data.negatives, mined)
    judged = judged_texts(data, "train")
    data, stats["quality"] = instantiate(cfg.quality)(data, "train", trains_as_written(data, "train", fmt))
    if (k := cfg.dataset.get("positives_per_query")) and not trains_as_written(data, "train", fmt):
        data, stats["positives_per_query"] = sample_positives(data, "train", int(k), cfg.seed)
        log.info("positives per query: at most %d: %s", k, stats["positives_per_query"])
    eval_split = evaluation_split(data)
    stats["data_checks"] = build_report(
        data, stats["quality"], eval_split, ("train", "dev") if eval_split == "test" else ("train",)
    )
    enforce(stats["data_checks"], data.name, bool(cfg.dataset.get("strict", False)))
    rows = {split: build_rows(data, split, fmt, negatives[split]) for split in splits}
    stats["rows"] = {split: len(r) for split, r in rows.items()}
    stats["queries"] = {split: len(q) for split, q in data.qrels.items()}
    stats["pairs"] = {split: len(p) for split, p in data.pairs.items()}
    stats["corpus"] = len(data.corpus)
    stats["seconds"] = round(time.perf_counter() - started, 3)
    log.info(
        "prepared %s: %s rows (%s) in %.1f s",
        data.name,
        ", ".join(f"{s} {n}" for s, n in stats["rows"].items()),
        fmt.name,
        stats["seconds"],
    )
    return PreparedData(data, rows, negatives, stats=stats, judged=judged)


# -- evaluators and baselines ---------------------------------------------------------------------------------------


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
) -> tuple[dict[str, Any], bool]:
    """(metrics with ``bm25`` and ``zero_shot`` on the evaluation split, zero-shot cache hit). BM25 where the
    evaluator has an IR part and ``evaluate_bm25``; the base model (cached by its weights) with
    ``evaluate_zero_shot``."""
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
        if dims := matryoshka_dims(cfg.loss) if "loss" in cfg else []:
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


# -- record ---------------------------------------------------------------------------------------------------------


def record(run_dir: Path, metrics: dict[str, Any], info: dict[str, Any]) -> None:
    """run_info.json, the console table, then metrics.json last: its presence means "finished"."""
    write_json_atomic(run_dir / "run_info.json", info)
    print(format_table(metrics), flush=True)
    write_json_atomic(run_dir / "metrics.json", metrics)
