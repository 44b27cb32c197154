"""Graded nDCG: trec_eval's (pytrec_eval) over graded qrels, on the ranking sentence-transformers makes."""

from __future__ import annotations

import math
import random

import pytest
import pytrec_eval
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

from embtune.evaluation.evaluators import GradedIREvaluator, graded_ndcg


def _dcg(gains: list[int]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def test_a_hand_computed_graded_ndcg() -> None:
    qrels = {"q1": {"d1": 2, "d2": 1}}
    hits = [[{"corpus_id": "d2", "score": 0.9}, {"corpus_id": "d1", "score": 0.8}, {"corpus_id": "d4", "score": 0.5}]]
    expected = _dcg([1, 2, 0]) / _dcg([2, 1])
    assert graded_ndcg(["q1"], hits, qrels, [10]) == {10: pytest.approx(expected, abs=1e-12)}
    assert expected == pytest.approx(0.8597, abs=1e-4)


def _random_case(seed: int, grades: tuple[int, ...]) -> tuple[list[str], list[list[dict]], dict]:
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(60)]
    qids = [f"q{i}" for i in range(25)]
    qrels = {q: {d: rng.choice(grades) for d in rng.sample(docs, rng.randint(1, 6))} for q in qids}
    results = [[{"corpus_id": d, "score": rng.random()} for d in rng.sample(docs, 30)] for _ in qids]
    return qids, results, qrels


def test_equal_to_pytrec_eval_on_graded_qrels() -> None:
    qids, results, qrels = _random_case(0, (1, 2, 3))
    ours = graded_ndcg(qids, results, qrels, [5, 10])
    run = {q: {h["corpus_id"]: h["score"] for h in hits} for q, hits in zip(qids, results, strict=True)}
    ref = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.5", "ndcg_cut.10"}).evaluate(run)
    for k in (5, 10):
        assert ours[k] == pytest.approx(sum(ref[q][f"ndcg_cut_{k}"] for q in qids) / len(qids), abs=1e-9)


def _evaluators(qrels: dict) -> tuple[InformationRetrievalEvaluator, GradedIREvaluator]:
    queries = {q: q for q in qrels}
    corpus = {f"d{i}": f"doc {i}" for i in range(60)}
    relevant = {q: set(d) for q, d in qrels.items()}
    kwargs = dict(queries=queries, corpus=corpus, relevant_docs=relevant, ndcg_at_k=[3, 10], write_csv=False)
    return InformationRetrievalEvaluator(**kwargs), GradedIREvaluator(graded_qrels=qrels, **kwargs)


def test_binary_judgements_give_sentence_transformers_figures_exactly() -> None:
    qids, results, qrels = _random_case(1, (1,))
    for hits in results[::3]:  # ties too: sentence-transformers orders them by corpus id
        for h in hits[:10]:
            h["score"] = 0.5
    plain, graded = _evaluators(qrels)
    a, b = plain.compute_metrics(results), graded.compute_metrics(results)
    assert a.keys() == b.keys()
    for name in a:
        for k in a[name]:
            assert b[name][k] == pytest.approx(a[name][k], abs=1e-12), (name, k)


def test_graded_judgements_change_ndcg_only() -> None:
    qids, results, qrels = _random_case(2, (1, 2, 3))
    plain, graded = _evaluators(qrels)
    a, b = plain.compute_metrics(results), graded.compute_metrics(results)
    assert b["ndcg@k"][10] != pytest.approx(a["ndcg@k"][10], abs=1e-6)
    assert {n: v for n, v in b.items() if n != "ndcg@k"} == {n: v for n, v in a.items() if n != "ndcg@k"}


def test_ties_keep_sentence_transformers_order_not_trec_evals() -> None:
    # d1 and d2 tie; sentence-transformers ranks d1 first (corpus id ascending), trec_eval would put d2 first
    qrels = {"q": {"d1": 3, "d2": 1}}
    hits = [[{"corpus_id": "d2", "score": 0.5}, {"corpus_id": "d1", "score": 0.5}]]
    assert graded_ndcg(["q"], hits, qrels, [10])[10] == pytest.approx(1.0)
