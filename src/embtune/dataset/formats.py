"""The data_format/ config group: turn RetrievalData (+ negatives) into the training rows a loss expects.

Each format is one row builder here, named by its YAML's ``rows`` (``_target_``, ``_partial_``), declaring what it
needs with ``@needs`` (``negatives``; ``as_written``: pair files' own rows and values are used unchanged).
Adding a format = one function + one YAML.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from datasets import Dataset
from hydra.utils import instantiate
from omegaconf import DictConfig

from embtune.config.needs import declares, needs
from embtune.dataset.types import RetrievalData
from embtune.errors import EmbtuneError

log = logging.getLogger(__name__)

RowBuilder = Callable[..., Dataset]


def row_builder(fmt: DictConfig) -> RowBuilder:
    """The configured format's row builder (``data_format.rows``)."""
    return instantiate(fmt.rows)


def format_needs(fmt: DictConfig, what: str) -> bool:
    """Whether the configured format declared ``what``."""
    builder = row_builder(fmt)
    return declares(builder, what)


def trains_as_written(data: RetrievalData, split: str, fmt: DictConfig) -> bool:
    """Pair rows (STS, scored or labeled pair files) in a format that uses them as written (scored, binary): neither
    mining nor the quality filter touches them."""
    return bool(data.pairs.get(split)) and format_needs(fmt, "as_written")


def build_rows(data: RetrievalData, split: str, fmt: DictConfig, negatives: dict[str, list[str]] | None) -> Dataset:
    """Rows of one split in the configured format; columns in the order sentence-transformers reads them."""
    return row_builder(fmt)(data, split, negatives or {})


def _judgements(
    data: RetrievalData, split: str, negatives: dict[str, list[str]], per_pair: int | None, fmt: str, need: bool
) -> Iterator[tuple[str, dict[str, int], list[str]]]:
    """(query text, {doc id: relevance}, negative texts) per query, in id order; warns about queries without
    negatives when the format needs them, and fails when no query has any."""
    qrels = data.split(split)
    if need and not any(negatives.get(q) for q in qrels):
        raise EmbtuneError(
            f"data_format={fmt} needs negatives, but dataset '{data.name}' has none for split '{split}'. "
            "Mine them (mining=bm25) or use data_format=pairs."
        )
    without = 0
    for qid in sorted(qrels):
        negs = [data.corpus[d] for d in negatives.get(qid, [])[: per_pair or None]]
        without += need and not negs
        yield data.queries[qid], qrels[qid], negs
    if without:
        log.warning(
            "%s/%s: %d of %d queries have no negative (their pairs are missing from triplets; scored/binary keep "
            "their positives) - format %s",
            data.name,
            split,
            without,
            len(qrels),
            fmt,
        )


def _dataset(rows: list[dict[str, Any]], data: RetrievalData, split: str, fmt: str) -> Dataset:
    if not rows:
        raise EmbtuneError(f"dataset '{data.name}' split '{split}' gave no {fmt} rows.")
    return Dataset.from_list(rows)


def pair_rows(data: RetrievalData, split: str, negatives: dict[str, list[str]]) -> Dataset:
    """(anchor, positive): one row per relevant (query, document)."""
    rows = [
        {"anchor": query, "positive": data.corpus[did]}
        for query, docs, _ in _judgements(data, split, negatives, None, "pairs", False)
        for did in sorted(docs)
    ]
    return _dataset(rows, data, split, "pairs")


@needs("negatives")
def triplet_rows(
    data: RetrievalData, split: str, negatives: dict[str, list[str]], negatives_per_pair: int | None = None
) -> Dataset:
    """(anchor, positive, negative): each relevant pair once per negative."""
    rows = [
        {"anchor": query, "positive": data.corpus[did], "negative": neg}
        for query, docs, negs in _judgements(data, split, negatives, negatives_per_pair, "triplets", True)
        for did in sorted(docs)
        for neg in negs
    ]
    return _dataset(rows, data, split, "triplets")


