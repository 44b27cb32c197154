"""The teacher/ config group: a stronger scorer whose scores of (query, document) pairs a distillation loss learns
(loss=margin_mse, loss=distill_kl). A bi-encoder (any sentence-transformers model; ``teacher=mpnet`` the bundled
one), a cross-encoder (any ``CrossEncoder``), BM25 over the run's corpus, or a hybrid of BM25 and a dense teacher.

Every teacher scores pairwise and says who it is (``identity``: weights' sha256 or settings), so its scores are
cached like the zero-shot figures. Scores come on comparable scales: cosine in [-1, 1], a cross-encoder's sigmoid in
[0, 1], BM25 divided by the corpus's 99th-percentile score of the pairs asked, a hybrid's fusion in [0, 1]."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from scipy.stats import rankdata

from embtune.errors import EmbtuneError

log = logging.getLogger(__name__)


class Teacher:
    """Scores (query, document) pairs; ``fit`` sees the corpus first (BM25 needs its statistics)."""

    name = "teacher"

    def fit(self, corpus: Sequence[str]) -> None:  # noqa: B027 - only BM25 needs the corpus
        """Read what scoring needs from the corpus (nothing for model teachers)."""

    def identity(self) -> dict[str, Any]:
        raise NotImplementedError

    def score(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        raise NotImplementedError


def _model_cfg(name_or_path: str, max_seq_length: int | None) -> Any:
    return OmegaConf.create(
        {"name_or_path": name_or_path, "max_seq_length": max_seq_length, "prompts": None, "trust_remote_code": False}
    )


class BiEncoderTeacher(Teacher):
    """Any sentence-transformers model (dir or Hub id, found offline-first like model/): cosine of the embeddings."""

    def __init__(
        self,
        name_or_path: str,
        cache_dir: str | Path,
        name: str = "bi_encoder",
        batch_size: int = 32,
        max_seq_length: int | None = None,
    ) -> None:
        from embtune.model.loading import load_base_model

        self.name, self.batch_size = name, batch_size
        self.model, self.resolved = load_base_model(_model_cfg(name_or_path, max_seq_length), cache_dir)
        self.model.eval()
        self.name_or_path = name_or_path

    def identity(self) -> dict[str, Any]:
        return {"kind": "bi_encoder", "weights": self.resolved.weights_sha256 or self.name_or_path,
                "max_seq_length": self.model.max_seq_length}  # fmt: skip

    def score(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        texts = sorted(set(queries) | set(docs))
        vectors = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True)
        at = {t: i for i, t in enumerate(texts)}
        q = vectors[[at[t] for t in queries]]
        d = vectors[[at[t] for t in docs]]
        return np.einsum("ij,ij->i", q, d).astype(np.float64)


class CrossEncoderTeacher(Teacher):
    """Any sentence-transformers ``CrossEncoder`` (dir or Hub id): its score of each pair, sigmoid-scaled to [0, 1]."""

    def __init__(
        self, name_or_path: str, name: str = "cross_encoder", batch_size: int = 32, max_length: int | None = None
    ) -> None:
        from sentence_transformers import CrossEncoder

        self.name, self.batch_size, self.name_or_path = name, batch_size, name_or_path
        try:
            self.model = CrossEncoder(name_or_path, max_length=max_length)
        except OSError as e:
            raise EmbtuneError(
                f"teacher.name_or_path={name_or_path}: no cross-encoder there ({str(e).splitlines()[0]}). Fix: a local "
                "CrossEncoder dir, or a Hub id on a machine that can reach the Hub."
            ) from None
        self.weights = _dir_digest(Path(name_or_path)) if Path(name_or_path).is_dir() else name_or_path

    def identity(self) -> dict[str, Any]:
        return {"kind": "cross_encoder", "weights": self.weights, "max_length": self.model.max_length}

    def score(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        import torch

        pairs = list(zip(queries, docs, strict=True))
        scores = self.model.predict(pairs, batch_size=self.batch_size, activation_fn=torch.nn.Sigmoid())
        return np.asarray(scores, dtype=np.float64).reshape(-1)


class BM25Teacher(Teacher):
    """BM25 over the run's corpus (embtune's engine), each score divided by the 99th percentile of the pairs asked
    that share a term, clipped to [0, 1]: a lexical teacher on the scale of a cosine."""

    def __init__(self, name: str = "bm25", tokenizer: str = "stem", k1: float = 1.5, b: float = 0.75) -> None:
        self.name, self.tokenizer, self.k1, self.b = name, tokenizer, k1, b
        self.index: Any = None
        self.corpus_digest = ""

    def fit(self, corpus: Sequence[str]) -> None:
        from embtune.dataset.bm25 import BM25Index

        texts = list(corpus)
        self.at = {t: i for i, t in enumerate(texts)}
        ids = [str(i) for i in range(len(texts))]
        self.index = BM25Index(ids, texts, tokenizer=self.tokenizer, k1=self.k1, b=self.b)
        self.corpus_digest = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()

    def identity(self) -> dict[str, Any]:
        return {"kind": "bm25", "tokenizer": self.tokenizer, "k1": self.k1, "b": self.b, "corpus": self.corpus_digest}

    def raw(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        if self.index is None:
            raise EmbtuneError("teacher=bm25 scores against a corpus: fit() it on the run's corpus first.")
        by_query: dict[str, list[int]] = defaultdict(list)
        for i, q in enumerate(queries):
            by_query[q].append(i)
        out = np.zeros(len(queries))
        for q, rows in by_query.items():
            scores = self.index.scores(q)
            for i in rows:
                j = self.at.get(docs[i])
                out[i] = scores[j] if j is not None else 0.0  # a text outside the corpus: no BM25 evidence
        return out

    def score(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        raw = self.raw(queries, docs)
        nonzero = raw[raw > 0]  # most pairs of a keyword corpus share no term: the scale comes from those that do
        top = float(np.percentile(nonzero, 99)) if len(nonzero) else 0.0
        return np.clip(raw / top, 0.0, 1.0) if top > 0 else raw


class HybridTeacher(Teacher):
    """BM25 fused with a dense teacher: ``score`` fusion is ``weight`` x BM25 (scaled as BM25Teacher) + (1 - weight)
    x the dense score; ``rrf`` is reciprocal-rank fusion among each query's pairs, scaled so rank 1 of both is 1."""

    def __init__(
        self,
        dense: Teacher,
        sparse: BM25Teacher,
        name: str = "hybrid",
        fusion: str = "score",
        weight: float = 0.5,
        rrf_k: int = 60,
    ) -> None:
        check_fusion(fusion, weight)
        self.dense, self.sparse, self.name = dense, sparse, name
        self.fusion, self.weight, self.rrf_k = fusion, weight, rrf_k

    def fit(self, corpus: Sequence[str]) -> None:
        self.sparse.fit(corpus)
        self.dense.fit(corpus)

    def identity(self) -> dict[str, Any]:
        return {"kind": "hybrid", "dense": self.dense.identity(), "sparse": self.sparse.identity(),
                "fusion": self.fusion, "weight": self.weight, "rrf_k": self.rrf_k}  # fmt: skip

    def score(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        sparse, dense = self.sparse.score(queries, docs), self.dense.score(queries, docs)
        if self.fusion == "score":
            return self.weight * sparse + (1.0 - self.weight) * dense
        fused = np.zeros(len(queries))
        by_query: dict[str, list[int]] = defaultdict(list)
        for i, q in enumerate(queries):
            by_query[q].append(i)
        for rows in by_query.values():
            # each of the query's distinct documents ranked once (a triplet row repeats its positive per negative),
            # tied scores sharing their average rank
            distinct = list(dict.fromkeys(docs[i] for i in rows))
            first = {d: next(i for i in rows if docs[i] == d) for d in distinct}
            for part, share in ((sparse, self.weight), (dense, 1.0 - self.weight)):
                values = np.array([part[first[d]] for d in distinct])
                ranks = dict(zip(distinct, rankdata(-values, method="average"), strict=True))
                for i in rows:
                    fused[i] += share * (self.rrf_k + 1) / (self.rrf_k + ranks[docs[i]])
        return fused


def check_fusion(fusion: Any, weight: Any) -> None:
    """The hybrid's settings, checked once for the config (before anything loads) and for direct use."""
    if fusion is not None and fusion not in ("score", "rrf"):
        raise EmbtuneError(f"teacher.fusion={fusion}: choose score (weighted scores) or rrf (reciprocal ranks).")
    if weight is not None and not 0.0 <= float(weight) <= 1.0:
        raise EmbtuneError(f"teacher.weight={weight}: the BM25 share of the fusion is between 0 and 1.")


def _dir_digest(path: Path) -> str:
    """sha256 over a model dir's weight files (names and bytes): the cross-encoder's identity for the cache."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.suffix in (".safetensors", ".bin") and p.is_file()):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def cached_scores(
    teacher: Teacher, queries: Sequence[str], docs: Sequence[str], cache_dir: str | Path
) -> tuple[np.ndarray, bool]:
    """The teacher's scores of the pairs, computed once per teacher identity and pairs: (scores, cache hit)."""
    from embtune.run.files import write_bytes_atomic

    digest = hashlib.sha256(json.dumps(teacher.identity(), sort_keys=True).encode())
    for q, d in zip(queries, docs, strict=True):
        digest.update(hashlib.sha256(f"{q}\x00{d}".encode()).digest())
    path = Path(cache_dir) / "teacher" / f"{digest.hexdigest()}.npy"
    if path.is_file():
        return np.load(path), True
    scores = teacher.score(queries, docs)
    import io

    buffer = io.BytesIO()
    np.save(buffer, scores)
    try:
        write_bytes_atomic(path, buffer.getvalue())
    except OSError as e:  # a cache that cannot be written costs time, never the run
        log.warning("teacher scores not cached (%s): %s", path, e)
    return scores, False
