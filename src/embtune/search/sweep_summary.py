"""Sweep summary: summary.csv, summary.md and summary.png in a multirun dir, refreshed after every job.

A Hydra callback (conf/hydra/default.yaml). It rescans the sweep dir each time, so it also holds failed jobs
(with their one-line error) and works the same under any launcher.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from embtune.evaluation import per_query
from embtune.report.curves import overlay
from embtune.report.plots import figure
from embtune.run.files import write_text_atomic

COLUMNS = [
    "job",
    "varied",
    "best",
    "pick",
    "model",
    "loss",
    "data_format",
    "seed",
    "status",
    "metric",
    "dev",
    "dev_vs_best",
    "bm25",
    "zero_shot",
    "fine_tuned",
    "delta",
    "delta_rel",
    "selected",
    "regression_delta",
    "train_seconds",
    "device",
    "est_cost_usd",
    "error",
]


def _job_row(job_dir: Path, cost_per_hour: float, cpu_cost_per_hour: float = 0.05) -> dict[str, Any]:
    hydra_cfg = OmegaConf.load(job_dir / ".hydra" / "hydra.yaml").hydra
    job_cfg = OmegaConf.load(job_dir / ".hydra" / "config.yaml")
    choices = hydra_cfg.runtime.choices
    row: dict[str, Any] = {
        "job": job_dir.name,
        "model": choices.get("model"),
        "loss": choices.get("loss"),
        "data_format": choices.get("data_format"),
        "seed": job_cfg.get("seed"),
        "overrides": " ".join(o for o in hydra_cfg.overrides.task if not o.startswith("seed=")),
    }
    metrics_file, failed = job_dir / "metrics.json", job_dir / "FAILED"
    if metrics_file.is_file():
        m = json.loads(metrics_file.read_text())
        main = m["main_metric"]
        seconds = m.get("train", {}).get("seconds", 0.0)
        row |= {
            "status": "ok",
            "metric": main,
            # the dev figure of the model shipped: what the run chose by, and what a sweeper optimises
            "dev": m.get("train", {}).get("selected_dev_metric"),
            "bm25": m.get("bm25", {}).get(main),
            "zero_shot": m.get("zero_shot", {}).get(main),
            "fine_tuned": m.get("fine_tuned", {}).get(main),
            "delta": m.get("delta", {}).get("vs_zero_shot"),
            "delta_rel": m.get("delta", {}).get("vs_zero_shot_rel"),
            # "base": fine-tuning did not beat the base model on dev, and the base was shipped
            "selected": m.get("train", {}).get("selected"),
            # what fine-tuning did to the general-purpose sets: mean delta (fine-tuned - base) over regression/
            "regression_delta": (
                sum(r["delta"] for r in m["regression"].values()) / len(m["regression"])
                if m.get("regression")
                else None
            ),
            "train_seconds": seconds,
            "device": m.get("train", {}).get("device"),
            # the GPU-hour rate for GPU runs, the CPU-hour rate for CPU runs
            "est_cost_usd": round(
                seconds
                / 3600
                * (
                    cost_per_hour if str(m.get("train", {}).get("device", "")).startswith("cuda") else cpu_cost_per_hour
                ),
                4,
            ),
        }
    elif failed.is_file():
        row |= {"status": "FAILED", "error": failed.read_text().strip()}
    else:
        row |= {"status": "running"}
    return row


def collect_rows(
    sweep_dir: Path, cost_per_hour: float, cpu_cost_per_hour: float = 0.05, dev_interval: float = 0.9
) -> list[dict[str, Any]]:
    """One row per job dir (a dir with a .hydra record) in job order, each named by what varied across the jobs
    (command-line and sweeper-sampled overrides, keys shortened), the best by dev marked and the others compared
    with it query by query."""
    jobs = [d for d in sweep_dir.iterdir() if (d / ".hydra" / "hydra.yaml").is_file()]
    jobs.sort(key=lambda d: (int(d.name.split("_")[0]) if d.name.split("_")[0].isdigit() else 1 << 30, d.name))
    rows = [_job_row(d, cost_per_hour, cpu_cost_per_hour) for d in jobs]
    sets = [set(r["overrides"].split()) | ({f"seed={r['seed']}"} if r.get("seed") is not None else set()) for r in rows]
    common = set.intersection(*sets) if sets else set()
    for r, own in zip(rows, sets, strict=True):
        r["varied"] = " ".join(short(o) for o in sorted(own - common)) or "(same overrides)"
    devs = [r["dev"] for r in rows if r.get("status") == "ok" and r.get("dev") is not None]
    for r in rows:
        r["best"] = "*" if devs and len(rows) > 1 and r.get("dev") == max(devs) else ""
    compare_to_best(sweep_dir, rows, dev_interval)
    return rows


def compare_to_best(sweep_dir: Path, rows: list[dict[str, Any]], interval: float, n: int = 2000) -> None:
    """``dev_vs_best`` per finished job: its dev mean minus the best job's over the dev queries both scored, with the
    ``interval`` paired-bootstrap range (from each run's per_query.json). A range that holds 0 means the dev split
    cannot tell this job from the best: choosing between them on dev is a coin toss."""
    best = next((r for r in rows if r["best"]), None)
    if best is None:
        return
    metric = best["metric"]
    best_queries = per_query.load(sweep_dir / best["job"], "dev", metric)
    for r in rows:
        if r is best:
            r["dev_vs_best"] = "best"
            continue
        queries = per_query.load(sweep_dir / r["job"], "dev", metric) if r.get("status") == "ok" else {}
        shared = sorted(set(queries) & set(best_queries))
        span = per_query.paired_interval(queries, best_queries, n, interval, seed=0)
        if span is not None:
            diff = sum(queries[q] - best_queries[q] for q in shared) / len(shared)
            r["dev_vs_best"] = f"{diff:+.4f} [{span[0]:+.4f}..{span[1]:+.4f}]"
            r["dev_tied"] = span[1] >= 0.0
            r["dev_queries"] = len(shared)
    if any("dev_tied" in r for r in rows):
        # what dev supports choosing: of the best and the jobs it cannot tell from the best, the cheapest to train
        candidates = [best, *(r for r in rows if r.get("dev_tied"))]
        pick = min(candidates, key=lambda r: r.get("train_seconds") or 0.0)
        pick["pick"] = "*"


def short(override: str) -> str:
    """``trainer.args.learning_rate=3e-05`` -> ``learning_rate=3e-05``: the key's last part, the value whole but for
    long paths (``mining.model_path=/long/.../<run>/model`` -> ``model_path=…/<run>/model``)."""
    key, sep, value = override.partition("=")
    bare = value.strip("'\"")
    if "/" in bare and len(bare) > 40:  # a long path: its last two parts name it (a run dir's model/, a file)
        value = "…/" + "/".join(Path(bare).parts[-2:])
    return f"{key.lstrip('+~').rsplit('.', 1)[-1]}{sep}{value}"


def aggregate_seeds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± std of the fine-tuned metric over jobs that differ only in seed."""
    ok = [r for r in rows if r["status"] == "ok"]
    common = set.intersection(*(set(r["overrides"].split()) for r in ok)) if ok else set()
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in ok:
        setting = " ".join(o for o in r["overrides"].split() if o not in common)
        groups.setdefault(setting, []).append(r)
    out = []
    for setting, members in groups.items():
        values = [m["fine_tuned"] for m in members if m["fine_tuned"] is not None]
        if not values:
            continue
        out.append(
            {
                "setting": setting or " ".join(short(o) for o in sorted(common)) or "(defaults)",
                "runs": len(values),
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "zero_shot": members[0]["zero_shot"],
            }
        )
    return out


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v))


