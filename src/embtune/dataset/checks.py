"""The run's data-integrity report: what loading reconciled, what the quality filter dropped, and whether the
evaluation split leaks from training. Non-zero counts print one warning line; ``dataset.strict=true`` makes them
errors. Written to metrics.json as ``train.data_checks`` and to prepare's stats.json.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from embtune.dataset.quality import dropped_counts
from embtune.dataset.types import RetrievalData
from embtune.errors import EmbtuneError

log = logging.getLogger("embtune.dataset.checks")

LOAD_CHECKS = ("duplicate_ids", "duplicate_judgements", "conflicting_judgements")
WHAT = {
    "duplicate_ids": "ids listed twice with the same text (kept once)",
    "duplicate_judgements": "judgements or pair rows repeated (kept once in the retrieval view)",
    "conflicting_judgements": "(query, document) judged twice with different values (the highest kept)",
    "eval_overlap_queries": "evaluation queries that are also training queries (inflates the fine-tuned figure)",
    "eval_overlap_pairs": "evaluation (query, relevant text) pairs also in training (inflates the fine-tuned figure)",
    "quality_dropped": "training judgements dropped by the quality filter",
}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _query_texts(data: RetrievalData, split: str) -> set[str]:
    texts = {_norm(data.queries[q]) for q in data.qrels.get(split, {})}
    return texts | {_norm(p[0]) for p in data.pairs.get(split, [])}


def _relevant_pairs(data: RetrievalData, split: str) -> set[tuple[str, str]]:
    pairs = {
        (_norm(data.queries[q]), _norm(data.corpus[d])) for q, docs in data.qrels.get(split, {}).items() for d in docs
    }
    return pairs | {(_norm(a), _norm(b)) for a, b, v in data.pairs.get(split, []) if v > 0}


def overlap(data: RetrievalData, eval_split: str | None, train_splits: tuple[str, ...]) -> dict[str, Any]:
    """Evaluation queries and (query, relevant text) pairs that also occur, normalised, in the training splits."""
    if eval_split is None:
        return {"eval_overlap_queries": 0, "eval_overlap_pairs": 0}
    seen_q = set().union(*(_query_texts(data, s) for s in train_splits))
    seen_p = set().union(*(_relevant_pairs(data, s) for s in train_splits))
    eval_q = _query_texts(data, eval_split)
    eval_p = _relevant_pairs(data, eval_split)
    leaked_q = sorted(eval_q & seen_q)
    leaked_p = sorted(eval_p & seen_p)
    return {
        "eval_overlap_queries": len(leaked_q),
        "eval_overlap_pairs": len(leaked_p),
        "_examples": {
            **({"eval_overlap_queries": f"'{leaked_q[0][:60]}'"} if leaked_q else {}),
            **({"eval_overlap_pairs": f"query '{leaked_p[0][0][:60]}'"} if leaked_p else {}),
        },
    }


def build_report(
    data: RetrievalData, quality: dict[str, int], eval_split: str | None, train_splits: tuple[str, ...]
) -> dict[str, Any]:
    """The counts of every check (zeros included: a clean report says so)."""
    leaks = overlap(data, eval_split, train_splits)
    dropped = dropped_counts(quality)
    report: dict[str, Any] = {k: data.checks.get(k, 0) for k in LOAD_CHECKS}
    report["eval_split"] = eval_split
    report["eval_overlap_queries"] = leaks["eval_overlap_queries"]
    report["eval_overlap_pairs"] = leaks["eval_overlap_pairs"]
    report["quality_dropped"] = dropped
    report["examples"] = {**data.check_examples, **leaks.get("_examples", {})}
    report["columns"] = dict(data.columns)  # files read through other names (sentence-transformers', a mapping)
    return report


def problems(report: dict[str, Any]) -> list[str]:
    """One phrase per non-zero check, with where it first happened."""
    out = []
    for key in (*LOAD_CHECKS, "eval_overlap_queries", "eval_overlap_pairs"):
        if report.get(key):
            example = report["examples"].get(key)
            out.append(f"{report[key]} {key}: {WHAT[key]}" + (f", first: {example}" if example else ""))
    dropped = {k: v for k, v in report.get("quality_dropped", {}).items() if v}
    if dropped:
        out.append(f"{sum(dropped.values())} quality_dropped ({', '.join(f'{k} {v}' for k, v in dropped.items())})")
    return out


def enforce(report: dict[str, Any], dataset: str, strict: bool) -> None:
    """Warn on one line when any check is non-zero; with ``strict`` stop instead."""
    found = problems(report)
    if not found:
        log.info("data checks (%s): clean", dataset)
        return
    if strict:
        raise EmbtuneError(
            f"dataset '{dataset}' failed its data checks (dataset.strict=true): {found[0]}"
            + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
            + ". Fix the data, or set dataset.strict=false to go on with a warning."
        )
    log.warning("data checks (%s): %s. See train.data_checks in metrics.json.", dataset, "; ".join(found))
