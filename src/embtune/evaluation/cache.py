"""Cache of baseline evaluations: a base model's zero-shot figures on a test split are computed once.

The key covers everything the figures depend on: the weights (sha256), max_seq_length, similarity function,
the evaluator's queries, corpus, judgements, cut-offs and prompts. Sweep jobs and reruns share the entry.

Caches only save time, so they never fail a run: ``read_cache_entry`` / ``write_cache_entry`` (also used by the
mining cache) turn a corrupt entry into a miss and an unwritable cache dir into a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embtune.run.files import write_json_atomic

if TYPE_CHECKING:  # the cache-entry helpers below serve mining too, which should not import torch for them
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

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
    "labels",
    "anchors",
    "positives",
    "negatives",
    "query_prompt",
    "corpus_prompt",
    # settings that change the figures or their names: IR cut-offs, the evaluator's name (in the raw keys)
    "mrr_at_k",
    "ndcg_at_k",
    "accuracy_at_k",
    "precision_recall_at_k",
    "map_at_k",
    "name",
    "graded_qrels",
)


def evaluator_fingerprint(evaluator: SentenceEvaluator) -> str:
    """sha256 over the evaluator's (and its sub-evaluators') class, settings and inputs."""
    from sentence_transformers.sentence_transformer.evaluation import SequentialEvaluator

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
    variant: str = "metrics",
) -> tuple[dict[str, float], bool]:
    """(metrics, cache hit). Without a weights hash nothing is cached (the model can't be identified).

    ``variant`` names what ``compute`` returns (``metrics``: clean names; ``raw``: the evaluator's own keys), so
    two shapes of the same evaluation never share an entry.

    Best effort: a truncated, corrupt or unreadable entry is a miss (recomputed and replaced), and a cache dir
    that can't be written only costs the next run the same computation; either way a warning names the path.
    """
    if not weights_sha256:
        return compute(), False
    key = cache_key(model, weights_sha256, evaluator)
    path = Path(cache_dir) / "eval" / (f"{key}.json" if variant == "metrics" else f"{key}.{variant}.json")
    cached = read_cache_entry(path, "metrics", _is_metrics)
    if cached is not None:
        log.info("zero-shot evaluation from cache: %s", path)
        return cached, True
    metrics = compute()
    write_cache_entry(
        path, {"weights_sha256": weights_sha256, "evaluator": type(evaluator).__name__, "metrics": metrics}
    )
    return metrics, False


def _is_metrics(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()
    )


# (entry, warning) pairs already reported in this process: one warning per problem, also across sweep jobs
_warned: set[tuple[str, str]] = set()


def _warn_once(path: Path, message: str, *args: object) -> None:
    if (str(path), message) not in _warned:
        _warned.add((str(path), message))
        log.warning(message, path, *args)


def read_cache_entry(path: Path, field: str, valid: Callable[[object], bool]) -> Any | None:
    """``field`` of the JSON cache entry at ``path``, or None on a miss: absent, or unreadable / corrupt (warned)."""
    try:
        value = json.loads(path.read_bytes())[field]
        if not valid(value):
            raise ValueError(f"'{field}' has an unexpected shape")
        return value
    except (FileNotFoundError, NotADirectoryError):  # no entry (or no cache folder): writing it will tell
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        _warn_once(path, "cache entry %s is unreadable (%s): recomputing it and replacing the entry", _reason(e))
        return None


def write_cache_entry(path: Path, obj: Any) -> None:
    """Write a cache entry atomically; when the cache dir can't be written, warn and go on without it."""
    try:
        write_json_atomic(path, obj)
    except OSError as e:
        warn_unwritable(path, e)


def warn_unwritable(path: Path, error: OSError) -> None:
    """The warning for a cache entry that could not be written (the computation is simply not kept)."""
    _warn_once(path, "cannot write the cache entry %s (%s): the run goes on without caching it", _reason(error))


def _reason(error: BaseException) -> str:
    text = (error.strerror if isinstance(error, OSError) and error.strerror else str(error)) or type(error).__name__
    return f"{type(error).__name__}: {text.splitlines()[0]}"
