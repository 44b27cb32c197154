"""BM25 ranking over a corpus: rank-bm25's BM25Okapi model scored by a vectorised sparse-matrix engine (or by
rank-bm25 itself, or by bm25s), with memory bounded in the number of queries."""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache

import numpy as np
from rank_bm25 import BM25Okapi
from scipy import sparse

from embtune.errors import EmbtuneError

_WORD = re.compile(r"\w+")


def split_tokenizer(text: str) -> list[str]:
    """Lower-case and split on whitespace (punctuation stays attached)."""
    return text.lower().split()


def word_tokenizer(text: str) -> list[str]:
    """Lower-case word tokens (``\\w+``)."""
    return _WORD.findall(text.lower())


# A short English stopword list: function words that carry no topic.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself yourselves""".split()
)


def stem_tokenizer(text: str) -> list[str]:
    """Word tokens without stopwords, Snowball-stemmed (English): what Lucene-style BM25 indexes."""
    return _stemmer().stemWords([t for t in word_tokenizer(text) if t not in STOPWORDS])


@lru_cache(maxsize=1)
def _stemmer():  # noqa: ANN202 - PyStemmer has no type stubs
    import Stemmer

    return Stemmer.Stemmer("english")


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {
    "split": split_tokenizer,
    "word": word_tokenizer,
    "stem": stem_tokenizer,
}


def get_tokenizer(name: str) -> Callable[[str], list[str]]:
    """A tokenizer by config name; an unknown name lists the known ones."""
    try:
        return TOKENIZERS[name]
    except KeyError:
        raise EmbtuneError(f"unknown BM25 tokenizer '{name}'; choose one of: {', '.join(TOKENIZERS)}.") from None


ENGINES = ("sparse", "rank_bm25", "bm25s")
# bytes of dense scores held at once while ranking many queries: memory stays flat in the number of queries
SCORE_BLOCK_BYTES = 1 << 26
INDEX_SLICE = 1 << 22  # postings per slice while weighting: bounds the index build's temporaries


