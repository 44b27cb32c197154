"""Deltas between the baselines and the fine-tuned model, and the small table a run prints."""

from __future__ import annotations

from typing import Any

BLOCKS = ("bm25", "zero_shot", "teacher", "fine_tuned")  # teacher: a distillation run's own teacher


def with_deltas(metrics: dict[str, Any]) -> dict[str, Any]:
    """Add ``delta``: fine-tuned minus zero-shot (absolute and relative) and minus BM25, on the main metric."""
    main = metrics["main_metric"]
    tuned = metrics["fine_tuned"][main]
    delta: dict[str, float | None] = {}
    if "zero_shot" in metrics:
        base = metrics["zero_shot"][main]
        delta["vs_zero_shot"] = tuned - base
        delta["vs_zero_shot_rel"] = (tuned - base) / base if base else None  # undefined from 0
    if "bm25" in metrics:
        delta["vs_bm25"] = tuned - metrics["bm25"][main]
    if main in (metrics.get("teacher") or {}):
        delta["vs_teacher"] = tuned - metrics["teacher"][main]
    return {**metrics, "delta": delta}


def format_table(metrics: dict[str, Any], keys: tuple[str, ...] = ("ndcg@10", "mrr@10", "recall@100")) -> str:
    """A fixed-width table: one row per system (BM25, zero-shot, fine-tuned), one column per metric."""
    present = [metrics[b] for b in BLOCKS if b in metrics and metrics["main_metric"] in metrics[b]]
    keys = tuple(k for k in keys if present and k in present[-1]) or (metrics["main_metric"],)
    lines = [
        f"{metrics['dataset']} / {metrics['split']}",
        f"{'system':<12}" + "".join(f"{k:>12}" for k in keys),
    ]
    for block in BLOCKS:
        if block in metrics and metrics["main_metric"] in metrics[block]:  # a teacher measured alone, or not
            lines.append(f"{block:<12}" + "".join(f"{metrics[block].get(k, float('nan')):>12.4f}" for k in keys))
    if metrics.get("delta"):
        lines.append("delta: " + ", ".join(f"{k} {v:+.4f}" for k, v in metrics["delta"].items() if v is not None))
    for block, values in (metrics.get("per_dim") or {}).items():  # Matryoshka: the main metric per dimension
        lines.append(
            f"{block} {metrics['main_metric']} per dim: " + ", ".join(f"{d}: {v:.4f}" for d, v in values.items())
        )
    return "\n".join(lines)
