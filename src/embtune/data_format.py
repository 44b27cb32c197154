"""Turn RetrievalData (+ negatives) into the training rows a loss expects: pairs, triplets, scored, binary."""

from __future__ import annotations

import logging

from datasets import Dataset
from omegaconf import DictConfig

from embtune.dataset.types import RetrievalData
from embtune.errors import EmbtuneError

log = logging.getLogger(__name__)


def trains_as_written(data: RetrievalData, split: str, fmt: DictConfig) -> bool:
    """Pair rows (STS, scored or labeled pair files) in the scored / binary format: used exactly as the file holds
    them, so neither mining nor the quality filter touches them."""
    return bool(data.pairs.get(split)) and fmt.name in ("scored", "binary")


def build_rows(data: RetrievalData, split: str, fmt: DictConfig, negatives: dict[str, list[str]] | None) -> Dataset:
    """Rows of one split in the configured format; columns in the order sentence-transformers reads them.

    Pair data (STS, scored or labeled pair files) in the scored / binary format trains on exactly its rows and
    values; the pairs / triplets formats use its retrieval view (query -> relevant documents, negatives).
    """
    if trains_as_written(data, split, fmt):
        return _pair_rows(data, split, fmt)
    qrels = data.split(split)
    negatives = negatives or {}
    if fmt.needs_negatives and not any(negatives.get(q) for q in qrels):
        raise EmbtuneError(
            f"data_format={fmt.name} needs negatives, but dataset '{data.name}' has none for split '{split}'. "
            "Mine them (mining=bm25) or use data_format=pairs."
        )
    per_pair = fmt.get("negatives_per_pair")
    rows: list[dict] = []
    without_negatives = 0
    for qid in sorted(qrels):
        query = data.queries[qid]
        max_rel = max(qrels[qid].values())
        negs = [data.corpus[d] for d in negatives.get(qid, [])[: per_pair or None]]
        if fmt.needs_negatives and not negs:
            without_negatives += 1
        for did, rel in sorted(qrels[qid].items()):
            positive = data.corpus[did]
            if fmt.name == "pairs":
                rows.append({"anchor": query, "positive": positive})
            elif fmt.name == "triplets":
                rows.extend({"anchor": query, "positive": positive, "negative": n} for n in negs)
            elif fmt.name == "scored":
                rows.append({"sentence1": query, "sentence2": positive, "score": rel / max_rel})
            elif fmt.name == "binary":
                rows.append({"sentence1": query, "sentence2": positive, "label": 1})
            else:
                raise EmbtuneError(f"unknown data_format '{fmt.name}': use pairs, triplets, scored or binary.")
        if fmt.name in ("scored", "binary"):
            label = fmt.label_column
            rows.extend({"sentence1": query, "sentence2": n, label: 0.0 if label == "score" else 0} for n in negs)
    if without_negatives:
        log.warning(
            "%s/%s: %d of %d queries have no negative (their pairs are missing from triplets; scored/binary keep "
            "their positives) - format %s",
            data.name,
            split,
            without_negatives,
            len(qrels),
            fmt.name,
        )
    if not rows:
        raise EmbtuneError(f"dataset '{data.name}' split '{split}' gave no {fmt.name} rows.")
    return Dataset.from_list(rows)


def _pair_rows(data: RetrievalData, split: str, fmt: DictConfig) -> Dataset:
    """Pair rows as written: (sentence1, sentence2, score) or (sentence1, sentence2, label)."""
    rows = data.pair_rows(split)
    if fmt.name == "binary" and data.pair_values != "label":
        raise EmbtuneError(
            f"dataset '{data.name}' holds graded scores, and data_format=binary needs 0/1 labels. Fix: train on the "
            "scores with data_format=scored (loss=cosent), or give the file a 'label' column."
        )
    values = [float(r[2]) for r in rows] if fmt.name == "scored" else [int(r[2]) for r in rows]
    return Dataset.from_dict(
        {"sentence1": [r[0] for r in rows], "sentence2": [r[1] for r in rows], fmt.label_column: values}
    )
