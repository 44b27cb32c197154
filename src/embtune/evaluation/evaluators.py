"""The evaluator/ config group: sentence-transformers' evaluators (IR, triplet, STS, binary, any combination), and
the BM25 baseline scored by the IR evaluator's own metric code.

Each entry of an evaluator/ config with a ``_target_`` is one builder here (``_partial_``; its settings from the
YAML, the split's data as ``EvalInputs`` from the run); a builder declares what else it needs with ``@needs``.
Adding an evaluator = one function + one YAML. Metric names in metrics.json are the evaluator's own without its
name and similarity (``ndcg@10``, ``spearman``, ``ap``); with several evaluators, the first one's metrics are
plain and the others' are prefixed by their config key (``triplet/accuracy``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import (
    BinaryClassificationEvaluator,
    EmbeddingSimilarityEvaluator,
    InformationRetrievalEvaluator,
    SentenceEvaluator,
    SequentialEvaluator,
    TripletEvaluator,
)

from embtune.config.needs import declares, needs
from embtune.dataset.bm25 import BM25Index
from embtune.dataset.formats import triplet_rows
from embtune.dataset.types import RetrievalData
from embtune.errors import EmbtuneError


@dataclass
class EvalInputs:
    """What an evaluator builder may read: one split of the data, and what the run knows about it."""

    data: RetrievalData
    split: str
    prompts: dict[str, str] | None = None  # by role: query / document
    negatives: dict[str, list[str]] | None = None  # query id -> held-out negative doc ids
    corpus_size: int | None = None  # dev: relevant docs + distractors up to this size
    seed: int = 0
    corpus_fill: str = "bm25"
    queries: int | None = None  # dev: a seeded sample of this many of the split's queries (embtune.tune's plan)


class GradedIREvaluator(InformationRetrievalEvaluator):
    """sentence-transformers' InformationRetrievalEvaluator with nDCG@k over graded relevance.

    sentence-transformers judges relevance as a set, so relevance 2 counts as 1 and nDCG differs from the figure
    MTEB and BEIR publish (trec_eval's, over graded qrels, via pytrec_eval). Here nDCG@k is trec_eval's
    (``pytrec_eval``, linear gains) on the very ranking the evaluator made (its tie order kept); the other metrics
    (MRR, MAP, recall, precision, accuracy) stay sentence-transformers', relevance-as-set as published too.
    On binary judgements both nDCGs are the same number.
    """

    def __init__(self, *args: Any, graded_qrels: dict[str, dict[str, int]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.graded_qrels = graded_qrels
        # the last evaluation's nDCG@k per query ({k: {query id: value}}): paired comparisons and bootstraps
        self.per_query_ndcg: dict[int, dict[str, float]] = {}

    def compute_metrics(self, queries_result_list: list[list[dict[str, Any]]]) -> dict[str, Any]:
        scores = super().compute_metrics(queries_result_list)
        self.per_query_ndcg = ndcg_per_query(self.queries_ids, queries_result_list, self.graded_qrels, self.ndcg_at_k)
        scores["ndcg@k"] = {k: float(np.mean(list(v.values()))) if v else 0.0 for k, v in self.per_query_ndcg.items()}
        return scores


def graded_ndcg(
    query_ids: list[str], results: list[list[dict[str, Any]]], qrels: dict[str, dict[str, int]], ks: list[int]
) -> dict[int, float]:
    """Mean trec_eval nDCG@k over the queries (see ``ndcg_per_query``)."""
    per_query = ndcg_per_query(query_ids, results, qrels, ks)
    return {k: float(np.mean(list(v.values()))) if v else 0.0 for k, v in per_query.items()}


def ndcg_per_query(
    query_ids: list[str], results: list[list[dict[str, Any]]], qrels: dict[str, dict[str, int]], ks: list[int]
) -> dict[int, dict[str, float]]:
    """trec_eval nDCG@k (pytrec_eval ``ndcg_cut.k``) of each query's ranked hits over graded ``qrels``.

    The hits are ranked as sentence-transformers ranks them (score, then corpus id) and handed to trec_eval as
    strictly decreasing scores, so trec_eval's own tie order (doc id, descending) never reorders them.
    """
    import pytrec_eval

    run = {}
    for qid, hits in zip(query_ids, results, strict=True):
        ranked = sorted(hits, key=lambda h: (-h["score"], h["corpus_id"]))
        run[qid] = {str(h["corpus_id"]): float(len(ranked) - i) for i, h in enumerate(ranked)}
    judged = {qid: {str(d): int(r) for d, r in qrels[qid].items()} for qid in query_ids}
    per_query = pytrec_eval.RelevanceEvaluator(judged, {f"ndcg_cut.{k}" for k in ks}).evaluate(run)
    return {k: {q: float(per_query.get(q, {}).get(f"ndcg_cut_{k}", 0.0)) for q in query_ids} for k in ks}


def ir_evaluator(
    inputs: EvalInputs,
    name: str,
    mrr_at_k: list[int],
    ndcg_at_k: list[int],
    accuracy_at_k: list[int],
    precision_recall_at_k: list[int],
    map_at_k: list[int],
    batch_size: int = 32,
) -> InformationRetrievalEvaluator:
    """Graded-relevance InformationRetrievalEvaluator for one split over the corpus (or a subsample of it).

    ``inputs.corpus_size`` keeps every relevant doc of the split plus distractors up to that size
    (``inputs.corpus_fill``): cheap dev evaluation during training on large corpora. Prompts (e5's ``query: `` /
    ``passage: ``) apply per side.
    """
    data, qrels = inputs.data, inputs.data.split(inputs.split)
    if inputs.queries is not None and inputs.queries < len(qrels):  # the same sample for every candidate
        qrels = {q: qrels[q] for q in sorted(random.Random(inputs.seed).sample(sorted(qrels), int(inputs.queries)))}
    corpus = data.corpus
    if inputs.corpus_size is not None and inputs.corpus_size < len(corpus):
        corpus = subsample_corpus(data, qrels, inputs.corpus_size, inputs.seed, inputs.corpus_fill)
    prompts = inputs.prompts or {}
    return GradedIREvaluator(
        graded_qrels=qrels,
        queries={q: data.queries[q] for q in qrels},
        corpus=corpus,
        relevant_docs={q: set(docs) for q, docs in qrels.items()},
        mrr_at_k=list(mrr_at_k),
        ndcg_at_k=list(ndcg_at_k),
        accuracy_at_k=list(accuracy_at_k),
        precision_recall_at_k=list(precision_recall_at_k),
        map_at_k=list(map_at_k),
        batch_size=int(batch_size),
        name=name,
        query_prompt=prompts.get("query"),
        corpus_prompt=prompts.get("document"),
        write_csv=False,
    )


def subsample_corpus(data: RetrievalData, qrels: dict, size: int, seed: int, fill: str = "bm25") -> dict[str, str]:
    """Every relevant doc of the split, then distractors up to ``size``.

    ``bm25``: the documents BM25 ranks highest for the split's queries, taken rank by rank across queries (the
    confusable ones a full-corpus search meets, so the sample is about as hard as the test corpus); the rest, if
    any, at random. ``random``: a seeded random sample (easier than the full corpus: a dev figure that runs high).
    """
    if fill not in ("bm25", "random"):
        raise EmbtuneError(f"dataset.dev_corpus_fill={fill!r}: choose bm25 or random.")
    keep = list(dict.fromkeys(d for q in sorted(qrels) for d in sorted(qrels[q])))
    chosen = set(keep)
    if fill == "bm25":
        doc_ids = list(data.corpus)
        index = BM25Index(doc_ids, [data.corpus[d] for d in doc_ids], tokenizer="stem")
        depth = min(len(doc_ids), max(1, size // max(1, len(qrels))) + 10)
        ranked = [[d for d, _ in index.top_k(data.queries[q], depth)] for q in sorted(qrels)]
        for rank in range(depth):
            for docs in ranked:
                if len(chosen) >= size:
                    break
                if rank < len(docs) and docs[rank] not in chosen:
                    chosen.add(docs[rank])
                    keep.append(docs[rank])
    others = sorted(set(data.corpus) - chosen)
    keep += random.Random(seed).sample(others, max(0, min(len(others), size - len(chosen))))
    return {d: data.corpus[d] for d in keep}


@needs("negatives")
def triplet_evaluator(inputs: EvalInputs, name: str, batch_size: int = 32) -> TripletEvaluator:
    """TripletEvaluator on held-out (query, positive, negative) rows of one split.

    Prompts are not applied here: sentence-transformers' TripletEvaluator has no per-side prompt.
    """
    rows = triplet_rows(inputs.data, inputs.split, inputs.negatives or {}, negatives_per_pair=1)
    return TripletEvaluator(
        rows["anchor"], rows["positive"], rows["negative"], name=name, batch_size=batch_size, write_csv=False
    )


def sts_evaluator(inputs: EvalInputs, name: str, batch_size: int = 32) -> EmbeddingSimilarityEvaluator:
    """EmbeddingSimilarityEvaluator (Pearson / Spearman of cosine vs gold score) on scored pairs."""
    rows = inputs.data.pair_rows(inputs.split)
    return EmbeddingSimilarityEvaluator(
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        batch_size=batch_size,
        name=name,
        write_csv=False,
    )


def binary_evaluator(inputs: EvalInputs, name: str, batch_size: int = 32) -> BinaryClassificationEvaluator:
    """BinaryClassificationEvaluator (accuracy, F1, precision, recall, AP at the best threshold) on labeled pairs."""
    data = inputs.data
    rows = data.pair_rows(inputs.split)
    if data.pair_values != "label":
        raise EmbtuneError(
            f"evaluator=binary needs 0/1 labeled pairs, but dataset '{data.name}' holds {data.pair_values or 'no'} "
            "pairs. Fix: evaluator=sts for graded scores, evaluator=ir for retrieval data."
        )
    return BinaryClassificationEvaluator(
        [r[0] for r in rows],
        [r[1] for r in rows],
        [int(r[2]) for r in rows],
        batch_size=batch_size,
        name=name,
        write_csv=False,
    )


def evaluator_parts(eval_cfg: DictConfig) -> dict[str, Callable[..., SentenceEvaluator]]:
    """The configured evaluator builders, in config order: every entry of evaluator/ with a ``_target_``."""
    parts = {
        key: instantiate(node)
        for key, node in eval_cfg.items()
        if isinstance(node, DictConfig) and node.get("_target_") is not None
    }
    if not parts:
        raise EmbtuneError("the evaluator config builds nothing: give it an entry with a _target_ (see evaluator/ir).")
    return parts


def evaluator_needs(eval_cfg: DictConfig, what: str) -> bool:
    """Whether any configured evaluator declared it needs ``what`` (e.g. held-out ``negatives``)."""
    return any(declares(p, what) for p in evaluator_parts(eval_cfg).values())


def build_evaluator(eval_cfg: DictConfig, inputs: EvalInputs) -> SentenceEvaluator:
    """The configured evaluators for one split, named ``<dataset>-<split>-<key>``; several become one
    SequentialEvaluator whose main score is the first one's."""
    evaluators = [
        build(inputs, name=f"{inputs.data.name}-{inputs.split}-{key}")
        for key, build in evaluator_parts(eval_cfg).items()
    ]
    if len(evaluators) == 1:
        return evaluators[0]
    return SequentialEvaluator(evaluators, main_score_function=lambda scores: scores[0])


