"""The dev split every candidate is measured on: the data and the base loaded once, the base's figure per dev query
(cached), and what the plan needs measured (a dev pass's seconds, the judgements, the configured length)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from embtune.dataset.prepared import PreparedData, data_splits, prepare_data
from embtune.errors import EmbtuneError
from embtune.evaluation.baselines import base_on_dev, build_evaluation
from embtune.evaluation.cache import cached_evaluation
from embtune.evaluation.evaluators import evaluator_needs
from embtune.model.loading import load_base_model


def dev_setup(cfg: DictConfig, metric: str) -> tuple[PreparedData, Any, Any]:
    """The data and the base model the dev measurements read (loaded once)."""
    if not metric.startswith("ndcg@"):
        raise EmbtuneError(
            f"tune compares candidates with the base query by query, on nDCG@k; evaluator.main_metric={metric}. "
            "Fix: tune retrieval data with evaluator=ir (main_metric ndcg@10)."
        )
    held_out = evaluator_needs(cfg.evaluator, "negatives")  # held-out negatives too
    prepared = prepare_data(cfg, data_splits(held_out), held_out)
    if not prepared.data.has_split("dev"):
        raise EmbtuneError(
            f"tune chooses on dev, and dataset '{prepared.data.name}' has none. Fix: dataset.dev_fraction=0.15 "
            "(dev carved from the train queries)."
        )
    model, resolved = load_base_model(cfg.model, cfg.paths.cache_dir)
    return prepared, model, resolved


def base_dev_queries(
    cfg: DictConfig, setup: tuple[PreparedData, Any, Any], dev_queries: int | None = None
) -> tuple[dict[str, float], dict[str, Any]]:
    """The base model's main metric per dev query, on the dev evaluator every candidate run builds (all dev queries,
    or the plan's seeded sample of ``dev_queries``); and what the plan needs measured: seconds per dev pass (timed
    once per base and dev set, then cached), the dev set's judgements and size, the full run's extra evaluation
    and the configured length in steps (the ceiling)."""
    prepared, model, resolved = setup
    with open_dict(cfg):
        cfg.dataset.dev_queries = dev_queries
    evaluation = build_evaluation(OmegaConf.merge(cfg, {"evaluate_final": False}), prepared.data, {}, with_dev=True)
    dev = evaluation.dev
    assert dev is not None
    began = time.perf_counter()
    queries = base_on_dev(cfg, evaluation, model, resolved)[1]  # cached: every candidate run reads the same entry
    took = time.perf_counter() - began

    def timed_pass() -> dict[str, float]:
        if took > 1.0:  # the figures were just computed: that was one dev pass
            return {"seconds": took}
        again = time.perf_counter()
        dev(model)
        return {"seconds": time.perf_counter() - again}

    timing, _ = cached_evaluation(
        Path(cfg.paths.cache_dir), model, resolved.weights_sha256, dev, timed_pass, variant="dev_pass_seconds"
    )
    docs = max(1, len(getattr(dev, "corpus", None) or getattr(getattr(dev, "evaluators", [None])[0], "corpus", [])))
    args = cfg.trainer.args
    rows = len(prepared.rows["train"])
    ceiling = int(args.get("max_steps") or -1)
    if ceiling <= 0:
        ceiling = math.ceil(float(args.num_train_epochs) * math.ceil(rows / int(args.per_device_train_batch_size)))
    data = prepared.data
    return queries, {
        "dev_pass_s": float(timing["seconds"]),
        # the full run's test pass and zero-shot on the whole corpus, against one dev pass on its sample
        "final_extra_s": 2 * float(timing["seconds"]) * max(1.0, len(data.corpus) / docs),
        "ceiling_steps": max(2, ceiling),
        "dev": {
            "qrels": {q: set(d) for q, d in data.split("dev").items()},
            "corpus": len(data.corpus),
            "corpus_size": cfg.dataset.get("dev_corpus_size"),
            "seed": int(cfg.seed),
            "docs": docs,
        },
    }
