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
from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator, SequentialEvaluator

from embtune.run_dir import write_json_atomic

log = logging.getLogger(__name__)


# the attributes that hold an evaluator's inputs, across sentence-transformers' evaluator classes
_INPUT_ATTRS = (
    "queries_ids",
    "queries",
    "corpus_ids",
    "corpus",
    "relevant_docs",
    "sentences1",
    "sentences2",
    "scores",
    "anchors",
    "positives",
    "negatives",
    "query_prompt",
    "corpus_prompt",
)


def evaluator_fingerprint(evaluator: SentenceEvaluator) -> str:
    """sha256 over the evaluator's (and its sub-evaluators') class, settings and inputs."""
    parts = list(evaluator.evaluators) if isinstance(evaluator, SequentialEvaluator) else [evaluator]
    payload = [
        {
            "class": type(p).__name__,
            "config": p.get_config_dict(),
            **{a: _jsonable(getattr(p, a)) for a in _INPUT_ATTRS if hasattr(p, a)},
        }
        for p in parts
    ]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): sorted(v) if isinstance(v, set) else v for k, v in value.items()}
    return list(value) if isinstance(value, (list, tuple)) else value


def cache_key(model: SentenceTransformer, weights_sha256: str, evaluator: SentenceEvaluator) -> str:
    """One key per (weights, encoding settings, evaluation inputs)."""
    import sentence_transformers

    parts = [
        weights_sha256,
        str(model.max_seq_length),
        str(model.similarity_fn_name),
        json.dumps(model.prompts, sort_keys=True),
        repr(model),
        sentence_transformers.__version__,
        evaluator_fingerprint(evaluator),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def cached_evaluation(
    cache_dir: Path,
    model: SentenceTransformer,
    weights_sha256: str | None,
    evaluator: SentenceEvaluator,
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
    write_json_atomic(
        path, {"weights_sha256": weights_sha256, "evaluator": type(evaluator).__name__, "metrics": metrics}
    )
    return metrics, False
