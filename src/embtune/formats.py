"""Turn RetrievalData (+ negatives) into the training rows a loss expects: pairs, triplets, scored, binary."""

from __future__ import annotations

import logging

from datasets import Dataset
from omegaconf import DictConfig

from embtune.data import RetrievalData
from embtune.errors import EmbtuneError

log = logging.getLogger(__name__)


def build_rows(data: RetrievalData, split: str, fmt: DictConfig, negatives: dict[str, list[str]] | None) -> Dataset:
    """Rows of one split in the configured format; columns in the order sentence-transformers reads them."""
    if split not in data.qrels and data.scored_pairs:
        return _sentence_pair_rows(data, split, fmt)
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


def _sentence_pair_rows(data: RetrievalData, split: str, fmt: DictConfig) -> Dataset:
    """STS-style data: (sentence1, sentence2, score) rows; only the scored format fits it."""
    if fmt.name != "scored":
        raise EmbtuneError(
            f"dataset '{data.name}' holds scored sentence pairs: train it with data_format=scored "
            f"(e.g. loss=cosent), not data_format={fmt.name}."
        )
    rows = data.pairs(split)
    return Dataset.from_dict(
        {"sentence1": [r[0] for r in rows], "sentence2": [r[1] for r in rows], "score": [r[2] for r in rows]}
    )
