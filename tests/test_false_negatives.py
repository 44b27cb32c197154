"""False negatives of dense-relevance data: the judged batch sampler, the guided losses, through the real CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from conftest import TINY_CACHE, only_run_dir, run_cli, write_jsonl
from datasets import Dataset
from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

from embtune.dataset.samplers import JudgedBatchSampler, batch_sampler, conflicts, judged_texts
from embtune.dataset.sources import load_pairs
from embtune.errors import EmbtuneError

TINY = ["model=tiny", "trainer=debug", f"paths.cache_dir={TINY_CACHE}"]


def _dense_rows(n_queries: int = 60, n_docs: int = 30, per_query: int = 3, seed: int = 0) -> list[dict]:
    """Keyword queries with several judged documents each; document 0 answers every third query (dense relevance)."""
    rng = random.Random(seed)
    rows = []
    for q in range(n_queries):
        docs = {0} if q % 3 == 0 else set()
        while len(docs) < per_query:
            docs.add(rng.randrange(n_docs))
        rows += [
            {"query": f"kw{q} insulin dosage", "positive": f"document {d} about renal dosing and insulin {d}"}
            for d in sorted(docs)
        ]
    return rows


def _pairs(tmp_path: Path) -> tuple[Dataset, dict]:
    path = write_jsonl(tmp_path / "train.jsonl", _dense_rows())
    data = load_pairs("dense", {"train": str(path)})
    rows = Dataset.from_list([{"anchor": r["query"], "positive": r["positive"]} for r in _dense_rows()])
    return rows, judged_texts(data)


def test_no_duplicates_batches_hold_false_negatives_and_judged_batches_none(tmp_path: Path) -> None:
    rows, judged = _pairs(tmp_path)
    assert sum(len(t) for t in judged.values()) == len(rows)  # every judgement known, by text
    plain = NoDuplicatesBatchSampler(rows, batch_size=16, drop_last=False, generator=torch.Generator(), seed=1)
    assert sum(conflicts(rows, b, judged) for b in plain) > 0  # what MNRL trains on today
    stats: dict = {}
    judged_sampler = JudgedBatchSampler(
        rows, batch_size=16, drop_last=False, generator=torch.Generator(), seed=1, judged=judged, stats=stats
    )
    batches = list(judged_sampler)
    assert all(conflicts(rows, b, judged) == 0 for b in batches)
    assert sorted(i for b in batches for i in b) == list(range(len(rows)))  # every row once, none dropped
    assert stats["separated"] > 0
    # no duplicate text in a batch either (what no_duplicates guarantees)
    for b in batches:
        texts = [t for i in b for t in rows[i].values()]
        assert len(texts) == len(set(texts))


def test_judged_batches_are_reproducible_per_epoch_and_differ_across_epochs(tmp_path: Path) -> None:
    rows, judged = _pairs(tmp_path)
    sampler = JudgedBatchSampler(rows, 8, False, generator=torch.Generator(), seed=3, judged=judged)
    first, again = list(sampler), list(sampler)
    sampler.set_epoch(1)
    assert first == again and list(sampler) != first


def test_an_unknown_sampler_name_is_one_line() -> None:
    with pytest.raises(EmbtuneError, match=r"loss.batch_sampler='judge'.*judged, batch_sampler, no_duplicates"):
        batch_sampler("judge", {}, {})
    assert batch_sampler("no_duplicates", {}, {}) == "no_duplicates"


def test_cli_cached_gist_with_judged_batches_trains_and_records_the_separations(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", _dense_rows())
    test = write_jsonl(tmp_path / "test.jsonl", _dense_rows(12, seed=5))
    out = tmp_path / "outputs"
    result = run_cli(
        "embtune.train",
        *TINY,
        "dataset=files",
        f"dataset.source.files.train={train}",
        f"dataset.source.files.test={test}",
        "loss=cached_gist",
        "loss.batch_sampler=judged",
        "loss.module.mini_batch_size=4",
        "evaluate_bm25=false",
        "regression=none",
        f"paths.output_dir={out}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((only_run_dir(out) / "metrics.json").read_text())
    sampler = metrics["train"]["batch_sampler"]
    assert sampler["name"] == "judged" and sampler["separated"] > 0
    assert metrics["train"]["steps"] > 0 and "fine_tuned" in metrics


def test_cli_unknown_sampler_stops_before_loading(tmp_path: Path) -> None:
    result = run_cli("embtune.train", *TINY, "loss.batch_sampler=nodups", f"paths.output_dir={tmp_path}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: loss.batch_sampler='nodups'")


def test_cli_a_filter_that_would_drop_too_much_stops_with_one_line(tmp_path: Path) -> None:
    # one-word keyword queries: with a fixed 2-word minimum (the old rule) most judgements would go
    rows = [
        {"query": f"kw{i}" if i % 2 else f"kw{i} insulin", "positive": f"document {i} about renal dosing and insulin"}
        for i in range(30)
    ]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    args = [*TINY, "dataset=files", f"dataset.source.files.train={train}", f"paths.output_dir={tmp_path / 'o'}"]
    result = run_cli("embtune.train", *args, "quality.min_query_words=2")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: the quality filter would drop") and "short_query" in line and "max_drop" in line
    assert not list((tmp_path / "o").glob("train/runs/*/model"))
