"""The advisor's pure parts: the learning-curve fit, the paired bootstrap, nested shares, the verdict rules."""

from __future__ import annotations

import math

import pytest
from omegaconf import OmegaConf

from embtune.advice.decide import DONT, FINE_TUNE, TRY_FIRST, recommend
from embtune.advice.pilot import fit_curve, nested_shares, predict
from embtune.config.paths import CONF_DIR
from embtune.dataset.types import RetrievalData
from embtune.evaluation.per_query import paired_interval

T = OmegaConf.load(CONF_DIR / "advice" / "default.yaml").thresholds


def test_fit_recovers_a_log_linear_curve_and_predicts_a_doubling() -> None:
    points = [{"examples": n, "dev": 0.3 + 0.05 * math.log2(n)} for n in (50, 100, 200)]
    fit = fit_curve(points)
    assert fit["b"] == pytest.approx(0.05) and fit["residual"] == pytest.approx(0.0, abs=1e-12)
    assert predict(fit, 400) == pytest.approx(0.3 + 0.05 * math.log2(400))


def test_fit_of_a_single_size_has_no_slope() -> None:
    assert fit_curve([{"examples": 10, "dev": 0.4}, {"examples": 10, "dev": 0.6}])["b"] == 0.0


def test_paired_interval_brackets_the_mean_gain_and_narrows_with_agreement() -> None:
    before = {f"q{i}": 0.5 for i in range(40)}
    noisy = {q: 0.5 + (0.3 if i % 2 else -0.1) for i, q in enumerate(before)}  # mean gain +0.1, spread
    steady = {q: 0.6 for q in before}  # every query +0.1
    lo, hi = paired_interval(noisy, before, 2000, 0.8, 0)
    assert lo < 0.1 < hi
    slo, shi = paired_interval(steady, before, 2000, 0.8, 0)
    assert slo == pytest.approx(0.1) and shi == pytest.approx(0.1)
    assert paired_interval({}, before, 100, 0.8, 0) is None


def test_nested_shares_are_subsets_of_each_other() -> None:
    data = RetrievalData(
        "t", {"d": "x"}, {f"q{i}": "x" for i in range(20)}, {"train": {f"q{i}": {"d": 1} for i in range(20)}}
    )
    small, mid, full = (set(d.qrels["train"]) for d in nested_shares(data, [0.25, 0.5, 1.0], 3))
    assert len(small) == 5 and len(mid) == 10 and len(full) == 20 and small < mid < full


def _signals(kept: int, zs: float = 0.6, bm25: float = 0.5, share: float = 0.01, overlap: float = 0.3) -> dict:
    vocab = {"pieces": 3, "corpus_share": share, "query_share": share, "top_terms": [{"word": "attrition"}]}
    return {
        "metric": "ndcg@10",
        "examples": {"kept": kept},
        "dev": {"zero_shot": zs, "bm25": bm25},
        "vocabulary": vocab,
        "overlap": {"mean": overlap},
    }


def _forecast(gain: float, lo: float, hi: float, per_doubling: float = 0.0) -> dict:
    return {"gain": gain, "interval": [lo, hi], "per_doubling": per_doubling}


COSTS = [{"model": "minilm", "hours": 0.4, "usd": 0.02}, {"model": "mpnet", "hours": 4.0, "usd": 0.2}]


@pytest.mark.parametrize(
    ("kept", "forecast", "verdict"),
    [
        (800, _forecast(0.06, 0.03, 0.09), FINE_TUNE),  # a gain clear of min_gain, enough data
        (800, _forecast(0.03, -0.01, 0.07), TRY_FIRST),  # likely a gain, the interval reaches below min_gain
        (200, _forecast(0.06, 0.03, 0.09), TRY_FIRST),  # a clear gain on too few examples: not an unqualified yes
        (800, _forecast(-0.02, -0.05, 0.005), DONT),  # even the optimistic end is below min_gain
        (200, _forecast(0.0, -0.02, 0.0), DONT),
    ],
)
def test_verdict_follows_the_measured_gain_and_the_example_count(kept: int, forecast: dict, verdict: str) -> None:
    assert recommend(_signals(kept), forecast, COSTS, T)["verdict"] == verdict


def test_reasons_name_their_figures_and_the_next_step_prices_the_cheapest_model() -> None:
    rec = recommend(_signals(300, zs=0.4, bm25=0.45, share=0.09), _forecast(0.06, 0.03, 0.09, 0.02), COSTS, T)
    text = " | ".join(r["reason"] for r in rec["reasons"])
    assert "300 training examples (< 500)" in text
    assert "BM25 0.450 >= zero-shot 0.400" in text and "low retrieval accuracy" in text
    assert "9.0% of words split" in text and "attrition" in text
    assert rec["verdict"] == TRY_FIRST and "label ~300 more examples" in rec["next_step"]
    assert "BM25 (0.450 on dev) + a cross-encoder reranker" in rec["next_step"]
    clear = recommend(_signals(900), _forecast(0.06, 0.03, 0.09), COSTS, T)
    assert clear["next_step"].startswith("start with minilm: ~24 min") and "$0.02" in clear["next_step"]


def test_a_lexical_domain_without_a_gain_points_to_bm25() -> None:
    rec = recommend(_signals(900, zs=0.5, bm25=0.6, overlap=0.8), _forecast(-0.01, -0.03, 0.0), COSTS, T)
    assert rec["verdict"] == DONT and rec["next_step"].startswith("use BM25 (0.600 on dev)")
    assert any("keyword matching already works" in r["reason"] for r in rec["reasons"])


def test_label_more_only_when_the_curve_reaches_the_base_within_the_doublings_it_names() -> None:
    # every pilot below the base: 0.02 per doubling reaches base + 0.01 from -0.03 after 2 doublings (4x the data)
    near = recommend(_signals(900, zs=0.4, bm25=0.3), _forecast(-0.03, -0.05, 0.0, 0.02), COSTS, T)
    assert "label ~2700 more examples" in near["next_step"] and "after 2 doublings" in near["next_step"]
    # the same slope from -0.15 would need 8 doublings (256x): no "label more"
    far = recommend(_signals(900, zs=0.4, bm25=0.3), _forecast(-0.15, -0.2, -0.1, 0.02), COSTS, T)
    assert "label" not in far["next_step"]


def test_a_losing_pilot_names_make_tune_and_what_the_pilot_cost() -> None:
    forecast = {**_forecast(-0.07, -0.09, -0.05), "pilot_steps": 13, "pilot_seconds": 130.0}
    rec = recommend(_signals(2600, zs=0.39, bm25=0.33), forecast, COSTS, T)
    assert rec["verdict"] == DONT
    assert rec["next_step"].startswith("fine-tuning as configured loses to the base on dev (-0.070): search a recipe")
    assert "make tune" in rec["next_step"] and "13 steps in 130 s" in rec["next_step"]
