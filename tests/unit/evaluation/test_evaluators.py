"""evaluator._clean: the evaluators' own metric keys become the plain names of metrics.json."""

from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers.sentence_transformer.evaluation import (
    EmbeddingSimilarityEvaluator,
    InformationRetrievalEvaluator,
    SentenceEvaluator,
    TripletEvaluator,
)

from embtune.evaluation.evaluators import _clean, _raw_key


def _ir(name: str = "scifact-test") -> InformationRetrievalEvaluator:
    return InformationRetrievalEvaluator({"q": "a query"}, {"d": "a doc"}, {"q": {"d"}}, name=name, write_csv=False)


def _sts(name: str = "sts-dev") -> EmbeddingSimilarityEvaluator:
    return EmbeddingSimilarityEvaluator(["a"], ["b"], [0.5], name=name, write_csv=False)


def _triplet(name: str = "toy-triplet") -> TripletEvaluator:
    return TripletEvaluator(["a"], ["p"], ["n"], name=name, write_csv=False)


def test_ir_keys_lose_name_and_similarity() -> None:
    raw = {
        "scifact-test_cosine_ndcg@10": 0.5,
        "scifact-test_cosine_mrr@10": 0.4,
        "scifact-test_cosine_recall@100": 0.9,
        "scifact-test_cosine_accuracy@1": 0.3,
    }
    assert _clean(_ir(), "cosine", raw) == {"ndcg@10": 0.5, "mrr@10": 0.4, "recall@100": 0.9, "accuracy@1": 0.3}


def test_sts_keys_have_the_similarity_at_the_end() -> None:
    raw = {"sts-dev_pearson_cosine": 0.81, "sts-dev_spearman_cosine": 0.83}
    assert _clean(_sts(), "cosine", raw) == {"pearson": 0.81, "spearman": 0.83}


def test_triplet_keys() -> None:
    assert _clean(_triplet(), "dot", {"toy-triplet_dot_accuracy": 1}) == {"accuracy": 1.0}


def test_keys_of_another_similarity_are_dropped() -> None:
    raw = {
        "scifact-test_cosine_ndcg@10": 0.5,
        "scifact-test_dot_ndcg@10": 0.7,
        "scifact-test_ndcg@10": 0.9,
        "sts-dev_spearman_euclidean": 0.1,
    }
    assert _clean(_ir(), "cosine", raw) == {"ndcg@10": 0.5}
    assert _clean(_ir(), "dot", raw) == {"ndcg@10": 0.7}


def test_values_become_plain_floats() -> None:
    out = _clean(_ir(), "cosine", {"scifact-test_cosine_ndcg@10": np.float32(0.5), "scifact-test_cosine_n": 3})
    assert out == {"ndcg@10": 0.5, "n": 3.0}
    assert all(type(v) is float for v in out.values())


def test_unnamed_evaluators_and_names_with_separators() -> None:
    assert _clean(_ir(name=""), "cosine", {"cosine_ndcg@10": 0.3}) == {"ndcg@10": 0.3}
    # a name that itself contains the similarity or underscores is only cut off as a whole
    assert _clean(_ir(name="my_cosine"), "cosine", {"my_cosine_cosine_map@100": 0.2}) == {"map@100": 0.2}
    assert _clean(_sts(name="cosine"), "cosine", {"cosine_spearman_cosine": 0.4}) == {"spearman": 0.4}


@pytest.mark.parametrize(
    ("evaluator", "metric"),
    [(_ir(), "ndcg@10"), (_ir(""), "map@100"), (_sts(), "spearman"), (_triplet(), "accuracy")],
)
@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_clean_inverts_raw_key(evaluator: SentenceEvaluator, metric: str, similarity: str) -> None:
    assert _clean(evaluator, similarity, {_raw_key(evaluator, similarity, metric): 0.25}) == {metric: 0.25}


def test_empty_metrics() -> None:
    assert _clean(_ir(), "cosine", {}) == {}
