"""Evaluation with sentence-transformers' evaluators, plus the BM25 baseline scored by the same metric code."""

from __future__ import annotations

import random

from omegaconf import DictConfig
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

from embtune.bm25 import BM25Index
from embtune.data import RetrievalData


def build_ir_evaluator(
    data: RetrievalData,
    split: str,
    eval_cfg: DictConfig,
    prompts: dict[str, str] | None,
    corpus_size: int | None = None,
    seed: int = 0,
) -> InformationRetrievalEvaluator:
    """An InformationRetrievalEvaluator for one split over the corpus (or a subsample of it).

    ``corpus_size`` keeps every relevant doc of the split plus a seeded sample of the others: cheap dev
    evaluation during training on large corpora. Prompts (e5's ``query: `` / ``passage: ``) apply per side.
    """
    qrels = data.split(split)
    corpus = data.corpus
    if corpus_size is not None and corpus_size < len(corpus):
        keep = {d for docs in qrels.values() for d in docs}
        others = sorted(set(corpus) - keep)
        keep |= set(random.Random(seed).sample(others, max(0, corpus_size - len(keep))))
        corpus = {d: t for d, t in corpus.items() if d in keep}
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
        name=f"{data.name}-{split}",
        query_prompt=prompts.get("query"),
        corpus_prompt=prompts.get("document"),
        write_csv=False,
    )


def primary_metric_key(evaluator: InformationRetrievalEvaluator, model: SentenceTransformer, metric: str) -> str:
    """The key the trainer logs for ``metric`` (``eval_<name>_<similarity>_<metric>``)."""
    return f"eval_{evaluator.name}_{model.similarity_fn_name}_{metric}"


def strip_metric_names(metrics: dict[str, float], prefix: str) -> dict[str, float]:
    """``{'scifact-test_cosine_ndcg@10': x}`` -> ``{'ndcg@10': x}`` for the given prefix."""
    return {k[len(prefix) :]: float(v) for k, v in metrics.items() if k.startswith(prefix)}


def evaluate_model(model: SentenceTransformer, evaluator: InformationRetrievalEvaluator) -> dict[str, float]:
    """Run the evaluator; metric names without the evaluator/similarity prefix."""
    metrics = evaluator(model)
    return strip_metric_names(metrics, f"{evaluator.name}_{model.similarity_fn_name}_")


def evaluate_bm25(
    evaluator: InformationRetrievalEvaluator, tokenizer: str = "stem", k1: float = 1.5, b: float = 0.75
) -> dict[str, float]:
    """BM25 over the evaluator's corpus, scored by the evaluator's own metric code (same names, same maths)."""
    index = BM25Index(evaluator.corpus_ids, evaluator.corpus, tokenizer=tokenizer, k1=k1, b=b)
    depth = max(
        max(evaluator.mrr_at_k),
        max(evaluator.ndcg_at_k),
        max(evaluator.accuracy_at_k),
        max(evaluator.precision_recall_at_k),
        max(evaluator.map_at_k),
    )
    results = [[{"corpus_id": d, "score": s} for d, s in index.top_k(query, depth)] for query in evaluator.queries]
    scores = evaluator.compute_metrics(results)
    return {name.replace("@k", f"@{k}"): float(v) for name, per_k in scores.items() for k, v in per_k.items()}
