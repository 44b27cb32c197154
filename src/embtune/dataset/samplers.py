"""Batch samplers that know the judgements: in-batch negatives that are really positives teach the model the opposite
of the labels. sentence-transformers' ``no_duplicates`` keeps equal texts apart; ``judged`` also keeps apart two rows
where one's anchor is judged relevant to a text of the other (its positive or a negative) — the false negatives of
dense-relevance data, where one document answers hundreds of queries."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import torch
from datasets import Dataset
from sentence_transformers.base.sampler import BatchSamplers, DefaultBatchSampler

from embtune.dataset.types import RetrievalData
from embtune.errors import EmbtuneError

log = logging.getLogger(__name__)

Judged = dict[str, frozenset[str]]  # anchor text -> texts of the documents judged relevant to it


def judged_texts(data: RetrievalData, split: str = "train") -> Judged:
    """Every judgement of ``split`` as anchor text -> relevant document texts; built before the quality filter, so a
    positive the filter dropped is still known to be relevant."""
    judged: dict[str, set[str]] = {}
    for qid, docs in data.qrels.get(split, {}).items():
        judged.setdefault(data.queries[qid], set()).update(data.corpus[d] for d in docs if d in data.corpus)
    return {anchor: frozenset(texts) for anchor, texts in judged.items()}


def conflicts(rows: Dataset, batch: list[int], judged: Judged) -> int:
    """Pairs of rows in ``batch`` where one's anchor is judged relevant to a text of the other: false negatives."""
    columns = [c for c in rows.column_names if c not in ("label", "score")]
    anchors = [rows[i][columns[0]] for i in batch]
    texts = [{rows[i][c] for c in columns[1:]} for i in batch]
    return sum(
        1 for a in range(len(batch)) for b in range(len(batch)) if a != b and judged.get(anchors[a], set()) & texts[b]
    )


class JudgedBatchSampler(DefaultBatchSampler):
    """Shuffled batches without duplicate texts and without judged false negatives (see the module docstring).

    Greedy and order-preserving like sentence-transformers' NoDuplicatesBatchSampler: a row that conflicts with the
    batch being filled waits for the next one. ``stats["separated"]`` counts the rows moved for a judgement (not a
    mere duplicate), summed over epochs.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        judged: Judged | None = None,
        stats: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            dataset,
            batch_size=batch_size,
            drop_last=drop_last,
            valid_label_columns=valid_label_columns,
            generator=generator,
            seed=seed,
        )
        columns = [c for c in dataset.column_names if c not in set(self.valid_label_columns or [])]
        self.anchors: list[str] = list(dataset[columns[0]])
        others = [dataset[c] for c in columns[1:]]
        self.texts: list[frozenset[str]] = [frozenset(col[i] for col in others) for i in range(len(dataset))]
        self.judged = judged or {}
        self.stats = stats if stats is not None else {}
        self.stats.setdefault("separated", 0)

    def __iter__(self) -> Iterator[list[int]]:
        if self.generator is not None and self.seed is not None:
            self.generator.manual_seed(self.seed + self.epoch)
        queue = deque(torch.randperm(len(self.anchors), generator=self.generator).tolist())
        waiting: list[int] = []
        none: frozenset[str] = frozenset()
        while waiting or queue:
            batch: list[int] = []
            texts: set[str] = set()  # every text in the batch (anchors included): no duplicates
            relevant: set[str] = set()  # every text judged relevant to an anchor in the batch
            pool, waiting, i = waiting, [], 0
            while len(batch) < self.batch_size:
                if i < len(pool):
                    row, i = pool[i], i + 1
                elif queue:
                    row = queue.popleft()
                else:
                    break
                anchor, own, rel = self.anchors[row], self.texts[row], self.judged.get(self.anchors[row], none)
                if anchor in texts or not own.isdisjoint(texts):
                    waiting.append(row)  # a duplicate text
                elif not own.isdisjoint(relevant) or not rel.isdisjoint(texts):
                    waiting.append(row)  # a judged false negative, either way round
                    self.stats["separated"] += 1
                else:
                    batch.append(row)
                    texts.add(anchor)
                    texts.update(own)
                    relevant.update(rel)
            waiting.extend(pool[i:])
            if batch and (len(batch) == self.batch_size or not self.drop_last):
                yield batch

    def __len__(self) -> int:
        n = len(self.anchors)
        return n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size


# embtune's own samplers by the name loss.batch_sampler takes; any other name is one of sentence-transformers'
SAMPLERS: dict[str, Callable[..., DefaultBatchSampler]] = {"judged": JudgedBatchSampler}


def check_name(name: str) -> None:
    """An unknown loss.batch_sampler stops with one line, before any data or model loads."""
    known = [s.value for s in BatchSamplers]
    if name not in SAMPLERS and name not in known:
        raise EmbtuneError(f"loss.batch_sampler={name!r}: choose one of {', '.join([*SAMPLERS, *known])}.")


def batch_sampler(name: str, judged: Judged, stats: dict[str, Any]) -> str | Callable[..., DefaultBatchSampler]:
    """What SentenceTransformerTrainingArguments.batch_sampler takes: the name of one of sentence-transformers'
    samplers as it is, or one of ours with the judgements bound (the trainer passes the rest)."""
    sampler = SAMPLERS.get(name)
    check_name(name)
    return partial(sampler, judged=judged, stats=stats) if sampler else name
