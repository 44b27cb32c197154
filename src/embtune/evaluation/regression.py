"""The regression/ config group: what did fine-tuning break? General-purpose sets (default: STS-B test, Spearman)
evaluated for the base and the fine-tuned model in every run, with the deltas in metrics.json's ``regression``.

Each entry of a regression/ config is a set: a ``dataset`` config (any of dataset/), the ``split`` to evaluate and
an ``evaluator`` config (any of evaluator/). A set whose data is absent is skipped with one warning line, unless
``required: true``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

from embtune.errors import EmbtuneError, user_error
from embtune.evaluation.cache import cached_evaluation
from embtune.evaluation.evaluators import EvalInputs, build_evaluator, evaluate_model
from embtune.model.loading import ResolvedModel, model_prompts

log = logging.getLogger(__name__)


@dataclass
class RegressionSet:
    """One general-purpose set: its evaluator on the configured split and the metric that judges it."""

    name: str
    evaluator: SentenceEvaluator
    metric: str


def regression_sets(cfg: DictConfig) -> list[RegressionSet]:
    """The configured sets, loaded; absent data skipped (one warning) unless the set is ``required``."""
    sets = []
    for name, entry in (cfg.get("regression") or {}).items():
        try:
            data = instantiate(entry.dataset.source)
            inputs = EvalInputs(data, str(entry.split), model_prompts(cfg.model))
            sets.append(RegressionSet(str(name), build_evaluator(entry.evaluator, inputs), entry.evaluator.main_metric))
        except Exception as e:  # noqa: BLE001 - only user errors (a missing dir, a bad file) are handled here
            problem = user_error(e)
            if problem is None:
                raise
            if entry.get("required", False):
                raise EmbtuneError(f"regression set '{name}': {problem}") from None
            log.warning("regression set '%s' skipped (regression.%s.required=false): %s", name, name, problem)
    return sets


def evaluate_sets(
    sets: list[RegressionSet], model: SentenceTransformer, cache_dir: str | Path, resolved: ResolvedModel | None = None
) -> dict[str, float]:
    """Set name -> main metric of ``model`` (cached by weights when ``resolved`` names them: the base model)."""
    out = {}
    for s in sets:
        sha = resolved.weights_sha256 if resolved else None
        metrics, _ = cached_evaluation(
            Path(cache_dir), model, sha, s.evaluator, lambda s=s: evaluate_model(model, s.evaluator)
        )
        out[s.name] = metrics[s.metric]
    return out


def regression_block(sets: list[RegressionSet], base: dict[str, float], tuned: dict[str, float]) -> dict[str, Any]:
    """metrics.json's ``regression``: per set its metric, the base (zero-shot) and fine-tuned figure, the delta."""
    return {
        s.name: {
            "metric": s.metric,
            "zero_shot": base[s.name],
            "fine_tuned": tuned[s.name],
            "delta": tuned[s.name] - base[s.name],
        }
        for s in sets
    }


@dataclass
class Regression:
    """The run's regression sets and the base model's figures on them (measured once, cached by its weights)."""

    sets: list[RegressionSet]
    cache_dir: str
    base: dict[str, float]

    @classmethod
    def measure_base(cls, cfg: DictConfig, model: SentenceTransformer, resolved: ResolvedModel | None) -> Regression:
        sets = regression_sets(cfg)
        return cls(sets, str(cfg.paths.cache_dir), evaluate_sets(sets, model, cfg.paths.cache_dir, resolved))

    def block(self, model: SentenceTransformer) -> dict[str, Any] | None:
        """metrics.json's ``regression`` for ``model`` against the base; None without sets."""
        if not self.sets:
            return None
        return regression_block(self.sets, self.base, evaluate_sets(self.sets, model, self.cache_dir))
