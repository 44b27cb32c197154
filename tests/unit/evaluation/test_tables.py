"""metrics_table: the delta block (vs zero-shot and BM25) and the fixed-width table a run prints."""

from __future__ import annotations

import math
from typing import Any

import pytest

from embtune.evaluation.tables import format_table, with_deltas


def _metrics(**blocks: dict[str, float]) -> dict[str, Any]:
    return {"dataset": "scifact", "split": "test", "main_metric": "ndcg@10", **blocks}


def test_deltas_against_both_baselines() -> None:
    out = with_deltas(
        _metrics(bm25={"ndcg@10": 0.5}, zero_shot={"ndcg@10": 0.6}, fine_tuned={"ndcg@10": 0.75, "mrr@10": 0.7})
    )
    assert set(out["delta"]) == {"vs_zero_shot", "vs_zero_shot_rel", "vs_bm25"}
    assert out["delta"]["vs_zero_shot"] == pytest.approx(0.15)
    assert out["delta"]["vs_zero_shot_rel"] == pytest.approx(0.25)
    assert out["delta"]["vs_bm25"] == pytest.approx(0.25)


def test_deltas_can_be_negative() -> None:
    out = with_deltas(_metrics(bm25={"ndcg@10": 0.8}, zero_shot={"ndcg@10": 0.5}, fine_tuned={"ndcg@10": 0.4}))
    assert out["delta"]["vs_zero_shot"] == pytest.approx(-0.1)
    assert out["delta"]["vs_zero_shot_rel"] == pytest.approx(-0.2)
    assert out["delta"]["vs_bm25"] == pytest.approx(-0.4)


def test_only_the_baselines_present_get_a_delta() -> None:
    only_bm25 = with_deltas(_metrics(bm25={"ndcg@10": 0.5}, fine_tuned={"ndcg@10": 0.7}))
    assert only_bm25["delta"] == {"vs_bm25": pytest.approx(0.2)}
    only_zero_shot = with_deltas(_metrics(zero_shot={"ndcg@10": 0.5}, fine_tuned={"ndcg@10": 0.7}))
    assert set(only_zero_shot["delta"]) == {"vs_zero_shot", "vs_zero_shot_rel"}
    assert with_deltas(_metrics(fine_tuned={"ndcg@10": 0.7}))["delta"] == {}


def test_relative_delta_from_zero_is_undefined() -> None:
    out = with_deltas(_metrics(zero_shot={"ndcg@10": 0.0}, fine_tuned={"ndcg@10": 0.3}))
    assert out["delta"]["vs_zero_shot"] == pytest.approx(0.3)
    assert out["delta"]["vs_zero_shot_rel"] is None


def test_deltas_use_the_main_metric_whatever_its_name_and_keep_everything_else() -> None:
    metrics = {
        "dataset": "toy",
        "split": "dev",
        "main_metric": "triplet/accuracy",
        "zero_shot": {"triplet/accuracy": 0.5, "ndcg@10": 0.9},
        "fine_tuned": {"triplet/accuracy": 0.6, "ndcg@10": 0.1},
        "train": {"device": "cpu", "seconds": 3.5, "selected": "fine_tuned"},
    }
    out = with_deltas(metrics)
    assert out["delta"]["vs_zero_shot"] == pytest.approx(0.1)  # not ndcg@10's -0.8
    assert {k: v for k, v in out.items() if k != "delta"} == metrics
    assert "delta" not in metrics  # the input is not modified


def test_table_rows_columns_and_delta_line_exactly() -> None:
    metrics = with_deltas(
        _metrics(
            bm25={"ndcg@10": 0.5, "mrr@10": 0.4, "recall@100": 0.8},
            zero_shot={"ndcg@10": 0.6, "mrr@10": 0.5, "recall@100": 0.9},
            fine_tuned={"ndcg@10": 0.75, "mrr@10": 0.7, "recall@100": 0.95},
        )
    )
    assert format_table(metrics).splitlines() == [
        "scifact / test",
        "system           ndcg@10      mrr@10  recall@100",
        "bm25              0.5000      0.4000      0.8000",
        "zero_shot         0.6000      0.5000      0.9000",
        "fine_tuned        0.7500      0.7000      0.9500",
        "delta: vs_zero_shot +0.1500, vs_zero_shot_rel +0.2500, vs_bm25 +0.2500",
    ]


def test_table_columns_follow_the_last_block_present() -> None:
    # fine-tuned has no recall@100: the column goes, even though BM25 has it
    metrics = _metrics(bm25={"ndcg@10": 0.5, "recall@100": 0.8}, fine_tuned={"ndcg@10": 0.7, "mrr@10": 0.6})
    lines = format_table(metrics).splitlines()
    assert lines[1].split() == ["system", "ndcg@10", "mrr@10"]
    # a metric the last block has but an earlier block lacks shows as nan
    assert lines[2].split() == ["bm25", "0.5000", "nan"]
    assert lines[3].split() == ["fine_tuned", "0.7000", "0.6000"]
    assert len(lines) == 4  # no delta block, no delta line


def test_table_falls_back_to_the_main_metric() -> None:
    metrics = {
        "dataset": "sts",
        "split": "dev",
        "main_metric": "spearman",
        "zero_shot": {"spearman": 0.7, "pearson": 0.6},
        "fine_tuned": {"spearman": 0.8, "pearson": 0.7},
    }
    lines = format_table(metrics).splitlines()
    assert lines[1].split() == ["system", "spearman"]
    assert [line.split() for line in lines[2:]] == [["zero_shot", "0.7000"], ["fine_tuned", "0.8000"]]


def test_table_without_any_block_has_only_its_headers() -> None:
    assert format_table(_metrics()).splitlines() == ["scifact / test", f"{'system':<12}{'ndcg@10':>12}"]


def test_table_with_custom_keys_and_a_missing_metric() -> None:
    metrics = _metrics(zero_shot={"ndcg@10": 0.5}, fine_tuned={"ndcg@10": 0.6, "map@100": 0.4})
    lines = format_table(metrics, keys=("map@100", "ndcg@10", "nope")).splitlines()
    assert lines[1].split() == ["system", "map@100", "ndcg@10"]
    zero_shot = lines[2].split()
    assert zero_shot[0] == "zero_shot" and math.isnan(float(zero_shot[1])) and zero_shot[2] == "0.5000"


def test_delta_line_skips_undefined_values() -> None:
    metrics = with_deltas(_metrics(zero_shot={"ndcg@10": 0.0}, fine_tuned={"ndcg@10": 0.25}))
    assert format_table(metrics).splitlines()[-1] == "delta: vs_zero_shot +0.2500"
