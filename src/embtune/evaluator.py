"""Evaluation with sentence-transformers' evaluators (IR, triplet, STS and their combination), plus the BM25
baseline scored by the IR evaluator's own metric code.

Metric names in metrics.json are the evaluator's own without its name and similarity (``ndcg@10``,
``spearman``, ``accuracy``); with several evaluators, the first one's metrics are plain and the others' are
prefixed by their kind (``triplet/accuracy``).
"""

from __future__ import annotations

import random

from datasets import Dataset
from omegaconf import DictConfig, OmegaConf
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import (
    BinaryClassificationEvaluator,
    EmbeddingSimilarityEvaluator,
    InformationRetrievalEvaluator,
    SentenceEvaluator,
    SequentialEvaluator,
    TripletEvaluator,
)

from embtune.bm25 import BM25Index
from embtune.data_format import build_rows
from embtune.dataset.types import RetrievalData
from embtune.errors import EmbtuneError

TRIPLET_FORMAT = OmegaConf.create(
    {"name": "triplets", "text_columns": {}, "label_column": None, "needs_negatives": True, "negatives_per_pair": 1}
)


def build_ir_evaluator(
    data: RetrievalData,
    split: str,
    eval_cfg: DictConfig,
    prompts: dict[str, str] | None,
    corpus_size: int | None = None,
    seed: int = 0,
    corpus_fill: str = "bm25",
) -> InformationRetrievalEvaluator:
    """An InformationRetrievalEvaluator for one split over the corpus (or a subsample of it).

    ``corpus_size`` keeps every relevant doc of the split plus distractors up to that size (``corpus_fill``):
    cheap dev evaluation during training on large corpora. Prompts (e5's ``query: `` / ``passage: ``) apply per
    side.
    """
    qrels = data.split(split)
    corpus = data.corpus
    if corpus_size is not None and corpus_size < len(corpus):
        corpus = subsample_corpus(data, qrels, corpus_size, seed, corpus_fill)
    prompts = prompts or {}
    return InformationRetrievalEvaluator(
        queries={q: data.queries[q] for q in qrels},
        corpus=corpus,
        relevant_docs={q: set(docs) for q, docs in qrels.items()},
        mrr_at_k=list(eval_cfg.mrr_at_k),
        ndcg_at_k=list(eval_cfg.ndcg_at_k),
        accuracy_at_k=list(eval_cfg.accuracy_at_k),
        precision_recall_at_k=list(eval_cfg.precision_recall_at_k),
        map_at_k=list(eval_cfg.map_at_k),
        batch_size=int(eval_cfg.batch_size),
        name=f"{data.name}-{split}-ir",
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


def build_triplet_evaluator(
    data: RetrievalData, split: str, negatives: dict[str, list[str]], batch_size: int = 32
) -> TripletEvaluator:
    """TripletEvaluator on held-out (query, positive, negative) rows of one split.

    Prompts are not applied here: sentence-transformers' TripletEvaluator has no per-side prompt.
    """
    rows: Dataset = build_rows(data, split, TRIPLET_FORMAT, negatives)
    return TripletEvaluator(
        rows["anchor"],
        rows["positive"],
        rows["negative"],
        name=f"{data.name}-{split}-triplet",
        batch_size=batch_size,
        write_csv=False,
    )


def build_sts_evaluator(data: RetrievalData, split: str, batch_size: int = 32) -> EmbeddingSimilarityEvaluator:
    """EmbeddingSimilarityEvaluator (Pearson / Spearman of cosine vs gold score) on scored pairs."""
    rows = data.pair_rows(split)
    return EmbeddingSimilarityEvaluator(
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        batch_size=batch_size,
        name=f"{data.name}-{split}-sts",
        write_csv=False,
    )


def build_binary_evaluator(data: RetrievalData, split: str, batch_size: int = 32) -> BinaryClassificationEvaluator:
    """BinaryClassificationEvaluator (accuracy, F1, precision, recall, AP at the best threshold) on labeled pairs."""
    rows = data.pair_rows(split)
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
        name=f"{data.name}-{split}-binary",
        write_csv=False,
    )


def build_evaluator(
    data: RetrievalData,
    split: str,
    eval_cfg: DictConfig,
    prompts: dict[str, str] | None,
    negatives: dict[str, list[str]] | None = None,
    corpus_size: int | None = None,
    seed: int = 0,
    corpus_fill: str = "bm25",
) -> SentenceEvaluator:
    """The configured evaluator kinds for one split; several become one SequentialEvaluator."""
    evaluators: list[SentenceEvaluator] = []
    for kind in eval_cfg.kinds:
        if kind == "ir":
            evaluators.append(build_ir_evaluator(data, split, eval_cfg.ir, prompts, corpus_size, seed, corpus_fill))
        elif kind == "triplet":
            evaluators.append(build_triplet_evaluator(data, split, negatives or {}, eval_cfg.batch_size))
        elif kind == "sts":
            evaluators.append(build_sts_evaluator(data, split, eval_cfg.batch_size))
        elif kind == "binary":
            evaluators.append(build_binary_evaluator(data, split, eval_cfg.batch_size))
        else:
            raise EmbtuneError(f"evaluator.kinds: unknown kind '{kind}'; use ir, triplet, sts or binary.")
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
