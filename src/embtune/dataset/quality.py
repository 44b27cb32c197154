"""The quality/ config group: drop training (query, positive) judgements that teach nothing, report every drop."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from statistics import median
from typing import Any

from embtune.dataset.types import Qrels, RetrievalData
from embtune.errors import EmbtuneError

log = logging.getLogger(__name__)

# scripts written without spaces between words (Han, kana, Thai, Lao, Khmer, Myanmar): each character counts as
# a word, as a space-delimited word would
_UNSPACED = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_UNSPACED}]|[^\s{_UNSPACED}]+")


def count_words(text: str) -> int:
    """Words in any script: whitespace-separated runs, and single characters of scripts that use no spaces."""
    return len(_WORD.findall(text))


def dataset_lengths(data: RetrievalData) -> tuple[float, float]:
    """Median words of the dataset's own queries (every split, test included) and of its documents: what "short"
    is measured against, so keyword-search logs and sentence-length claims each keep their typical rows."""
    queries = [count_words(t) for t in data.queries.values()] or [0]
    docs = [count_words(t) for t in data.corpus.values()] or [0]
    return float(median(queries)), float(median(docs))


def thresholds(data: RetrievalData, cfg: Any) -> dict[str, float]:
    """The word counts below which a query / positive is "short", and the longest query still treated as keywords.

    ``min_query_words`` / ``min_positive_words`` set a fixed count; null (the default) means relative: below
    ``short_query_ratio`` x the median query and ``short_positive_ratio`` x the median document."""
    query_median, doc_median = dataset_lengths(data)
    fixed_q, fixed_p = cfg.get("min_query_words"), cfg.get("min_positive_words")
    return {
        "min_query_words": float(fixed_q) if fixed_q is not None else cfg.get("short_query_ratio", 0.25) * query_median,
        "min_positive_words": (
            float(fixed_p) if fixed_p is not None else cfg.get("short_positive_ratio", 0.1) * doc_median
        ),
        "keyword_query_words": float(cfg.get("keyword_query_words", 0)),
        "median_query_words": query_median,
        "median_document_words": doc_median,
    }


def filter_split(
    data: RetrievalData, split: str, cfg: Any, as_written: bool = False
) -> tuple[RetrievalData, dict[str, Any]]:
    """Apply the quality rules to one split; returns the filtered data and {rule: dropped, total, kept}.

    Rules (see ``thresholds``), in order: query shorter than the dataset's own queries (``short_query``); positive
    shorter than its documents (``short_positive``); a query of more than ``keyword_query_words`` words verbatim
    inside its positive (``query_in_positive``: a copied sentence; keyword queries inside their documents are how
    keyword search works); the same (query text, positive text) seen before (``drop_duplicates``). A filter that
    would drop more than ``max_drop`` of the judgements stops with one line. Only ever applied to training data,
    and not to pair rows that train as written (``as_written``: scored / binary formats on pair files).
    """
    report: dict[str, Any] = {"short_query": 0, "short_positive": 0, "query_in_positive": 0, "duplicate": 0}
    if data.pairs.get(split) and (as_written or split not in data.qrels):  # pair rows train as written
        n = len(data.pairs[split])
        return data, {**report, "total": n, "kept": n}
    total = sum(len(d) for d in data.split(split).values())
    if not cfg.enabled:
        return data, {**report, "total": total, "kept": total}
    limits = thresholds(data, cfg)
    seen: set[tuple[str, str]] = set()
    kept_qrels: Qrels = {}
    for qid, docs in sorted(data.split(split).items()):
        query = data.queries[qid]
        query_words = count_words(query)
        for did, rel in sorted(docs.items()):
            positive = data.corpus[did]
            key = (query.strip().lower(), positive.strip().lower())
            if query_words < limits["min_query_words"]:
                report["short_query"] += 1
            elif count_words(positive) < limits["min_positive_words"]:
                report["short_positive"] += 1
            elif cfg.drop_query_in_positive and query_words > limits["keyword_query_words"] and key[0] in key[1]:
                report["query_in_positive"] += 1
            elif cfg.drop_duplicates and key in seen:
                report["duplicate"] += 1
            else:
                seen.add(key)
                kept_qrels.setdefault(qid, {})[did] = rel
    dropped = {k: v for k, v in report.items() if v}
    report["total"] = total
    report["kept"] = sum(len(d) for d in kept_qrels.values())
    report["thresholds"] = {k: round(v, 2) for k, v in limits.items()}
    log.info("quality filter (%s/%s): kept %d, dropped %s", data.name, split, report["kept"], dropped or "none")
    check_drop_share(data.name, report, dropped, cfg)
    if report["kept"] < cfg.warn_below:
        log.warning(
            "only %d training examples remain in %s/%s (< %d): fine-tuning this little data often fails to beat "
            "the zero-shot model; compare the baselines in metrics.json before using the result",
            report["kept"],
            data.name,
            split,
            cfg.warn_below,
        )
    return replace(data, qrels={**data.qrels, split: kept_qrels}), report


def dropped_counts(report: dict[str, Any]) -> dict[str, int]:
    """The filter report's per-rule drop counts (not total / kept / the thresholds it used)."""
    return {k: v for k, v in report.items() if k in RULE_KEYS}


# the key that sets each rule's threshold, named in the stop line
RULE_KEYS = {
    "short_query": "lower quality.short_query_ratio (or quality.min_query_words)",
    "short_positive": "lower quality.short_positive_ratio (or quality.min_positive_words)",
    "query_in_positive": "raise quality.keyword_query_words (or quality.drop_query_in_positive=false)",
    "duplicate": "set quality.drop_duplicates=false",
}


def check_drop_share(name: str, report: dict[str, Any], dropped: dict[str, int], cfg: Any) -> None:
    """Stop when the filter would drop more than ``quality.max_drop`` of the training judgements: a rule that removes
    that much is more likely wrong for the data than the data wrong for training."""
    total = report["total"]
    if not total or not dropped:
        return
    if not report["kept"]:
        raise EmbtuneError(
            f"the quality filter dropped all {total} training judgements of '{name}' "
            f"({', '.join(f'{k}: {v}' for k, v in dropped.items())}). Fix: lower quality.min_query_words / "
            "quality.min_positive_words, or train without the filter (quality=none)."
        )
    max_drop = cfg.get("max_drop")
    share = 1 - report["kept"] / total
    if max_drop is None or share <= max_drop:
        return
    rule, count = max(dropped.items(), key=lambda kv: kv[1])
    raise EmbtuneError(
        f"the quality filter would drop {share:.0%} of the training judgements of '{name}' (> quality.max_drop="
        f"{max_drop}); most by rule {rule}: {count} of {total}. Fix: {RULE_KEYS[rule]}, raise "
        f"quality.max_drop={min(1.0, round(share + 0.05, 2))}, or train without the filter (quality=none)."
    )


@dataclass
class QualityFilter:
    """The quality/ config's rules (its ``_target_``); called on a split, it filters it (see ``filter_split``)."""

    enabled: bool = True
    min_query_words: int | None = None
    min_positive_words: int | None = None
    short_query_ratio: float = 0.25
    short_positive_ratio: float = 0.1
    keyword_query_words: int = 4
    drop_query_in_positive: bool = True
    drop_duplicates: bool = True
    max_drop: float | None = 0.2
    warn_below: int = 500

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def __call__(self, data: RetrievalData, split: str, as_written: bool = False) -> tuple[RetrievalData, dict]:
        return filter_split(data, split, self, as_written)
