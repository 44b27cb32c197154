"""training/distill.label_rows: the teacher's margins (positive minus each negative) or scores, row by row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset

from embtune.errors import EmbtuneError
from embtune.training.distill import label_rows
from embtune.training.teachers import BM25Teacher

CORPUS = ["apple pie recipe", "banana bread loaf", "apple cider vinegar", "car engine repair", "green tea time"]


def _scores(anchors: list[str], columns: list[list[str]]) -> np.ndarray:
    teacher = BM25Teacher(tokenizer="word")
    teacher.fit(CORPUS)
    queries = [a for _ in columns for a in anchors]
    docs = [d for col in columns for d in col]
    return teacher.score(queries, docs).reshape(len(columns), len(anchors)).T


def test_margins_are_the_positive_minus_each_negative(tmp_path: Path) -> None:
    anchors, pos, neg = ["apple", "engine"], [CORPUS[0], CORPUS[3]], [CORPUS[1], CORPUS[2]]
    rows = Dataset.from_dict({"anchor": anchors, "positive": pos, "negative": neg})
    labelled, stats = label_rows(rows, BM25Teacher(tokenizer="word"), "margin", CORPUS, tmp_path)
    expected = _scores(anchors, [pos, neg])
    assert labelled["label"] == pytest.approx((expected[:, 0] - expected[:, 1]).tolist())
    assert stats["pairs"] == 4 and stats["positive_above_negative"] == 1.0  # BM25 ranks these positives first


def test_scores_keep_every_candidate_in_order(tmp_path: Path) -> None:
    cols = {"positive": [CORPUS[0]], "negative_1": [CORPUS[2]], "negative_2": [CORPUS[4]]}
    rows = Dataset.from_dict({"anchor": ["apple"], **cols})
    labelled, _ = label_rows(rows, BM25Teacher(tokenizer="word"), "scores", CORPUS, tmp_path)
    assert labelled["label"][0] == pytest.approx(_scores(["apple"], list(cols.values()))[0].tolist())


def test_rows_without_a_negative_are_refused_in_one_line(tmp_path: Path) -> None:
    rows = Dataset.from_dict({"anchor": ["apple"], "positive": [CORPUS[0]]})
    with pytest.raises(EmbtuneError, match="data_format=triplets or data_format=multi_negatives"):
        label_rows(rows, BM25Teacher(), "margin", CORPUS, tmp_path)
