"""Per-query scores of a run and paired comparisons between two sets of them.

A mean over 40 or 300 queries moves by a few points with the sample; whether two models really differ is a question
about the same queries scored by both. A run writes ``per_query.json`` (the shipped model's nDCG@k per dev and per
evaluation-split query); the sweep summary and the advisor bootstrap the paired differences from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

from embtune.evaluation.evaluators import GradedIREvaluator
from embtune.run.files import write_json_atomic

FILE = "per_query.json"


def values(evaluator: SentenceEvaluator | None, metric: str) -> dict[str, float]:
    """The evaluator's last evaluation per query for ``metric`` (nDCG@k of a retrieval evaluator), else {}."""
    if evaluator is None or not metric.startswith("ndcg@"):
        return {}
    ir = next((p for p in getattr(evaluator, "evaluators", [evaluator]) if isinstance(p, GradedIREvaluator)), None)
    return dict(ir.per_query_ndcg.get(int(metric.split("@")[1]), {})) if ir is not None else {}


def write(run_dir: Path, metric: str, splits: dict[str, dict[str, float]]) -> None:
    """``per_query.json``: {"metric", split name: {query id: value}}; nothing when no split has values."""
    kept = {name: scores for name, scores in splits.items() if scores}
    if kept:
        write_json_atomic(run_dir / FILE, {"metric": metric, **kept})


def load(run_dir: Path, split: str, metric: str) -> dict[str, float]:
    """A run's per-query values of ``split`` for ``metric``; {} when the run kept none (older runs, other metrics)."""
    path = run_dir / FILE
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return dict(data.get(split, {})) if data.get("metric") == metric else {}


def paired_interval(
    after: dict[str, float], before: dict[str, float], n: int, interval: float, seed: int
) -> tuple[float, float] | None:
    """The ``interval`` central range of the mean per-query difference (after - before) over the queries both
    scored, resampling those queries with replacement ``n`` times; None when they share no query."""
    queries = sorted(set(after) & set(before))
    if not queries or n <= 0:
        return None
    gains = np.array([after[q] - before[q] for q in queries])
    rng = np.random.default_rng(seed)
    means = gains[rng.integers(0, len(gains), size=(n, len(gains)))].mean(axis=1)
    tail = (1 - interval) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))
