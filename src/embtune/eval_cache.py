"""Cache of baseline evaluations: a base model's zero-shot figures on a test split are computed once.

The key covers everything the figures depend on: the weights (sha256), max_seq_length, similarity function,
the evaluator's queries, corpus, judgements, cut-offs and prompts. Sweep jobs and reruns share the entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

from embtune.run_dir import write_json_atomic

log = logging.getLogger(__name__)


def evaluator_fingerprint(evaluator: InformationRetrievalEvaluator) -> str:
    """sha256 over the evaluator's inputs and settings."""
    h = hashlib.sha256()
    payload = {
        "queries": list(zip(evaluator.queries_ids, evaluator.queries, strict=True)),
        "corpus": list(zip(evaluator.corpus_ids, evaluator.corpus, strict=True)),
        "relevant": {q: sorted(d) for q, d in sorted(evaluator.relevant_docs.items())},
        "k": [
            evaluator.mrr_at_k,
            evaluator.ndcg_at_k,
            evaluator.accuracy_at_k,
            evaluator.precision_recall_at_k,
            evaluator.map_at_k,
        ],
        "prompts": [evaluator.query_prompt, evaluator.corpus_prompt],
    }
    h.update(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()


def cache_key(model: SentenceTransformer, weights_sha256: str, evaluator: InformationRetrievalEvaluator) -> str:
    """One key per (weights, encoding settings, evaluation inputs)."""
    parts = [weights_sha256, str(model.max_seq_length), str(model.similarity_fn_name), evaluator_fingerprint(evaluator)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def cached_evaluation(
    cache_dir: Path,
    model: SentenceTransformer,
    weights_sha256: str | None,
    evaluator: InformationRetrievalEvaluator,
    compute: Callable[[], dict[str, float]],
) -> tuple[dict[str, float], bool]:
    """(metrics, cache hit). Without a weights hash nothing is cached (the model can't be identified)."""
    if not weights_sha256:
        return compute(), False
    path = Path(cache_dir) / "eval" / f"{cache_key(model, weights_sha256, evaluator)}.json"
    if path.is_file():
        log.info("zero-shot evaluation from cache: %s", path)
        return json.loads(path.read_text())["metrics"], True
    metrics = compute()
    write_json_atomic(path, {"weights_sha256": weights_sha256, "evaluator": evaluator.name, "metrics": metrics})
    return metrics, False