def write_summary(
    sweep_dir: Path, cost_per_hour: float = 2.5, cpu_cost_per_hour: float = 0.05, dev_interval: float = 0.9
) -> list[dict[str, Any]]:
    """Write summary.csv / summary.md / summary.png for the sweep; returns the rows."""
    rows = collect_rows(sweep_dir, cost_per_hour, cpu_cost_per_hour, dev_interval)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(sweep_dir / "summary.csv", buf.getvalue())

    lines = [f"# Sweep {sweep_dir.name}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in COLUMNS) + " |" for r in rows]
    if compared := [r for r in rows if "dev_tied" in r]:
        tied = [r["job"] for r in compared if r["dev_tied"]]
        lines += [
            "",
            f"dev_vs_best: dev minus the best job's dev over the {compared[0]['dev_queries']} dev queries both scored,"
            f" with its {dev_interval:.0%} paired-bootstrap range. "
            + (
                f"Dev cannot tell the best from {', '.join(tied)} (the range holds 0): more dev queries"
                " (dataset.dev_fraction) or seeds before calling a winner."
                if tied
                else "Every other job is below the best beyond the range."
            ),
            "",
            f"pick: {next(r['job'] for r in rows if r.get('pick'))}, the cheapest to train (train_seconds) of the"
            " best and the jobs dev cannot tell from it.",
        ]
    seeds = aggregate_seeds(rows)
    if any(s["runs"] > 1 for s in seeds):
        lines += [
            "",
            "## Across seeds",
            "",
            "| setting | runs | fine-tuned mean ± std | zero-shot |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {s['setting']} | {s['runs']} | {s['mean']:.4f} ± {s['std']:.4f} | {_fmt(s['zero_shot'])} |"
            for s in seeds
        ]
    lines += ["", "![BM25 vs zero-shot vs fine-tuned per job](summary.png)"]
    jobs = [sweep_dir / r["job"] for r in rows]
    if overlay(jobs, [r["varied"] for r in rows], sweep_dir / "curves.png"):  # atomic: parallel jobs write it too
        lines += ["", "![dev curves per job](curves.png)"]
    write_text_atomic(sweep_dir / "summary.md", "\n".join(lines) + "\n")
    _plot(rows, sweep_dir / "summary.png")
    return rows


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Grouped bars per job: BM25, zero-shot and fine-tuned on the main metric; failed jobs marked."""
    labels = [r.get("varied") or f"{r['model']}/{r['loss']}/{r['data_format']}" for r in rows]
    labels = [
        ("* " if r.get("best") else "")
        + "\n".join(label.split())
        + ("\n(base kept)" if r.get("selected") == "base" else "")  # fine-tuning lost on dev: the base was shipped
        for r, label in zip(rows, labels, strict=True)
    ]
    # figure(): a temp name of its own, so jobs of a parallel launcher finishing together each write the summary
    with figure(path, figsize=(max(7, 2.4 * len(rows)), 4.8), dpi=110) as (fig, ax):
        width = 0.27
        for i, (key, color) in enumerate((("bm25", "#999999"), ("zero_shot", "#4c72b0"), ("fine_tuned", "#dd8452"))):
            xs = [j + (i - 1) * width for j in range(len(rows))]
            bars = ax.bar(xs, [r.get(key) or 0.0 for r in rows], width, label=key.replace("_", "-"), color=color)
            ax.bar_label(bars, labels=[_fmt(r.get(key)) for r in rows], fontsize=7, rotation=90, padding=2)
        for j, r in enumerate(rows):
            if r["status"] != "ok":
                ax.text(j, 0.02, r["status"], ha="center", va="bottom", color="red", rotation=90)
            if r.get("regression_delta") is not None:  # what fine-tuning did elsewhere, above the job's bars
                top = max(r.get(k) or 0.0 for k in ("bm25", "zero_shot", "fine_tuned"))
                ax.text(j, top + 0.02, f"regr. {r['regression_delta']:+.3f}", ha="center", va="bottom", fontsize=8)
        metric = next((r["metric"] for r in rows if r.get("metric")), "metric")
        ax.set_xticks(range(len(rows)), labels, fontsize=7)
        top = max((r.get(k) or 0.0 for r in rows for k in ("bm25", "zero_shot", "fine_tuned")), default=0.0)
        ax.set_ylim(0, top * 1.3 if top > 0 else 1.0)  # room for the value labels; no negative axis
        ax.set_ylabel(f"test {metric}")
        ax.set_xlabel("job: what varied (* best on dev)")
        ax.set_title(f"{metric} per job: BM25 vs zero-shot vs fine-tuned")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))


class SweepReport(Callback):
    """Refresh the sweep summary after each job and at the end of the multirun."""

    def __init__(self, cost_per_hour: float = 2.5, cpu_cost_per_hour: float = 0.05, dev_interval: float = 0.9) -> None:
        self.cost_per_hour, self.cpu_cost_per_hour, self.dev_interval = cost_per_hour, cpu_cost_per_hour, dev_interval

    def _refresh(self) -> None:
        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            sweep_dir = Path(HydraConfig.get().sweep.dir)
            if sweep_dir.is_dir():
                write_summary(sweep_dir, self.cost_per_hour, self.cpu_cost_per_hour, self.dev_interval)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        self._refresh()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._refresh()