class BM25Index:
    """BM25 over a corpus. Engines:

    ``sparse`` (default): rank-bm25's BM25Okapi model (its idf with the epsilon floor, k1, b), built vectorised
    (token ids and per-document counts in flat arrays, no per-document dicts) into one term-major sparse matrix of
    weights; a query's scores sum the weight rows of its terms. Same scores as rank-bm25 (to 1e-9).
    ``rank_bm25``: rank-bm25's own ``get_scores`` (slow; the reference).
    ``bm25s``: the bm25s library (its scoring variants by its names: ``lucene``, ``robertson``, ``atire``,
    ``bm25l``, ``bm25+``), on the same tokens; for large corpora where exact rank-bm25 parity does not matter.
    """

    def __init__(
        self,
        doc_ids: list[str],
        texts: Iterable[str],
        tokenizer: str = "word",
        engine: str = "sparse",
        k1: float = 1.5,
        b: float = 0.75,
        epsilon: float = 0.25,
        method: str = "lucene",
    ) -> None:
        if engine not in ENGINES:
            raise EmbtuneError(f"unknown BM25 engine '{engine}'; choose one of {', '.join(ENGINES)}.")
        self.doc_ids = list(doc_ids)
        if not self.doc_ids:
            raise EmbtuneError("BM25 over an empty corpus: the dataset has no documents to rank.")
        self.tokenize = get_tokenizer(tokenizer)
        self.engine = engine
        if engine == "rank_bm25":
            self.model = BM25Okapi([self.tokenize(t) for t in texts], k1=k1, b=b, epsilon=epsilon)
        elif engine == "bm25s":
            self._index_bm25s(texts, k1, b, method)
        else:
            self._index_sparse(texts, k1, b, epsilon)

    def _index_sparse(self, texts: Iterable[str], k1: float, b: float, epsilon: float) -> None:
        vocab: dict[str, int] = {}
        term_ids, tfs, doc_len, nnz = array("i"), array("i"), array("q"), array("q")
        for text in texts:
            tokens = self.tokenize(text)
            ids = np.fromiter((vocab.setdefault(t, len(vocab)) for t in tokens), dtype=np.int32, count=len(tokens))
            uniq, counts = np.unique(ids, return_counts=True)
            term_ids.frombytes(uniq.astype(np.int32).tobytes())
            tfs.frombytes(counts.astype(np.int32).tobytes())
            doc_len.append(len(tokens))
            nnz.append(len(uniq))
        n_docs, n_terms = len(doc_len), len(vocab)
        cols = np.frombuffer(term_ids, dtype=np.int32)
        lengths = np.frombuffer(doc_len, dtype=np.int64).astype(np.float64)
        per_doc = np.frombuffer(nnz, dtype=np.int64)
        # rank-bm25's BM25Okapi: idf = ln(N - df + 0.5) - ln(df + 0.5); negative ones -> epsilon x mean idf
        df = np.bincount(cols, minlength=n_terms)
        idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
        if n_terms:
            idf[idf < 0] = epsilon * idf.mean()
        avgdl = lengths.sum() / n_docs if n_docs else 1.0
        norm_of_doc = k1 * (1 - b + b * lengths / avgdl)
        doc_of = np.repeat(np.arange(n_docs, dtype=np.int32), per_doc)
        # weights in slices (float64 as rank-bm25, no whole-corpus temporaries), then one stable sort by term:
        # the term-major matrix is built directly, never a doc-major copy beside it
        weights = np.empty(len(cols), dtype=np.float64)
        for s in range(0, len(cols), INDEX_SLICE):
            tf = np.frombuffer(tfs, dtype=np.int32)[s : s + INDEX_SLICE].astype(np.float64)
            weights[s : s + INDEX_SLICE] = idf[cols[s : s + INDEX_SLICE]] * (
                tf * (k1 + 1) / (tf + norm_of_doc[doc_of[s : s + INDEX_SLICE]])
            )
        del tfs, term_ids
        order = np.argsort(cols, kind="stable")  # by term, doc order kept within a term
        del cols
        doc_of = doc_of[order]
        weights = weights[order]
        del order
        indptr = np.concatenate([[0], np.cumsum(df)])
        self.vocab = vocab
        # term -> its weight in every doc: a query reads only its terms' rows
        self.term_rows = sparse.csr_matrix((weights, doc_of, indptr), shape=(n_terms, n_docs))

    def _index_bm25s(self, texts: Iterable[str], k1: float, b: float, method: str) -> None:
        try:
            import bm25s
        except ImportError:
            raise EmbtuneError("mining.engine=bm25s needs the bm25s package: pip install bm25s") from None
        self.bm25s = bm25s.BM25(k1=k1, b=b, method=method)
        self.bm25s.index([self.tokenize(t) for t in texts], show_progress=False)

    def _query_vector(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """(term ids, counts) of a query's known terms (rank-bm25 semantics: repeated terms add up)."""
        ids = [self.vocab[t] for t in self.tokenize(query) if t in self.vocab]
        if not ids:
            return np.empty(0, dtype=np.int64), np.empty(0)
        uniq, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
        return uniq, counts.astype(np.float64)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for one query."""
        if self.engine == "rank_bm25":
            return self.model.get_scores(self.tokenize(query))
        if self.engine == "bm25s":
            tokens = [t for t in self.tokenize(query) if t in self.bm25s.vocab_dict]
            if not tokens:  # bm25s needs at least one known token
                return np.zeros(len(self.doc_ids))
            return np.asarray(self.bm25s.get_scores(tokens), dtype=np.float64)
        terms, counts = self._query_vector(query)
        if not len(terms):
            return np.zeros(len(self.doc_ids))
        return self.term_rows[terms].T @ counts

    def score_matrix(self, queries: list[str]) -> np.ndarray:
        """Scores of every document for many queries at once: (n_queries, n_docs). Small inputs only: for many
        queries over a large corpus use ``score_blocks`` (bounded memory)."""
        out = np.zeros((len(queries), len(self.doc_ids)), dtype=np.float64)
        if self.engine != "sparse":
            for i, query in enumerate(queries):
                out[i] = self.scores(query)
            return out
        for i, query in enumerate(queries):  # per query: only the weight rows of its terms are read
            terms, counts = self._query_vector(query)
            if len(terms):
                out[i] = self.term_rows[terms].T @ counts
        return out

    def score_blocks(self, queries: list[str]) -> Iterator[tuple[int, np.ndarray]]:
        """(offset, scores of a block of queries): at most SCORE_BLOCK_BYTES of scores alive at once."""
        block = max(1, SCORE_BLOCK_BYTES // (8 * max(1, len(self.doc_ids))))
        for start in range(0, len(queries), block):
            yield start, self.score_matrix(queries[start : start + block])

    @staticmethod
    def top_k_indices(scores: np.ndarray, k: int) -> list[np.ndarray]:
        """Per row of a (queries, docs) score matrix, the k best doc positions, ties broken by doc order.

        Exact, without partitioning whole rows: the k-th best score of a strided sample of each row is a floor
        that at least k documents reach, so one comparison pass leaves a few candidates per row, and only those
        are ranked. A row whose floor is a widely shared score (0 for rare-term queries) just has more candidates.
        """
        n = scores.shape[1]
        k = min(k, n)
        if k == 0:
            return [np.empty(0, dtype=np.int64) for _ in range(scores.shape[0])]
        sample = scores[:, :: max(1, min(32, n // (16 * k)))]
        floors = np.partition(sample, sample.shape[1] - k, axis=1)[:, sample.shape[1] - k]
        out = []
        for row, floor in zip(scores, floors, strict=True):
            candidates = np.flatnonzero(row >= floor)  # ascending doc order; every doc of the top k is here
            values = row[candidates]
            cut = np.partition(values, len(values) - k)[len(values) - k]  # the k-th best score
            above = candidates[values > cut]
            above = above[np.lexsort((above, -row[above]))]  # by score, then doc
            ties = candidates[values == cut][: k - len(above)]  # at the cut: first in doc order
            out.append(np.concatenate([above, ties]))
        return out

    def top_k(self, query: str, k: int) -> list[tuple[str, float]]:
        """The k best (doc id, score), ties broken by doc order (stable)."""
        return self.rank(self.scores(query), k)

    def rank(self, scores: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The k best (doc id, score) of precomputed scores, ties broken by doc order."""
        k = min(k, len(scores))
        if k < len(scores):  # only sort the candidates that can make the top k (ties at the cut included)
            cut = -np.partition(-scores, k - 1)[k - 1]
            candidates = np.flatnonzero(scores >= cut)
        else:
            candidates = np.arange(len(scores))
        order = candidates[np.argsort(-scores[candidates], kind="stable")][:k]
        return [(self.doc_ids[i], float(scores[i])) for i in order]
