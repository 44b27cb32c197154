"""BM25 ranking over a corpus: rank-bm25's BM25Okapi, plus a sparse-matrix engine that scores the same model."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
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


class BM25Index:
    """BM25Okapi over a corpus (rank-bm25's idf, k1, b, epsilon), scored by one sparse matrix product.

    ``engine="rank_bm25"`` scores with rank-bm25's own ``get_scores`` (slow, the reference);
    ``engine="sparse"`` precomputes each (doc, term) weight of the same model and gives the same scores.
    """

    def __init__(
        self,
        doc_ids: list[str],
        texts: list[str],
        tokenizer: str = "word",
        engine: str = "sparse",
        k1: float = 1.5,
        b: float = 0.75,
        epsilon: float = 0.25,
    ) -> None:
        if engine not in ("sparse", "rank_bm25"):
            raise EmbtuneError(f"unknown BM25 engine '{engine}'; choose 'sparse' or 'rank_bm25'.")
        self.doc_ids = doc_ids
        self.tokenize = get_tokenizer(tokenizer)
        self.engine = engine
        tokenized = [self.tokenize(t) for t in texts]
        self.model = BM25Okapi(tokenized, k1=k1, b=b, epsilon=epsilon)
        if engine == "sparse":
            self._build_matrix()

    def _build_matrix(self) -> None:
        m = self.model
        self.vocab = {term: i for i, term in enumerate(m.idf)}
        doc_len = np.asarray(m.doc_len, dtype=np.float64)
        rows, cols, tfs = [], [], []
        for d, freqs in enumerate(m.doc_freqs):
            for term, tf in freqs.items():
                rows.append(d)
                cols.append(self.vocab[term])
                tfs.append(tf)
        rows_a, cols_a, tf_a = np.asarray(rows), np.asarray(cols), np.asarray(tfs, dtype=np.float64)
        idf = np.asarray([m.idf[t] for t in self.vocab], dtype=np.float64)
        norm = m.k1 * (1 - m.b + m.b * doc_len[rows_a] / m.avgdl)
        weights = idf[cols_a] * (tf_a * (m.k1 + 1) / (tf_a + norm))
        self.matrix = sparse.csr_matrix((weights, (rows_a, cols_a)), shape=(len(doc_len), len(self.vocab)))
        self.term_rows = self.matrix.T.tocsr()  # term -> its weight in every doc: a query reads only its rows

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for one query (rank-bm25 semantics: repeated query terms add up)."""
        tokens = self.tokenize(query)
        if self.engine == "rank_bm25":
            return self.model.get_scores(tokens)
        counts = Counter(t for t in tokens if t in self.vocab)
        q = np.zeros(len(self.vocab), dtype=np.float64)
        for term, c in counts.items():
            q[self.vocab[term]] = c
        return self.matrix @ q

    def score_matrix(self, queries: list[str]) -> np.ndarray:
        """Scores of every document for many queries at once: (n_queries, n_docs)."""
        if self.engine == "rank_bm25":
            return np.stack([self.scores(q) for q in queries]) if queries else np.zeros((0, len(self.doc_ids)))
        out = np.zeros((len(queries), len(self.doc_ids)), dtype=np.float64)
        for i, query in enumerate(queries):
            counts = Counter(t for t in self.tokenize(query) if t in self.vocab)
            if counts:  # sum the weight rows of the query's terms, each times its count in the query
                terms = self.term_rows[[self.vocab[t] for t in counts]]
                out[i] = terms.T @ np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        return out

    @staticmethod
    def top_k_indices(scores: np.ndarray, k: int) -> list[np.ndarray]:
        """Per row of a (queries, docs) score matrix, the k best doc positions, ties broken by doc order."""
        k = min(k, scores.shape[1])
        if k == 0:
            return [np.empty(0, dtype=np.int64) for _ in range(scores.shape[0])]
        cut = -np.partition(-scores, k - 1, axis=1)[:, k - 1]  # each row's k-th best score
        out = []
        for row, c in zip(scores, cut, strict=True):
            candidates = np.flatnonzero(row >= c)  # ascending doc order; ties at the cut included
            out.append(candidates[np.argsort(-row[candidates], kind="stable")][:k])
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
