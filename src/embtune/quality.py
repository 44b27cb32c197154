"""The quality/ config group: drop training (query, positive) judgements that teach nothing, report every drop."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
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


def filter_split(
    data: RetrievalData, split: str, cfg: Any, as_written: bool = False
) -> tuple[RetrievalData, dict[str, int]]:
    """Apply the quality rules to one split; returns the filtered data and {rule: dropped, total, kept}.

    Rules (thresholds from quality/ config), in order: query shorter than ``min_query_words``; positive shorter
    than ``min_positive_words``; query verbatim inside its positive (``drop_query_in_positive``); the same
    (query text, positive text) seen before (``drop_duplicates``). Only ever applied to training data, and not to
    pair rows that train as written (``as_written``: scored / binary formats on pair files).
    """
    if data.pairs.get(split) and (as_written or split not in data.qrels):  # pair rows train as written
        n = len(data.pairs[split])
        return data, {
            "short_query": 0,
            "short_positive": 0,
            "query_in_positive": 0,
            "duplicate": 0,
            "total": n,
            "kept": n,
        }
    total = sum(len(d) for d in data.split(split).values())
    report = {"short_query": 0, "short_positive": 0, "query_in_positive": 0, "duplicate": 0}
    if not cfg.enabled:
        return data, {**report, "total": total, "kept": total}
    seen: set[tuple[str, str]] = set()
    kept_qrels: Qrels = {}
    for qid, docs in sorted(data.split(split).items()):
        query = data.queries[qid]
        for did, rel in sorted(docs.items()):
            positive = data.corpus[did]
            key = (query.strip().lower(), positive.strip().lower())
            if count_words(query) < cfg.min_query_words:
                report["short_query"] += 1
            elif count_words(positive) < cfg.min_positive_words:
                report["short_positive"] += 1
            elif cfg.drop_query_in_positive and key[0] in key[1]:
                report["query_in_positive"] += 1
            elif cfg.drop_duplicates and key in seen:
                report["duplicate"] += 1
            else:
                seen.add(key)
                kept_qrels.setdefault(qid, {})[did] = rel
    dropped = {k: v for k, v in report.items() if v}
    report["total"] = total
    report["kept"] = sum(len(d) for d in kept_qrels.values())
    log.info("quality filter (%s/%s): kept %d, dropped %s", data.name, split, report["kept"], dropped or "none")
    if total and not report["kept"]:
        raise EmbtuneError(
            f"the quality filter dropped all {total} training judgements of '{data.name}' "
            f"({', '.join(f'{k}: {v}' for k, v in dropped.items())}). Fix: lower quality.min_query_words / "
            "quality.min_positive_words, or train without the filter (quality=none)."
        )
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


@dataclass
class QualityFilter:
    """The quality/ config's rules (its ``_target_``); called on a split, it filters it (see ``filter_split``)."""

    enabled: bool = True
    min_query_words: int = 2
    min_positive_words: int = 5
    drop_query_in_positive: bool = True
    drop_duplicates: bool = True
    warn_below: int = 500

    def __call__(self, data: RetrievalData, split: str, as_written: bool = False) -> tuple[RetrievalData, dict]:
        return filter_split(data, split, self, as_written)
