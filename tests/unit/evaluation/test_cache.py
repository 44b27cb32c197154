"""cache: evaluator fingerprints and cache keys (no model loaded), and best-effort cache entries on disk."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from sentence_transformers.sentence_transformer.evaluation import (
    EmbeddingSimilarityEvaluator,
    InformationRetrievalEvaluator,
    SequentialEvaluator,
)

from embtune.evaluation.cache import _is_metrics, cache_key, evaluator_fingerprint, read_cache_entry, write_cache_entry

QUERIES = {"q1": "why do customers cancel", "q2": "failed card payments", "q3": "no judgement for me"}
CORPUS = {"d1": "churn after the price change", "d2": "dunning recovers failed payments", "d3": "roaming bundles"}
QRELS = {"q1": {"d1"}, "q2": {"d2", "d3"}}


def _ir(
    queries: dict[str, str] | None = None,
    corpus: dict[str, str] | None = None,
    qrels: dict[str, set[str]] | None = None,
    **kwargs: Any,
) -> InformationRetrievalEvaluator:
    # fresh copies each time: equal inputs, never the same objects
    return InformationRetrievalEvaluator(
        queries=dict(queries or QUERIES),
        corpus=dict(corpus or CORPUS),
        relevant_docs={q: set(d) for q, d in (qrels or QRELS).items()},
        name=kwargs.pop("name", "toy-test"),
        write_csv=False,
        **kwargs,
    )


def _sts(scores: list[float] | None = None) -> EmbeddingSimilarityEvaluator:
    return EmbeddingSimilarityEvaluator(["a cat", "a car"], ["a kitten", "a truck"], scores or [0.9, 0.6], name="sts")


def test_fingerprint_is_a_sha256_hex_digest_and_equal_inputs_agree() -> None:
    fp = evaluator_fingerprint(_ir())
    assert len(fp) == 64 and int(fp, 16) >= 0
    assert evaluator_fingerprint(_ir()) == fp
    # sets are hashed in sorted order: the order judgements were added in does not matter
    assert evaluator_fingerprint(_ir(qrels={"q2": {"d3", "d2"}, "q1": {"d1"}})) == fp


@pytest.mark.parametrize(
    "changed",
    [
        {"corpus": {**CORPUS, "d4": "prepaid vouchers"}},  # one more document
        {"corpus": {**CORPUS, "d3": "roaming bundles abroad"}},  # one document's text
        {"queries": {**QUERIES, "q1": "why do customers leave"}},  # one query's text
        {"qrels": {"q1": {"d1"}, "q2": {"d2"}}},  # one judgement fewer
        {"qrels": {**QRELS, "q3": {"d3"}}},  # a query that now counts
        {"query_prompt": "query: "},
        {"corpus_prompt": "passage: "},
        {"truncate_dim": 8},
    ],
)
def test_fingerprint_changes_with_any_input(changed: dict[str, Any]) -> None:
    assert evaluator_fingerprint(_ir(**changed)) != evaluator_fingerprint(_ir())


def test_queries_without_judgements_do_not_count() -> None:
    # the evaluator drops q3 (no relevant docs) itself, so its text cannot change the figures
    assert evaluator_fingerprint(_ir(queries={**QUERIES, "q3": "something else"})) == evaluator_fingerprint(_ir())


@pytest.mark.parametrize(
    "cutoffs",
    [{"ndcg_at_k": [10, 100]}, {"mrr_at_k": [100]}, {"map_at_k": [10]}, {"precision_recall_at_k": [10, 100]}],
)
def test_fingerprint_changes_with_the_cutoffs(cutoffs: dict[str, list[int]]) -> None:
    assert evaluator_fingerprint(_ir(**cutoffs)) != evaluator_fingerprint(_ir())


def test_sts_and_sequential_fingerprints() -> None:
    assert evaluator_fingerprint(_sts()) == evaluator_fingerprint(_sts())
    assert evaluator_fingerprint(_sts([0.9, 0.5])) != evaluator_fingerprint(_sts())
    both = evaluator_fingerprint(SequentialEvaluator([_ir(), _sts()]))
    assert both == evaluator_fingerprint(SequentialEvaluator([_ir(), _sts()]))
    assert both != evaluator_fingerprint(SequentialEvaluator([_ir()]))
    assert both != evaluator_fingerprint(SequentialEvaluator([_sts(), _ir()]))  # the first one is the main one
    assert both != evaluator_fingerprint(SequentialEvaluator([_ir(corpus={"d1": "x"}), _sts()]))


class _ModelStandIn:
    """The attributes cache_key reads from a SentenceTransformer (no weights needed for the key)."""

    def __init__(self, max_seq_length: int = 128, similarity: str = "cosine", prompts: dict | None = None) -> None:
        self.max_seq_length = max_seq_length
        self.similarity_fn_name = similarity
        self.prompts = prompts or {}

    def __repr__(self) -> str:
        return f"Model({self.max_seq_length}, {self.similarity_fn_name}, {self.prompts})"


def test_cache_key_covers_weights_settings_and_evaluator() -> None:
    key = cache_key(_ModelStandIn(), "ab" * 32, _ir())
    assert len(key) == 24 and int(key, 16) >= 0
    assert cache_key(_ModelStandIn(), "ab" * 32, _ir()) == key
    others = [
        cache_key(_ModelStandIn(), "cd" * 32, _ir()),
        cache_key(_ModelStandIn(max_seq_length=256), "ab" * 32, _ir()),
        cache_key(_ModelStandIn(similarity="dot"), "ab" * 32, _ir()),
        cache_key(_ModelStandIn(prompts={"query": "query: "}), "ab" * 32, _ir()),
        cache_key(_ModelStandIn(), "ab" * 32, _ir(corpus_prompt="passage: ")),
    ]
    assert len({key, *others}) == 1 + len(others)


def test_is_metrics_accepts_numbers_only() -> None:
    assert _is_metrics({"ndcg@10": 0.5, "n": 3}) and _is_metrics({})
    assert not _is_metrics({"ndcg@10": True})
    assert not _is_metrics({"ndcg@10": "0.5"})
    assert not _is_metrics({"ndcg@10": None})
    assert not _is_metrics([0.5])


def _any(value: object) -> bool:
    return True


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "embtune.evaluation.cache"
    ]


def test_write_then_read_round_trip_creating_missing_dirs(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there" / "entry.json"
    write_cache_entry(path, {"metrics": {"ndcg@10": 0.5}, "other": [1, 2]})
    assert read_cache_entry(path, "metrics", _is_metrics) == {"ndcg@10": 0.5}
    assert read_cache_entry(path, "other", _any) == [1, 2]
    assert not list(path.parent.glob("*.tmp"))  # the atomic write leaves no temp file behind


def test_absent_entries_are_silent_misses(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    assert read_cache_entry(tmp_path / "missing.json", "metrics", _any) is None
    assert read_cache_entry(tmp_path / "no" / "dir" / "missing.json", "metrics", _any) is None
    (tmp_path / "a_file").write_text("x")
    assert read_cache_entry(tmp_path / "a_file" / "entry.json", "metrics", _any) is None  # parent is a file
    assert _warnings(caplog) == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"metrics": {"ndcg@10": 0.5', "JSONDecodeError"),  # truncated
        (b"", "JSONDecodeError"),
        (b'{"metrics": "\xc3\x28"}', "UnicodeDecodeError"),  # not UTF-8
        (b'{"other": 1}', "KeyError"),  # no such field
        (b"[1, 2, 3]", "TypeError"),  # not an object
        (b'{"metrics": {"ndcg@10": "high"}}', "unexpected shape"),  # the validator says no
    ],
)
def test_corrupt_entries_are_misses_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, reason: str
) -> None:
    caplog.set_level(logging.WARNING)
    path = tmp_path / "entry.json"
    path.write_bytes(content)
    assert read_cache_entry(path, "metrics", _is_metrics) is None
    assert read_cache_entry(path, "metrics", _is_metrics) is None  # the same problem again: no second warning
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert str(path) in warnings[0] and reason in warnings[0] and "recomputing" in warnings[0]


def test_a_directory_in_place_of_an_entry_is_a_warned_miss(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    path = tmp_path / "entry.json"
    path.mkdir()
    assert read_cache_entry(path, "metrics", _any) is None
    assert len(_warnings(caplog)) == 1


def test_an_unwritable_cache_dir_only_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache dir should be")
    path = blocker / "eval" / "entry.json"
    write_cache_entry(path, {"metrics": {"ndcg@10": 0.5}})  # must not raise
    write_cache_entry(path, {"metrics": {"ndcg@10": 0.5}})
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and str(path) in warnings[0] and "cannot write" in warnings[0]
    assert blocker.read_text() == "a file where the cache dir should be"


def test_a_corrupt_entry_is_replaced_by_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "entry.json"
    path.write_text("{not json")
    assert read_cache_entry(path, "metrics", _is_metrics) is None
    write_cache_entry(path, {"metrics": {"map@100": 0.25}})
    assert json.loads(path.read_text()) == {"metrics": {"map@100": 0.25}}
    assert read_cache_entry(path, "metrics", _is_metrics) == {"map@100": 0.25}
