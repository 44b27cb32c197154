"""The recommendation: fine-tune / try first / don't, from the measured signals and the advice/ thresholds.

The pilot's measured gain decides; the tutorial's tables (few examples, general domain, low accuracy, jargon)
are reasons that fire beside it and shape the cheapest next step. Every reason names its figure and threshold.
"""

from __future__ import annotations

import math
from typing import Any

FINE_TUNE, TRY_FIRST, DONT = "fine-tune", "try first", "don't"


def reasons(signals: dict[str, Any], t: Any) -> list[dict[str, str]]:
    """Each signal that crossed its threshold, as {for|against fine-tuning, what, figure}."""
    out = []

    def fire(side: str, text: str) -> None:
        out.append({"side": side, "reason": text})

    n, metric = signals["examples"]["kept"], signals["metric"]
    if n < t.min_examples:
        fire("against", f"{n} training examples (< {t.min_examples}): the tutorial's 'don't' - too few to trust")
    zs, bm25 = signals["dev"]["zero_shot"], signals["dev"].get("bm25")
    if bm25 is not None and zs - bm25 <= t.bm25_margin:
        fire("for", f"BM25 {bm25:.3f} >= zero-shot {zs:.3f} {metric} on dev: the model misses the domain's words")
    elif bm25 is not None and zs >= t.low_zero_shot:
        fire("against", f"zero-shot {zs:.3f} beats BM25 {bm25:.3f} on dev: the model already reads this domain")
    if zs < t.low_zero_shot:
        fire("for", f"zero-shot {metric} {zs:.3f} on dev (< {t.low_zero_shot}): low retrieval accuracy")
    vocab = signals["vocabulary"]
    share = max(vocab["corpus_share"], vocab["query_share"])
    if share >= t.jargon_share:
        terms = ", ".join(x["word"] for x in vocab["top_terms"][:5])
        fire(
            "for",
            f"{share:.1%} of words split into >= {vocab['pieces']} pieces (>= {t.jargon_share:.0%}): "
            f"domain vocabulary, e.g. {terms}",
        )
    else:
        fire("against", f"only {share:.1%} of words split into >= {vocab['pieces']} pieces: general vocabulary")
    if signals["overlap"]["mean"] >= t.high_overlap:
        fire(
            "against",
            f"queries share {signals['overlap']['mean']:.0%} of their terms with their positives "
            f"(>= {t.high_overlap:.0%}): keyword matching already works",
        )
    return out


def recommend(signals: dict[str, Any], forecast: dict[str, Any], costs: list[dict[str, Any]], t: Any) -> dict:
    """The verdict, its reasons, the expected gain and the cheapest next step."""
    fired = reasons(signals, t)
    gain, low, high = forecast["gain"], *(forecast["interval"] or (forecast["gain"], forecast["gain"]))
    few = signals["examples"]["kept"] < t.min_examples
    if high < t.min_gain:
        verdict = DONT
        fired.append(
            {
                "side": "against",
                "reason": f"pilot gain {gain:+.3f} on dev; even the interval's top {high:+.3f} is below {t.min_gain}",
            }
        )
    elif low >= t.min_gain and not few:
        verdict = FINE_TUNE
        fired.append(
            {
                "side": "for",
                "reason": f"pilot gain {gain:+.3f} on dev, interval [{low:+.3f}, {high:+.3f}] all above {t.min_gain}",
            }
        )
    else:
        verdict = TRY_FIRST
        clear = low >= t.min_gain
        why = (
            f"clear of {t.min_gain}, but {signals['examples']['kept']} examples are too few to trust it"
            if clear
            else f"not clear of {t.min_gain}"
        )
        fired.append(
            {
                "side": "for" if gain >= t.min_gain else "against",
                "reason": f"pilot gain {gain:+.3f} on dev, interval [{low:+.3f}, {high:+.3f}]: {why}",
            }
        )
    return {"verdict": verdict, "reasons": fired, "next_step": next_step(verdict, signals, forecast, costs, t)}


def next_step(
    verdict: str, signals: dict[str, Any], forecast: dict[str, Any], costs: list[dict[str, Any]], t: Any
) -> str:
    """The cheapest thing to do next, in words."""
    priced = [c for c in costs if "hours" in c]
    cheapest = min(priced, key=lambda c: c["hours"]) if priced else None
    run = (
        f"start with {cheapest['model']}: ~{_duration(cheapest['hours'])} on this machine (~${cheapest['usd']:.2f})"
        if cheapest
        else "start with the smallest model"
    )
    more = label_more(signals["examples"]["kept"], forecast, t)
    bm25, zs = signals["dev"].get("bm25"), signals["dev"]["zero_shot"]
    lexical = bm25 is not None and bm25 - zs >= -t.bm25_margin
    tune = search_first(forecast) if forecast["gain"] < 0 else ""
    if verdict == FINE_TUNE:
        return run + (f"; more labels still pay: {more}" if more else "")
    if verdict == TRY_FIRST:
        first = tune or more or "run the full recipe once and compare on test (the pilot's budget was bounded)"
        return first + (f"; meanwhile use BM25 ({bm25:.3f} on dev) + a cross-encoder reranker" if lexical else "")
    lead = "; ".join(x for x in (tune, more) if x)
    if lexical:
        bm25_line = f"use BM25 ({bm25:.3f} on dev) + a cross-encoder reranker; the zero-shot model is at {zs:.3f}"
        return f"{bm25_line}; {lead}" if lead else bm25_line
    return lead or "use the zero-shot model as it is; revisit with more labeled data"


def label_more(n: int, forecast: dict[str, Any], t: Any) -> str:
    """ "Label more" only where the pilot's fitted curve (dev per doubling of labeled data) reaches the base plus
    ``min_gain`` within ``max_doublings`` doublings; how many examples that is."""
    per_doubling, gain = forecast["per_doubling"], forecast["gain"]
    if per_doubling < t.data_pays:
        return ""
    if gain >= t.min_gain:
        return f"label ~{n} more examples (a doubling: {per_doubling:+.3f} expected)"
    doublings = math.ceil((t.min_gain - gain) / per_doubling)
    if doublings > t.max_doublings:
        return ""
    return (
        f"label ~{n * (2**doublings - 1)} more examples (the pilot's curve, {per_doubling:+.3f} per doubling, "
        f"reaches the base + {t.min_gain} after {doublings} doubling{'s' if doublings > 1 else ''})"
    )


def search_first(forecast: dict[str, Any]) -> str:
    """Fine-tuning as configured loses on dev: a recipe search is the next thing to try, with what it costs here."""
    steps, seconds = forecast.get("pilot_steps"), forecast.get("pilot_seconds")
    rate = f"; the pilot trained {steps} steps in {seconds:.0f} s here" if steps and seconds else ""
    return (
        f"fine-tuning as configured loses to the base on dev ({forecast['gain']:+.3f}): search a recipe that beats it "
        "with make tune (python -m embtune.tune with the same overrides; it measures and prints its plan within "
        f"tune.budget_minutes, 60 by default, before anything trains{rate})"
    )


def _duration(hours: float) -> str:
    return f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.1f} h"
