"""BM25: the sparse engine scores exactly like rank-bm25; mining excludes positives and keeps its window."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED_DATA, needs_shared_data
from rank_bm25 import BM25Okapi

from embtune.dataset.bm25 import BM25Index, word_tokenizer
from embtune.dataset.mining import mine_bm25_negatives
from embtune.dataset.types import RetrievalData

DOCS = [
    "subscriber attrition rose after the price change",
    "involuntary churn from failed card renewals",
    "dunning emails recover failed payments",
    "net revenue retention counts expansion and contraction",
    "roaming bundles for travellers abroad",
    "prepaid top-up vouchers and balance",
    "failed payments trigger a retry schedule",
    "port-out requests move a number to another carrier",
]


def test_sparse_engine_equals_rank_bm25() -> None:
    ids = [f"d{i}" for i in range(len(DOCS))]
    index = BM25Index(ids, DOCS, tokenizer="word", engine="sparse")
    reference = BM25Okapi([word_tokenizer(d) for d in DOCS])
    for query in ["failed payments retry", "churn churn renewals", "carrier number port", "unknown words"]:
        expected = reference.get_scores(word_tokenizer(query))
        np.testing.assert_allclose(index.scores(query), expected, rtol=0, atol=1e-9)
    assert index.top_k("failed payments", 2)[0][0] in ("d2", "d6")


def _data() -> RetrievalData:
    corpus = {f"d{i}": t for i, t in enumerate(DOCS)}
    queries = {"q1": "failed payments", "q2": "churn after card renewals fail"}
    qrels = {"train": {"q1": {"d2": 1, "d6": 1}, "q2": {"d1": 1}}}
    return RetrievalData("toy", corpus, queries, qrels)


def test_mining_excludes_every_relevant_doc() -> None:
    negatives = mine_bm25_negatives(_data(), "train", range_max=8, num_negatives=8)
    assert not {"d2", "d6"} & set(negatives["q1"])
    assert "d1" not in negatives["q2"]
    assert len(negatives["q1"]) == 6  # all 8 docs minus the 2 relevant ones


def test_mining_window_skips_the_top_ranks() -> None:
    data = _data()
    everything = mine_bm25_negatives(data, "train", range_min=0, range_max=8, num_negatives=8)
    window = mine_bm25_negatives(data, "train", range_min=2, range_max=4, num_negatives=8)
    assert window["q1"] == everything["q1"][2:4]


def test_relative_margin_drops_near_positive_candidates() -> None:
    data = _data()
    index = BM25Index(list(data.corpus), list(data.corpus.values()))
    scores = dict(zip(data.corpus, index.scores(data.queries["q2"]), strict=True))
    kept = mine_bm25_negatives(data, "train", range_max=8, num_negatives=8, relative_margin=0.5)["q2"]
    assert kept and all(scores[d] <= 0.5 * scores["d1"] + 1e-12 for d in kept)


def test_mining_is_deterministic() -> None:
    assert mine_bm25_negatives(_data(), "train") == mine_bm25_negatives(_data(), "train")


def test_bad_window_is_a_clear_error() -> None:
    with pytest.raises(Exception, match="range_min < range_max"):
        mine_bm25_negatives(_data(), "train", range_min=5, range_max=5)


def test_stem_tokenizer_drops_stopwords_and_stems() -> None:
    from embtune.dataset.bm25 import stem_tokenizer

    assert stem_tokenizer("The subscribers were cancelling their renewals") == ["subscrib", "cancel", "renew"]


@pytest.mark.parametrize("tokenizer", ["split", "word", "stem"])
def test_engines_agree_for_every_tokenizer(tokenizer: str) -> None:
    ids = [f"d{i}" for i in range(len(DOCS))]
    fast = BM25Index(ids, DOCS, tokenizer=tokenizer, engine="sparse")
    reference = BM25Index(ids, DOCS, tokenizer=tokenizer, engine="rank_bm25")
    for query in ["failed payments retry", "Roaming abroad travellers", "the number moves"]:
        np.testing.assert_allclose(fast.scores(query), reference.scores(query), rtol=0, atol=1e-9)
        assert fast.top_k(query, 3) == reference.top_k(query, 3)


def test_rank_matches_a_full_stable_sort_with_ties() -> None:
    ids = [f"d{i}" for i in range(len(DOCS))]
    index = BM25Index(ids, DOCS)
    scores = np.array([1.0, 3.0, 3.0, 0.5, 3.0, 2.0, 0.0, 2.0])
    full = [ids[i] for i in np.argsort(-scores, kind="stable")]
    for k in range(1, len(ids) + 1):
        assert [d for d, _ in index.rank(scores, k)] == full[:k]


def test_batch_scores_equal_single_scores() -> None:
    ids = [f"d{i}" for i in range(len(DOCS))]
    for engine in ("sparse", "rank_bm25"):
        index = BM25Index(ids, DOCS, engine=engine)
        queries = ["failed payments", "roaming abroad roaming", "zzz"]
        np.testing.assert_allclose(
            index.score_matrix(queries), np.stack([index.scores(q) for q in queries]), atol=1e-12
        )


def test_top_k_indices_match_rank_row_by_row() -> None:
    ids = [f"d{i}" for i in range(len(DOCS))]
    index = BM25Index(ids, DOCS)
    scores = np.array([[1.0, 3.0, 3.0, 0.5, 3.0, 2.0, 0.0, 2.0], [0.0] * 8, [5, 4, 3, 2, 1, 0, -1, -2.0]])
    for k in (1, 3, 5, 8):
        rows = index.top_k_indices(scores, k)
        for row, top in zip(scores, rows, strict=True):
            assert [ids[i] for i in top] == [d for d, _ in index.rank(row, k)]


def test_mining_in_small_blocks_equals_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory bound: queries scored a block at a time give exactly the negatives of one big block."""
    import embtune.dataset.bm25 as bm25

    whole = mine_bm25_negatives(_data(), "train", range_max=8, num_negatives=3)
    monkeypatch.setattr(bm25, "SCORE_BLOCK_BYTES", 8 * len(DOCS))  # one query per block
    assert mine_bm25_negatives(_data(), "train", range_max=8, num_negatives=3) == whole


