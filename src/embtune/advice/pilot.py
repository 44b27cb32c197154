"""The learning-curve pilot: the configured model fine-tuned on growing shares of the train split under a bounded
budget, dev after each; a log-linear fit of dev against examples forecasts the full run and the value of more
labels; a paired bootstrap over dev queries gives each gain its interval."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator
from tqdm.auto import tqdm

from embtune.dataset.formats import build_rows
from embtune.dataset.types import RetrievalData
from embtune.evaluation import per_query
from embtune.evaluation.evaluators import evaluate_model
from embtune.run.files import write_json_atomic
from embtune.training.losses import build_loss
from embtune.training.trainer import fine_tune

log = logging.getLogger(__name__)


def dev_scores(model: SentenceTransformer, dev: SentenceEvaluator, metric: str) -> tuple[float, dict[str, float]]:
    """(main metric on dev, per-query values where the evaluator keeps them: nDCG@k of a retrieval evaluator)."""
    value = float(evaluate_model(model, dev)[metric])
    return value, per_query.values(dev, metric)


def pilot_config(cfg: DictConfig, rows: int, max_steps: int) -> tuple[DictConfig, int]:
    """The run's config with a bounded trainer: the configured epochs, at most ``max_steps`` steps, no checkpoints
    or evaluation inside (the pilot evaluates once, after). Returns it with the steps it will train."""
    args = cfg.trainer.args
    per_epoch = math.ceil(rows / int(args.per_device_train_batch_size))
    planned = int(args.get("max_steps") or -1)
    steps = min(planned if planned > 0 else math.ceil(float(args.num_train_epochs) * per_epoch), max_steps)
    pilot = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    pilot.trainer.args.update(max_steps=steps, eval_strategy="no", save_strategy="no", load_best_model_at_end=False)
    pilot.trainer.early_stopping.early_stopping_patience = None
    return pilot, steps


def nested_shares(data: RetrievalData, fractions: list[float], seed: int) -> list[RetrievalData]:
    """The data with the first ``fraction`` of one seeded shuffle of the train queries, for each fraction: the
    smaller shares are subsets of the larger ones, so the curve measures data, not which queries were drawn."""
    qrels = data.split("train")
    order = sorted(qrels)
    random.Random(seed).shuffle(order)
    out = []
    for fraction in fractions:
        keep = order[: max(1, round(fraction * len(order)))]
        out.append(replace(data, qrels={**data.qrels, "train": {q: qrels[q] for q in keep}}))
    return out


def run_pilot(
    cfg: DictConfig,
    run_dir: Path,
    data: RetrievalData,
    negatives: dict[str, list[str]],
    dev: SentenceEvaluator,
    load: Callable[[], SentenceTransformer],
) -> list[dict[str, Any]]:
    """One point per ``advice.pilot.fractions``: a fresh base model trained on that share, then scored on dev."""
    metric, points = str(cfg.evaluator.main_metric), []
    shares = nested_shares(data, list(cfg.advice.pilot.fractions), cfg.seed)
    for fraction, share in tqdm(list(zip(cfg.advice.pilot.fractions, shares, strict=True)), desc="pilot"):
        rows = build_rows(share, "train", cfg.data_format, negatives)
        pilot, steps = pilot_config(cfg, len(rows), int(cfg.advice.pilot.max_steps))
        model = load()
        tuned = fine_tune(pilot, run_dir / "pilot", model, build_loss(pilot.loss, model, cfg.paths.cache_dir), rows)
        value, queries = dev_scores(model, dev, metric)
        examples = sum(len(d) for d in share.split("train").values())
        log.info(
            "pilot %.0f%%: %d examples, %d steps in %.0f s, dev %s %.4f",
            100 * fraction,
            examples,
            steps,
            tuned.seconds,
            metric,
            value,
        )
        points.append(
            {
                "fraction": float(fraction),
                "examples": examples,
                "rows": len(rows),
                "steps": int(tuned.trainer.state.global_step),
                "seconds": round(tuned.seconds, 2),
                "dev": value,
                "per_query": queries,
            }
        )
        # each point on disk as it lands: a crash later (the cost probes, the machine) keeps what was measured
        write_json_atomic(run_dir / "pilot.json", [{k: v for k, v in p.items() if k != "per_query"} for p in points])
    return points


def fit_curve(points: list[dict[str, Any]]) -> dict[str, float]:
    """Least-squares dev = a + b * log2(examples) over the pilot points: ``b`` is the gain per doubling of
    labeled data; ``residual`` the points' RMS distance from the line (how straight the curve is)."""
    x = np.log2([p["examples"] for p in points])
    y = np.array([p["dev"] for p in points])
    if len(set(x.tolist())) < 2:
        return {"a": float(y.mean()), "b": 0.0, "residual": 0.0}
    b, a = np.polyfit(x, y, 1)
    residual = float(np.sqrt(np.mean((a + b * x - y) ** 2)))
    return {"a": float(a), "b": float(b), "residual": residual}


def predict(fit: dict[str, float], examples: float) -> float:
    return fit["a"] + fit["b"] * math.log2(max(examples, 1.0))
