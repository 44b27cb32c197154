"""The merge/ config group: take some of the fine-tuning back. Weights interpolated between the base model (alpha 0)
and the fine-tuned one (alpha 1); each mix evaluated on the dev split (in-domain) and the regression sets
(general); the chosen mix is the model shipped.

``merge.pick``: ``best_dev`` (the mix with the best dev figure) or ``max_regression_drop`` (the best dev figure among
mixes whose mean regression drop vs the base is at most ``merge.max_regression_drop``). ``merge.png`` plots the
trade-off: in-domain vs general, one point per alpha.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

from embtune.errors import EmbtuneError
from embtune.evaluation.evaluators import evaluate_model
from embtune.evaluation.regression import RegressionSet, evaluate_sets
from embtune.model.loading import load_base_model
from embtune.report.plots import figure

log = logging.getLogger(__name__)

PICKS = ("best_dev", "max_regression_drop")


def interpolate(base: SentenceTransformer, tuned: SentenceTransformer, alpha: float) -> SentenceTransformer:
    """A copy of ``tuned`` whose floating-point weights are (1 - alpha) x base + alpha x tuned."""
    base_state, tuned_state = base.state_dict(), tuned.state_dict()
    if base_state.keys() != tuned_state.keys():
        raise EmbtuneError("merge: the base and the fine-tuned model have different parameters; they cannot be mixed.")
    mixed = copy.deepcopy(tuned)
    mixed.load_state_dict(
        {k: torch.lerp(base_state[k], v, alpha) if v.is_floating_point() else v for k, v in tuned_state.items()}
    )
    return mixed


@dataclass
class MergeResult:
    """Every alpha's figures, the alpha picked and why, and the model at that alpha."""

    rows: list[dict[str, Any]]
    alpha: float
    reason: str
    model: SentenceTransformer

    def as_dict(self) -> dict[str, Any]:
        return {"alphas": self.rows, "picked": self.alpha, "reason": self.reason}


def check_merge(merge_cfg: Any) -> None:
    """Fail before anything loads on a merge config that cannot work (no-op without ``alphas``)."""
    alphas, pick = merge_cfg.get("alphas"), merge_cfg.get("pick", "best_dev")
    if not alphas:
        return
    if pick not in PICKS:
        raise EmbtuneError(f"merge.pick={pick!r}: choose one of {', '.join(PICKS)}.")
    if any(isinstance(a, bool) or not isinstance(a, (int, float)) or not 0 <= a <= 1 for a in alphas):
        raise EmbtuneError(f"merge.alphas={list(alphas)}: give values in [0, 1], e.g. [0.0, 0.5, 1.0].")


def merge(
    base: SentenceTransformer,
    tuned: SentenceTransformer,
    alphas: list[float],
    dev: SentenceEvaluator,
    dev_metric: str,
    sets: list[RegressionSet],
    cache_dir: str | Path,
    pick: str = "best_dev",
    max_regression_drop: float = 0.01,
) -> MergeResult:
    """Evaluate each mix on dev and the regression sets; pick one (see the module doc)."""
    check_merge({"alphas": alphas, "pick": pick})
    rows = []
    base_general: dict[str, float] | None = None
    for alpha in sorted(set(float(a) for a in alphas)):
        mixed = base if alpha == 0 else tuned if alpha == 1 else interpolate(base, tuned, alpha)
        general = evaluate_sets(sets, mixed, cache_dir)
        if base_general is None:
            base_general = general if alpha == 0 else evaluate_sets(sets, base, cache_dir)
        drops = [base_general[n] - v for n, v in general.items()]
        rows.append(
            {
                "alpha": alpha,
                "dev": evaluate_model(mixed, dev)[dev_metric],
                "regression": general,
                "regression_drop": sum(drops) / len(drops) if drops else 0.0,
            }
        )
        log.info("merge alpha %.2f: dev %s %.4f, regression %s", alpha, dev_metric, rows[-1]["dev"], general)
    allowed = rows if pick == "best_dev" else [r for r in rows if r["regression_drop"] <= max_regression_drop]
    if not allowed:  # not even the base? it has drop 0 by definition, so only when alpha 0 is not among the alphas
        allowed, reason = (
            [min(rows, key=lambda r: r["regression_drop"])],
            "smallest regression drop (none within limit)",
        )
    else:
        reason = "best dev" if pick == "best_dev" else f"best dev with regression drop <= {max_regression_drop}"
    chosen = max(allowed, key=lambda r: (r["dev"], -r["alpha"]))
    alpha = chosen["alpha"]
    model = base if alpha == 0 else tuned if alpha == 1 else interpolate(base, tuned, alpha)
    return MergeResult(rows, alpha, reason, model)


def plot(result: MergeResult, dev_metric: str, path: Path) -> None:
    """In-domain (dev) vs general (mean regression figure), one labeled point per alpha, the pick circled."""
    with figure(path, figsize=(6, 4.5), dpi=110) as (fig, ax):
        xs = [r["dev"] for r in result.rows]
        ys = [sum(r["regression"].values()) / max(1, len(r["regression"])) for r in result.rows]
        ax.plot(xs, ys, marker="o", color="tab:blue")
        for r, x, y in zip(result.rows, xs, ys, strict=True):
            ax.annotate(f"α={r['alpha']:g}", (x, y), textcoords="offset points", xytext=(6, 4), fontsize=9)
            if r["alpha"] == result.alpha:
                ax.scatter([x], [y], s=180, facecolors="none", edgecolors="tab:red", linewidths=2, label="picked")
        ax.set_xlabel(f"in-domain: dev {dev_metric}")
        ax.set_ylabel("general: mean regression-set figure")
        ax.set_title("base (α=0) → fine-tuned (α=1)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best")


def ship_merge(
    cfg: DictConfig,
    tuned: SentenceTransformer,
    dev: SentenceEvaluator | None,
    sets: list[RegressionSet],
    run_dir: Path,
    write_plot: bool = True,
) -> tuple[SentenceTransformer, dict[str, Any] | None]:
    """With ``merge.alphas``: the mix to ship (and metrics.json's ``merge``, merge.png in the run dir); else the
    fine-tuned model unchanged."""
    if not cfg.merge.get("alphas"):
        return tuned, None
    if dev is None:
        raise EmbtuneError("merge.alphas needs a dev split to choose the mix; the dataset has none (dev_fraction=0?).")
    base, _ = load_base_model(cfg.model, cfg.paths.cache_dir)
    metric = cfg.evaluator.main_metric
    result = merge(
        base,
        tuned,
        list(cfg.merge.alphas),
        dev,
        metric,
        sets,
        cfg.paths.cache_dir,
        str(cfg.merge.pick),
        float(cfg.merge.max_regression_drop),
    )
    if write_plot:  # under DDP only rank 0 writes into the run dir
        plot(result, metric, run_dir / "merge.png")
    log.info("merge: alpha %.2f shipped (%s)", result.alpha, result.reason)
    return result.model, result.as_dict()