def test_bm25s_engine_ranks_like_bm25() -> None:
    ids = [f"d{i}" for i in range(len(DOCS))]
    index = BM25Index(ids, DOCS, tokenizer="word", engine="bm25s", method="lucene")
    assert index.top_k("failed payments retry", 2)[0][0] == "d6"
    assert index.scores("zzz unknown").sum() == 0.0
    negatives = mine_bm25_negatives(_data(), "train", engine="bm25s", range_max=8, num_negatives=8)
    assert not {"d2", "d6"} & set(negatives["q1"]) and len(negatives["q1"]) == 6


@needs_shared_data
def test_sparse_engine_equals_rank_bm25_on_scifact() -> None:
    from embtune.dataset.sources import load_beir

    data = load_beir("scifact", str(SHARED_DATA / "scifact"), ["test"])
    ids = list(data.corpus)
    texts = [data.corpus[d] for d in ids]
    fast = BM25Index(ids, texts, tokenizer="stem", engine="sparse")
    reference = BM25Index(ids, texts, tokenizer="stem", engine="rank_bm25")
    queries = [data.queries[q] for q in sorted(data.qrels["test"])[:25]]
    np.testing.assert_allclose(fast.score_matrix(queries), reference.score_matrix(queries), rtol=0, atol=1e-9)


def test_top_k_indices_equal_a_full_stable_sort_on_random_ties() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(50, 200)).astype(np.float64)  # heavy ties, many at the cut
    scores[::7] = rng.random((8, 200))  # and some rows without ties
    for k in (1, 5, 37, 200):
        for row, top in zip(scores, BM25Index.top_k_indices(scores, k), strict=True):
            assert top.tolist() == np.argsort(-row, kind="stable")[:k].tolist()
    # long rows (the strided-sample floor at its widest), mostly zero as rare-term queries score
    wide = np.where(rng.random((12, 40_000)) < 0.002, rng.random((12, 40_000)), 0.0)
    wide[3] = 0.0  # a query that matches nothing: the top k are the first k docs
    for row, top in zip(wide, BM25Index.top_k_indices(wide, 60), strict=True):
        assert top.tolist() == np.argsort(-row, kind="stable")[:60].tolist()