def _parts(evaluator: SentenceEvaluator) -> list[SentenceEvaluator]:
    return list(evaluator.evaluators) if isinstance(evaluator, SequentialEvaluator) else [evaluator]


def _raw_key(evaluator: SentenceEvaluator, similarity: str, metric: str) -> str:
    """The evaluator's own key for a clean metric name (each evaluator orders name parts its own way)."""
    if isinstance(evaluator, EmbeddingSimilarityEvaluator):
        return f"{evaluator.name}_{metric}_{similarity}"
    return f"{evaluator.name}_{similarity}_{metric}"


def primary_metric_key(evaluator: SentenceEvaluator, model: SentenceTransformer, metric: str) -> str:
    """The key the trainer logs for the first evaluator's ``metric`` (``eval_<name>_<similarity>_<metric>``)."""
    return "eval_" + _raw_key(_parts(evaluator)[0], model.similarity_fn_name, metric)


def _clean(evaluator: SentenceEvaluator, similarity: str, metrics: dict[str, float]) -> dict[str, float]:
    clean = {}
    for key, value in metrics.items():
        rest = key[len(evaluator.name) + 1 :] if key.startswith(evaluator.name + "_") else key
        if rest.startswith(similarity + "_"):
            clean[rest[len(similarity) + 1 :]] = float(value)
        elif rest.endswith("_" + similarity):
            clean[rest[: -len(similarity) - 1]] = float(value)
    return clean


