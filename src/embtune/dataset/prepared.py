"""The data stage every command shares: source -> dev split -> negatives -> quality filter -> checks -> rows.

``prepare`` runs it alone, ``eval`` and ``train`` before their evaluators; so the rows a figure was measured on
are built the same way whichever command wrote it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset
from hydra.utils import instantiate
from omegaconf import DictConfig

from embtune.dataset.checks import build_report, enforce
from embtune.dataset.formats import build_rows, format_needs, trains_as_written
from embtune.dataset.mining import mine_cached
from embtune.dataset.pseudo import pseudo_queries
from embtune.dataset.samplers import Judged, judged_texts
from embtune.dataset.splits import carve_dev_split, evaluation_split, sample_positives
from embtune.dataset.types import RetrievalData

log = logging.getLogger(__name__)


@dataclass
class PreparedData:
    """The loaded data (all splits) and the training rows built from it, with what each step did."""

    data: RetrievalData
    rows: dict[str, Dataset]
    negatives: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # split -> query id -> doc ids
    judged: Judged = field(default_factory=dict)  # anchor text -> relevant texts, before the filter (batching)
    stats: dict[str, Any] = field(default_factory=dict)


def load_data(cfg: DictConfig) -> RetrievalData:
    """The dataset config's source (its queries replaced by pseudo-queries when a generator is configured), with a
    dev split carved from train when it has none."""
    data = instantiate(cfg.dataset.source)
    generator = cfg.get("generator") or {}
    if generator.get("build"):  # adapting from the corpus alone: the labelled train and dev queries are ignored
        data, data.generated = pseudo_queries(
            data, instantiate(generator.build), int(generator.min_words), float(generator.max_doc_share),
            float(cfg.dataset.dev_fraction), int(cfg.seed),
        )  # fmt: skip
        log.warning(
            "generator=%s: the checkpoint is chosen on the pseudo-queries of held-out documents "
            "(dataset.dev_fraction=%s), not on labelled queries%s",
            generator.name,
            cfg.dataset.dev_fraction,
            "; test is the source's labelled test split" if data.has_split("test") else "; no labelled test split",
        )
    return carve_dev_split(data, cfg.dataset.dev_fraction, cfg.seed)


def combine_negatives(source: dict[str, list[str]], mined: dict[str, list[str]]) -> dict[str, list[str]]:
    """The source's own (labeled) negatives first, mined ones after: mining adds, never replaces."""
    return {
        q: source.get(q, []) + [d for d in mined.get(q, []) if d not in source.get(q, [])]
        for q in set(mined) | set(source)
    }


def data_splits(held_out_negatives: bool) -> tuple[str, ...]:
    """The splits a run builds rows (and negatives) for: held-out ones too when an evaluator needs negatives."""
    return ("train", "dev", "test") if held_out_negatives else ("train",)


def prepare_data(
    cfg: DictConfig, splits: tuple[str, ...] = ("train",), held_out_negatives: bool | None = None
) -> PreparedData:
    """Source -> dev split -> negatives -> quality filter -> data checks -> rows in ``cfg.data_format``.

    Splits the source does not have (no dev with dataset.dev_fraction=0, no test file) are skipped, except train.
    Negatives are mined for train when the format needs them; for held-out splits when ``held_out_negatives``
    (an evaluator needs them), or as for train when None (``prepare`` alone builds rows for every split).
    """
    started = time.perf_counter()
    data = load_data(cfg)
    splits = tuple(s for s in splits if s == "train" or data.has_split(s))
    fmt = cfg.data_format
    stats: dict[str, Any] = {"dataset": data.name, "fingerprint": data.fingerprint(), "format": fmt.name}
    if data.generated:
        stats["pseudo_queries"] = data.generated
    # mine before filtering: a positive the filter drops must still never come back as its query's negative
    negatives: dict[str, dict[str, list[str]]] = {}
    stats["mining"] = {}
    for split in splits:
        negatives[split] = data.negatives
        held_out_for_eval = split != "train" and held_out_negatives is not None
        wanted = held_out_negatives if held_out_for_eval else format_needs(fmt, "negatives")
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
