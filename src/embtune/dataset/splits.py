"""Splits: a dev split carved from train when the source has none, and the split a run reports on."""

from __future__ import annotations

import random
from dataclasses import replace

from embtune.dataset.types import RetrievalData, text_id
from embtune.errors import EmbtuneError


def carve_dev_split(data: RetrievalData, fraction: float, seed: int) -> RetrievalData:
    """Move a deterministic ``fraction`` of train queries into a ``dev`` split, unless the source has one.

    The unit is the query: all its judgements and all its pair rows move together, so no query is in both.
    """
    if data.has_split("dev") or fraction <= 0:
        return data
    if not data.has_split("train"):
        data.split("train")  # the clear "empty or missing" error
    train_pairs = data.pairs.get("train", [])
    units = sorted(set(data.qrels.get("train", {})) | {text_id("q", p[0]) for p in train_pairs})
    random.Random(seed).shuffle(units)
    n_dev = max(1, round(len(units) * fraction))
    if n_dev >= len(units):
        raise EmbtuneError(
            f"dataset '{data.name}': dataset.dev_fraction={fraction} leaves no training queries "
            f"({len(units)} in train). Lower it, or set dataset.dev_fraction=0 to train without a dev split."
        )
    dev_ids = set(units[:n_dev])
    qrels = dict(data.qrels)
    pairs = dict(data.pairs)
    if "train" in data.qrels:
        train = data.qrels["train"]
        qrels["train"] = {q: d for q, d in train.items() if q not in dev_ids}
        qrels["dev"] = {q: d for q, d in train.items() if q in dev_ids}
        qrels = {s: q for s, q in qrels.items() if q}
    if train_pairs:
        pairs["train"] = [p for p in train_pairs if text_id("q", p[0]) not in dev_ids]
        pairs["dev"] = [p for p in train_pairs if text_id("q", p[0]) in dev_ids]
    return replace(data, qrels=qrels, pairs=pairs)


def evaluation_split(data: RetrievalData) -> str | None:
    """The split a run reports on: test; without one, dev (which also picks the checkpoint); else none."""
    return next((s for s in ("test", "dev") if data.has_split(s)), None)


def sample_positives(data: RetrievalData, split: str, k: int, seed: int) -> tuple[RetrievalData, dict[str, int]]:
    """A pass over queries rather than over judged pairs: at most ``k`` of each query's relevant documents
    (seeded), so a query with 200 judgements weighs no more than one with a single judgement. Judgements of 0
    (judged non-relevant) stay; the batch sampler and mining read the judgements from before."""
    if k < 1:
        raise EmbtuneError(f"dataset.positives_per_query={k}: give 1 or more (null: every judged positive).")
    qrels = data.qrels.get(split) or {}
    rng = random.Random(seed)
    kept: dict[str, dict[str, int]] = {}
    before = after = 0
    for q in sorted(qrels):
        relevant = sorted(d for d, s in qrels[q].items() if s > 0)
        chosen = set(rng.sample(relevant, min(k, len(relevant))))
        kept[q] = {d: s for d, s in qrels[q].items() if s <= 0 or d in chosen}
        before, after = before + len(relevant), after + len(chosen)
    return replace(data, qrels={**data.qrels, split: kept}), {"positives_before": before, "positives_after": after}
