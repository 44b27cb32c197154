"""Pair files and partial sources through the whole recipe (tiny model, real training): scored pairs train on
their grades and are evaluated as pairs, labeled pairs likewise, a train-only file and a run without dev work."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import TINY_CACHE, write_jsonl

from embtune.train import train

TINY = ["model=tiny", "trainer=debug", f"paths.cache_dir={TINY_CACHE}", "save_model=false"]
WORDS = "churn attrition renewal invoice tariff roaming billing cohort retention upgrade".split()


def _scored(path: Path, n: int, offset: int = 0) -> Path:
    rows = [
        {"query": f"why {WORDS[i % 10]} {i + offset}", "document": f"{WORDS[(i + k) % 10]} passage {i} {k}", "score": s}
        for i in range(n)
        for k, s in enumerate((0.9, 0.6, 0.1))
    ]
    return write_jsonl(path, rows)


def test_scored_pairs_train_with_cosent_and_evaluate_as_sts(compose_cfg, tmp_path: Path) -> None:
    train_file, test_file = _scored(tmp_path / "train.jsonl", 12), _scored(tmp_path / "test.jsonl", 4, offset=100)
    cfg = compose_cfg(
        *TINY,
        "dataset=files",
        f"dataset.source.files.train={train_file}",
        f"dataset.source.files.test={test_file}",
        "data_format=scored",
        "loss=cosent",
        "evaluator=sts",
    )
    metrics = train(cfg, tmp_path / "run")
    assert metrics["split"] == "test" and metrics["main_metric"] == "spearman"
    assert -1.0 <= metrics["fine_tuned"]["spearman"] <= 1.0 and "bm25" not in metrics
    # every row of the file's train queries, not a row per positive: 12 queries x 3 grades, minus the dev queries
    dev_queries = round(12 * cfg.dataset.dev_fraction) or 1
    assert metrics["train"]["examples"] == (12 - dev_queries) * 3
    assert metrics["train"]["best_dev_metric"] is not None
    checks = metrics["train"]["data_checks"]
    assert checks["eval_overlap_queries"] == 0 and checks["conflicting_judgements"] == 0


def test_labeled_pairs_train_with_contrastive_and_evaluate_as_binary(compose_cfg, tmp_path: Path) -> None:
    rows = [
        {"query": f"is {WORDS[i % 10]} {i} the same", "document": f"{WORDS[i % 10]} twin {i}", "label": i % 2}
        for i in range(30)
    ]
    test = [{"query": f"{WORDS[i % 10]} q {i}", "document": f"{WORDS[i % 10]} t {i}", "label": i % 2} for i in range(8)]
    cfg = compose_cfg(
        *TINY,
        "dataset=files",
        f"dataset.source.files.train={write_jsonl(tmp_path / 'train.jsonl', rows)}",
        f"dataset.source.files.test={write_jsonl(tmp_path / 'test.jsonl', test)}",
        "data_format=binary",
        "loss=contrastive",
        "evaluator=binary",
    )
    metrics = train(cfg, tmp_path / "run")
    assert metrics["main_metric"] == "ap" and {"accuracy", "f1", "ap"} <= set(metrics["fine_tuned"])
    assert metrics["train"]["examples"] == 30 - 3  # every labeled row but the 3 dev ones


def test_train_only_file_reports_on_dev(compose_cfg, tmp_path: Path) -> None:
    train_file = write_jsonl(
        tmp_path / "train.jsonl",
        [{"query": f"question {w} {i}", "positive": f"{w} passage about {i} things"} for i, w in enumerate(WORDS * 2)],
    )
    cfg = compose_cfg(*TINY, "dataset=files", f"dataset.source.files.train={train_file}", "dataset.dev_fraction=0.2")
    metrics = train(cfg, tmp_path / "run")
    assert metrics["split"] == "dev" and "fine_tuned" in metrics and "zero_shot" in metrics
    assert metrics["train"]["selection"]["base_dev"] is not None  # the base is compared even when dev is the eval split


def test_no_dev_and_no_test_still_trains(compose_cfg, tmp_path: Path) -> None:
    train_file = write_jsonl(
        tmp_path / "train.jsonl",
        [{"query": f"question {w} {i}", "positive": f"{w} passage about {i} things"} for i, w in enumerate(WORDS)],
    )
    cfg = compose_cfg(*TINY, "dataset=files", f"dataset.source.files.train={train_file}", "dataset.dev_fraction=0")
    metrics = train(cfg, tmp_path / "run")
    assert metrics["split"] is None and "fine_tuned" not in metrics
    assert metrics["train"]["steps"] == 4 and metrics["train"]["best_dev_metric"] is None
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["train"]["steps"] == 4