@needs("negatives")
def multi_negative_rows(
    data: RetrievalData, split: str, negatives: dict[str, list[str]], negatives_per_pair: int = 3
) -> Dataset:
    """(anchor, positive, negative_1 .. negative_n): each relevant pair once, with n of its query's hard negatives
    in the same row (MNRL scores the positive against all of them and the batch). A pair whose query has fewer
    than n negatives is left out, counted in a warning (rows need the same columns)."""
    if not isinstance(negatives_per_pair, int) or isinstance(negatives_per_pair, bool) or negatives_per_pair < 1:
        raise EmbtuneError(
            f"data_format.negatives_per_pair={negatives_per_pair!r}: multi_negatives needs a whole number >= 1 "
            "(the negative columns of each row). Fix: e.g. data_format.negatives_per_pair=3, mining.num_negatives=3."
        )
    rows, short = [], 0
    for query, docs, negs in _judgements(data, split, negatives, negatives_per_pair, "multi_negatives", True):
        for did in sorted(docs):
            if len(negs) < negatives_per_pair:
                short += 1
                continue
            rows.append(
                {"anchor": query, "positive": data.corpus[did]} | {f"negative_{i + 1}": n for i, n in enumerate(negs)}
            )
    if short:
        log.warning(
            "%s/%s: %d pairs left out of multi_negatives rows: their query has fewer than %d negatives (mine more: "
            "mining.num_negatives >= %d, or lower data_format.negatives_per_pair)",
            data.name,
            split,
            short,
            negatives_per_pair,
            negatives_per_pair,
        )
    return _dataset(rows, data, split, "multi_negatives")


@needs("negatives", "as_written")
def scored_rows(
    data: RetrievalData, split: str, negatives: dict[str, list[str]], negatives_per_pair: int | None = None
) -> Dataset:
    """(sentence1, sentence2, score): positives at relevance / the query's max relevance, negatives at 0.0; pair
    files' rows and scores as written."""
    if data.pairs.get(split):
        return _as_written(data, split, "score")
    rows = []
    for query, docs, negs in _judgements(data, split, negatives, negatives_per_pair, "scored", True):
        top = max(docs.values())
        rows += [
            {"sentence1": query, "sentence2": data.corpus[d], "score": rel / top} for d, rel in sorted(docs.items())
        ]
        rows += [{"sentence1": query, "sentence2": n, "score": 0.0} for n in negs]
    return _dataset(rows, data, split, "scored")


@needs("negatives", "as_written")
def binary_rows(
    data: RetrievalData, split: str, negatives: dict[str, list[str]], negatives_per_pair: int | None = None
) -> Dataset:
    """(sentence1, sentence2, label): 1 for relevant pairs, 0 for negatives; labeled pair files as written."""
    if data.pairs.get(split):
        return _as_written(data, split, "label")
    rows = []
    for query, docs, negs in _judgements(data, split, negatives, negatives_per_pair, "binary", True):
        rows += [{"sentence1": query, "sentence2": data.corpus[d], "label": 1} for d in sorted(docs)]
        rows += [{"sentence1": query, "sentence2": n, "label": 0} for n in negs]
    return _dataset(rows, data, split, "binary")


def _as_written(data: RetrievalData, split: str, column: str) -> Dataset:
    """Pair rows as written: (sentence1, sentence2, score) or (sentence1, sentence2, label)."""
    rows = data.pair_rows(split)
    if column == "label" and data.pair_values != "label":
        raise EmbtuneError(
            f"dataset '{data.name}' holds graded scores, and data_format=binary needs 0/1 labels. Fix: train on the "
            "scores with data_format=scored (loss=cosent), or give the file a 'label' column."
        )
    values = [float(r[2]) for r in rows] if column == "score" else [int(r[2]) for r in rows]
    return Dataset.from_dict({"sentence1": [r[0] for r in rows], "sentence2": [r[1] for r in rows], column: values})
