"""Distillation through the real CLI on tiny models: each teacher (BM25, a bi-encoder, a cross-encoder built
locally, a hybrid) labels the training rows for margin_mse / distill_kl, its scores are cached, its own figure is
reported beside BM25 and zero-shot; wrong combinations stop with one line before anything loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_CACHE, only_run_dir, run_cli

from embtune.model.tiny import build_tiny_cross_encoder, build_tiny_model
from embtune.training.teachers import BM25Teacher, HybridTeacher, cached_scores

TINY = ["model=tiny", "trainer=debug", f"paths.cache_dir={TINY_CACHE}", "evaluate_zero_shot=true"]
TRIPLETS = ["data_format=triplets", "mining=bm25"]
TINY_BERT = TINY_CACHE / "models" / "embtune-tiny-bert"  # what model=tiny builds there


def _train(tmp: Path, *overrides: str) -> dict:
    out = tmp / "out"
    result = run_cli("embtune.train", *TINY, *overrides, f"paths.output_dir={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((only_run_dir(out) / "metrics.json").read_text())


def test_bm25_teacher_labels_margins_and_its_scores_are_cached(tmp_path: Path) -> None:
    metrics = _train(tmp_path, *TRIPLETS, "loss=margin_mse", "teacher=bm25")
    block = metrics["train"]["teacher"]
    assert block["teacher"] == "bm25" and block["labels"] == "margin" and block["cache_hit"] is False
    assert block["pairs"] == 2 * metrics["train"]["examples"]  # (anchor, positive) and (anchor, negative) per row
    # the embedded data is built so that BM25 fails (other words, same meaning): BM25's own hard negatives mostly
    # score above the positive by BM25; a teacher that agreed with the judgements would say otherwise
    assert 0.0 <= block["positive_above_negative"] < 0.5
    assert metrics["teacher"]["name"] == "bm25" and metrics["teacher"]["ndcg@10"] == metrics["bm25"]["ndcg@10"]
    assert "vs_teacher" in metrics["delta"]
    again = _train(tmp_path / "again", *TRIPLETS, "loss=margin_mse", "teacher=bm25")
    assert again["train"]["teacher"]["cache_hit"] is True  # the same teacher, the same pairs: not scored twice


def test_a_bi_encoder_teacher_distils_listwise_and_reports_its_own_figure(tmp_path: Path) -> None:
    build_tiny_model(TINY_BERT)
    metrics = _train(
        tmp_path,
        "data_format=multi_negatives",
        "mining=bm25",
        "mining.num_negatives=2",
        "loss=distill_kl",
        "teacher=bi_encoder",
        f"teacher.name_or_path={TINY_BERT}",
    )
    assert metrics["train"]["teacher"]["labels"] == "scores"
    # the teacher is the base itself here: its own figure is the zero-shot one, measured by the same evaluator
    assert metrics["teacher"]["ndcg@10"] == pytest.approx(metrics["zero_shot"]["ndcg@10"], abs=1e-6)


def test_a_cross_encoder_and_a_hybrid_teacher_train_through_the_cli(tmp_path: Path) -> None:
    cross = build_tiny_cross_encoder(tmp_path / "tiny-cross-encoder")
    metrics = _train(
        tmp_path / "ce", *TRIPLETS, "loss=margin_mse", "teacher=cross_encoder", f"teacher.name_or_path={cross}"
    )
    assert metrics["train"]["teacher"]["teacher"] == "cross_encoder" and "not measured" in metrics["teacher"]["note"]
    build_tiny_model(TINY_BERT)
    hybrid = _train(
        tmp_path / "hybrid",
        *TRIPLETS,
        "loss=margin_mse",
        "teacher=hybrid",
        "teacher.fusion=rrf",
        f"teacher.dense.name_or_path={TINY_BERT}",
    )
    assert hybrid["train"]["teacher"]["teacher"] == "hybrid" and hybrid["train"]["steps"] > 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["loss=margin_mse", *TRIPLETS], "loss=margin_mse learns from a teacher's scores and teacher=none"),
        (["teacher=bm25"], "teacher=bm25 is set and loss=mnrl does not learn from scores"),
        (["loss=margin_mse", "teacher=bm25"], "loss=margin_mse does not train on data_format=pairs"),
        (["loss=margin_mse", "teacher=hybrid", "teacher.fusion=max", *TRIPLETS], "teacher.fusion=max"),
        (["loss=margin_mse", "teacher=bi_encoder", *TRIPLETS], "teacher.name_or_path has no value"),
    ],
)
def test_wrong_teacher_combinations_are_one_line(tmp_path: Path, overrides: list[str], message: str) -> None:
    result = run_cli("embtune.train", *TINY, *overrides, f"paths.output_dir={tmp_path}")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last and "Traceback" not in result.stderr


def test_bm25_teacher_scores_are_bm25_over_the_corpus_scaled_and_rrf_puts_rank_one_of_both_at_one(
    tmp_path: Path,
) -> None:
    corpus = ["apple pie", "banana bread", "apple cider vinegar", "car engine repair", "tea time"]
    teacher = BM25Teacher(tokenizer="word")
    teacher.fit(corpus)
    queries, docs = ["apple"] * 5, corpus
    raw = teacher.raw(queries, docs)
    assert raw[1] == raw[3] == raw[4] == 0.0 and raw[0] > 0 and raw[2] > 0  # only the documents holding the word
    scaled = teacher.score(queries, docs)
    assert np.allclose(scaled, np.clip(raw / np.percentile(raw[raw > 0], 99), 0, 1))  # the pairs sharing a term
    other = BM25Teacher(tokenizer="word")  # a second BM25 as the "dense" side: both rank the same way
    fused = HybridTeacher(other, teacher, fusion="rrf", weight=0.5)
    fused.fit(corpus)
    assert fused.score(queries, docs).max() == pytest.approx(1.0)
    first, hit = cached_scores(teacher, queries, docs, tmp_path)
    again, hit_again = cached_scores(teacher, queries, docs, tmp_path)
    assert not hit and hit_again and np.array_equal(first, again)


def test_rrf_ranks_each_querys_distinct_documents_once_with_ties_shared() -> None:
    """Triplet rows repeat their (query, positive) pair once per negative: the positive keeps one rank."""
    corpus = ["apple pie recipe", "apple tart", "banana bread", "car engine repair", "tea time"]
    sparse, dense = BM25Teacher(tokenizer="word"), BM25Teacher(tokenizer="word")
    fused = HybridTeacher(dense, sparse, fusion="rrf", weight=0.5)
    fused.fit(corpus)
    queries = ["apple pie"] * 6
    docs = [corpus[0], corpus[1], corpus[0], corpus[2], corpus[0], corpus[3]]  # positive, negative, ... x3
    scores = fused.score(queries, docs)
    assert scores[0] == scores[2] == scores[4] == pytest.approx(1.0)  # rank 1 of both, in every row
    assert scores[1] < 1.0 and scores[3] == scores[5] < scores[1]  # the two with no shared term tie