def evaluate_model(model: SentenceTransformer, evaluator: SentenceEvaluator) -> dict[str, float]:
    """Run the evaluator(s); clean metric names, the first evaluator's unprefixed, later ones as ``kind/name``."""
    metrics: dict[str, float] = {}
    for i, part in enumerate(_parts(evaluator)):
        clean = _clean(part, model.similarity_fn_name, part(model))
        prefix = "" if i == 0 else part.name.rsplit("-", 1)[-1] + "/"
        metrics.update({prefix + k: v for k, v in clean.items()})
    return metrics


def evaluate_per_dim(
    model: SentenceTransformer, evaluator: SentenceEvaluator, dims: list[int], metric: str
) -> dict[str, float]:
    """The first evaluator's ``metric`` with embeddings truncated to each of ``dims`` (Matryoshka).

    Retrieval encodes the corpus once at full size and truncates it per dimension (the queries are encoded
    truncated); other evaluators re-encode per dimension. Keys are the dimensions as text (JSON keys).
    """
    first = _parts(evaluator)[0]
    corpus = None
    if isinstance(first, InformationRetrievalEvaluator):
        corpus = first.embed_inputs(
            model,
            first.corpus,
            encode_fn_name="document",
            prompt_name=first.corpus_prompt_name,
            prompt=first.corpus_prompt,
        )
    out = {}
    for dim in dims:
        first.truncate_dim = dim
        try:
            raw = first(model) if corpus is None else first(model, corpus_embeddings=corpus[:, :dim])
        finally:
            first.truncate_dim = None
        out[str(dim)] = _clean(first, model.similarity_fn_name, raw)[metric]
    return out


def evaluate_bm25(
    evaluator: SentenceEvaluator,
    tokenizer: str = "stem",
    k1: float = 1.5,
    b: float = 0.75,
    engine: str = "sparse",
    method: str = "lucene",
) -> dict:
    """BM25 over the IR evaluator's corpus, scored by that evaluator's own metric code (same names, same maths).

    Empty when there is no IR evaluator (BM25 does not apply to STS or triplet-only evaluation).
    """
    ir = next((p for p in _parts(evaluator) if isinstance(p, InformationRetrievalEvaluator)), None)
    if ir is None:
        return {}
    index = BM25Index(ir.corpus_ids, ir.corpus, tokenizer=tokenizer, engine=engine, k1=k1, b=b, method=method)
    depth = max(
        max(ir.mrr_at_k), max(ir.ndcg_at_k), max(ir.accuracy_at_k), max(ir.precision_recall_at_k), max(ir.map_at_k)
    )
    results = [[{"corpus_id": d, "score": s} for d, s in index.top_k(query, depth)] for query in ir.queries]
    scores = ir.compute_metrics(results)
    return {name.replace("@k", f"@{k}"): float(v) for name, per_k in scores.items() for k, v in per_k.items()}
