""" "Should I fine-tune?" measured on the user's data: signals -> pilot -> cost -> recommendation -> advice files.

python -m embtune.advise                                   # the embedded default data, MiniLM (= make advise)
python -m embtune.advise experiment=scifact_minilm paths.data_dir=../shared/data
python -m embtune.advise experiment=scifact_minilm advice.max_train_queries=300
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from transformers import set_seed

from embtune.advice import signals
from embtune.advice.cost import full_run_steps, measure_models, model_costs
from embtune.advice.decide import recommend
from embtune.advice.pilot import dev_scores, fit_curve, predict, run_pilot
from embtune.advice.report import summary, write_advice
from embtune.config.paths import CONF_DIR
from embtune.dataset.formats import build_rows
from embtune.dataset.prepared import data_splits, prepare_data
from embtune.errors import EmbtuneError
from embtune.evaluation.baselines import build_evaluation
from embtune.evaluation.evaluators import evaluate_bm25, evaluator_needs
from embtune.evaluation.per_query import paired_interval
from embtune.model.loading import load_base_model
from embtune.run.console_guard import guarded
from embtune.run.failure import run_or_fail
from embtune.training.losses import check_loss_accepts_format

log = logging.getLogger("embtune.advise")


def advise(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Measure, decide, write advice.json / advice.md / advice.png; returns the advice."""
    started = time.perf_counter()
    set_seed(cfg.seed)
    metric, thresholds = str(cfg.evaluator.main_metric), cfg.advice.thresholds

    # 1. The run you would launch: its data (quality filter, mining, checks), model and dev evaluator. A
    #    max_train_queries cut asks "what if only this many queries were labeled".
    check_loss_accepts_format(cfg.loss, cfg.data_format.name)
    held_out = evaluator_needs(cfg.evaluator, "negatives")  # held-out negatives too
    prepared = prepare_data(cfg, data_splits(held_out), held_out)
    if not prepared.data.qrels.get("train"):
        raise EmbtuneError(
            f"advise measures retrieval data (queries with relevant documents), and dataset '{prepared.data.name}' "
            "holds only sentence pairs with scores or labels in train. Fix: advise on a retrieval dataset (query, "
            "positive) - for STS-style pairs compare zero-shot and fine-tuned with make train and evaluator=sts."
        )
    data = signals.cut_train(prepared.data, cfg.advice.max_train_queries, cfg.seed)
    model, resolved = load_base_model(cfg.model, cfg.paths.cache_dir)
    dev = build_evaluation(cfg, data, prepared.negatives, with_dev=True).dev
    if dev is None:
        raise EmbtuneError(
            f"advise needs a dev split to measure on, and dataset '{data.name}' has none. "
            "Fix: dataset.dev_fraction=0.1 (dev carved from the train queries)."
        )

    # 2. Signals: examples, zero-shot vs BM25 on dev, vocabulary the tokenizer splits, query-document overlap.
    zero_shot, zero_shot_queries = dev_scores(model, dev, metric)
    bm25 = evaluate_bm25(dev, **cfg.evaluator.bm25).get(metric) if cfg.evaluator.get("bm25") else None
    measured = {
        "metric": metric,
        "examples": signals.examples(prepared.stats["quality"], data),
        "dev": {"zero_shot": zero_shot, "bm25": bm25, "queries": len(zero_shot_queries) or None},
        "vocabulary": signals.vocabulary(data, model.tokenizer, seed=cfg.seed, **cfg.advice.vocabulary),
        "overlap": signals.overlap(data),
    }

    # 3. Step time of the other models of the cost table (a few real steps each, before the long pilot).
    negatives = prepared.negatives.get("train", {})
    rows = build_rows(data, "train", cfg.data_format, negatives)
    choice = HydraConfig.get().runtime.choices.get("model", "model")
    times = measure_models(cfg, rows, run_dir, lambda name: compose_model(cfg, name), skip=choice)

    # 4. The learning-curve pilot: fresh base model per share of train, bounded budget, dev after each; the
    #    configured model's step time is the pilot's.
    points = run_pilot(cfg, run_dir, data, negatives, dev, lambda: load_base_model(cfg.model, cfg.paths.cache_dir)[0])
    forecast = forecast_gain(cfg, points, zero_shot, zero_shot_queries)
    forecast["full_run_steps"] = full_run_steps(cfg.trainer.args, len(rows))
    times[choice] = (points[-1]["seconds"] / max(points[-1]["steps"], 1), "measured (pilot)")
    costs = model_costs(cfg, rows, times)

    # 5. The recommendation, then the files.
    advice = {
        "dataset": data.name,
        "model": cfg.model.name_or_path,
        "model_choice": choice,
        "weights_sha256": resolved.weights_sha256,
        "metric": metric,
        "signals": measured,
        "pilot": [{k: v for k, v in p.items() if k != "per_query"} for p in points],
        "forecast": forecast,
        "cost": costs,
        "recommendation": recommend(measured, forecast, costs, thresholds),
        "thresholds": dict(thresholds),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_advice(run_dir, advice)
    print(summary(advice), flush=True)
    log.info("advice written to %s in %.0f s", run_dir, advice["seconds"])
    return advice


def forecast_gain(
    cfg: DictConfig, points: list[dict[str, Any]], zero_shot: float, zero_shot_queries: dict[str, float]
) -> dict[str, Any]:
    """The gain the full share measured on dev, its paired-bootstrap interval, and the fitted curve's word on
    more data (gain per doubling, the value at twice the examples)."""
    fit, full = fit_curve(points), points[-1]
    pilot = cfg.advice.pilot
    interval = paired_interval(
        full["per_query"], zero_shot_queries, int(pilot.bootstrap), float(pilot.interval), cfg.seed
    )
    return {
        "zero_shot_dev": zero_shot,
        "pilot_dev": full["dev"],
        "gain": full["dev"] - zero_shot,
        "interval": list(interval) if interval else None,
        "interval_share": float(pilot.interval),
        "fit": fit,
        "per_doubling": fit["b"],
        "at_double": predict(fit, 2 * full["examples"]),
        "pilot_steps": full["steps"],
        "pilot_seconds": full["seconds"],
    }


def compose_model(cfg: DictConfig, name: str) -> DictConfig:
    """The model/ config of option ``name``, composed as Hydra would for ``model=<name>``."""
    return compose(config_name=HydraConfig.get().job.config_name, overrides=[f"model={name}"]).model


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="advise")
def main(cfg: DictConfig) -> None:
    """Hydra entrypoint: the advice in the run dir; a bad input ends with one `error:` line and FAILED."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    run_or_fail(run_dir, lambda: advise(cfg, run_dir))


if __name__ == "__main__":
    guarded(main)()
