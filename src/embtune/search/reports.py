"""What a tune writes: tune.csv / tune.md / tune.png (the plan, one row per run, each candidate's dev curve, the
decision), profile.json (where the wall clock went), the chosen experiment YAML, model/ and metrics.json (last)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from embtune.errors import EmbtuneError
from embtune.evaluation.tables import format_table, with_deltas
from embtune.model.loading import load_base_model
from embtune.report.plots import figure
from embtune.run.disk import save_dir_atomic
from embtune.run.failure import job_overrides
from embtune.run.files import write_json_atomic, write_text_atomic
from embtune.run.record import run_info, write_results
from embtune.search.decision import decide
from embtune.search.plan import Plan
from embtune.search.space import Candidate, experiment_yaml

COLUMNS = ("rung", "candidate", "steps", "dev", "gain", "low", "high", "status", "train_s", "wall_s", "spent_min")

if TYPE_CHECKING:  # the runner records its rows through this module's table_rows
    from embtune.search.runner import Runner


def table_rows(cands: list[Candidate]) -> list[dict[str, Any]]:
    """One row per run made, in the order they were made."""
    rows = [dict(run, candidate=c.name) for c in cands for run in c.runs]
    return sorted(rows, key=lambda r: r["order"])


SIGNED, FOUR = {"gain", "low", "high"}, {"dev"}


def cell(column: str, value: Any) -> str:
    """A table cell: gains signed, dev figures to 4 places, other numbers to 2."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:+.4f}" if column in SIGNED else f"{value:.4f}" if column in FOUR else f"{value:.2f}"
    return str(value)


def markdown(
    rows: list[dict[str, Any]], base_dev: float, metric: str, lines: list[str], plan: list[str] | None = None
) -> str:
    """tune.md: the plan, the base's dev figure, one row per run made, each candidate's dev curve, the decision."""
    head = f"| {' | '.join(COLUMNS)} |\n|{'---|' * len(COLUMNS)}\n"
    body = "".join(f"| {' | '.join(cell(c, r.get(c)) for c in COLUMNS)} |\n" for r in rows)
    curves = "".join(
        f"- {name}: " + " → ".join(f"{step:g}: {value:.4f}" for step, value in points) + "\n"
        for name, points in candidate_curves(rows, base_dev).items()
    )
    planned = "```\n" + "\n".join(plan) + "\n```\n\n" if plan else ""
    notes = "".join(f"{x}\n\n" for x in lines)
    return (
        f"# embtune tune\n\n{planned}base dev {metric}: {base_dev:.4f}\n\n{head}{body}\n"
        f"## dev curves (step: dev {metric}; step 0 is the base)\n\n{curves}\n{notes}"
    )


def candidate_curves(rows: list[dict[str, Any]], base_dev: float) -> dict[str, list[tuple[float, float]]]:
    """Each candidate's dev curve over all its runs: step 0 (the base), then every evaluation of every run it
    made (a longer run's evaluations after a shorter one's, by step)."""
    out: dict[str, dict[float, float]] = {}
    for r in rows:
        points = out.setdefault(r["candidate"], {0.0: base_dev})
        for step, value in r.get("curve") or []:
            if step:
                points[float(step)] = float(value)
    return {name: sorted(points.items()) for name, points in out.items() if len(points) > 1}


def plot(rows: list[dict[str, Any]], base_dev: float, metric: str, path: Any) -> None:
    """Each candidate's dev curve (step 0: the base) against training steps, the base as a line."""
    with figure(path, figsize=(7, 4), dpi=120) as (fig, ax):
        for name, points in candidate_curves(rows, base_dev).items():
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=name[:40])
        ax.axhline(base_dev, color="grey", linestyle="--", label="base (zero-shot)")
        ax.set_xlabel("training steps")
        ax.set_ylabel(f"dev {metric}")
        ax.legend(fontsize=6)


def write_experiment(
    cfg: DictConfig,
    run_dir: Path,
    overrides: list[str],
    groups: set[str],
    winner: Candidate,
    base_dev: float,
    metric: str,
) -> tuple[str, Path]:
    """<tune dir>/experiment/tuned_<dataset>_<time>.yaml, and <tune.config_dir>/experiment/ when asked (a conf dir
    of the user's), never overwriting, and a copy at the top of the tune dir. embtune's own conf/ is never written:
    a tune leaves the checkout as it was."""
    root = experiment_root(cfg, run_dir)
    stem = (
        f"tuned_{''.join(ch if ch.isalnum() else '_' for ch in str(cfg.dataset.name))}_{time.strftime('%Y%m%d_%H%M%S')}"
    )
    name, k = stem, 1
    while (root / "experiment" / f"{name}.yaml").exists():
        name, k = f"{stem}_{k}", k + 1
    finished = [r for r in winner.runs if r["dev"] is not None]
    last = max(finished, key=lambda r: (r["rung"], r["dev"])) if finished else {}
    evidence = (
        f"dev {metric} {last['dev']:.4f} after {last['steps']} steps vs base {base_dev:.4f}"
        if last.get("dev") is not None
        else "no shortened run (the recipe itself)"
    )
    header = (
        f"Chosen on dev by python -m embtune.tune (run dir {run_dir}): candidate '{winner.name}', {evidence}.\n"
        f"Its full-length run, test figures and the ship decision: {run_dir}/metrics.json.\n"
        f"Re-run: python -m embtune.train experiment={name} hydra.searchpath=[file://{root.resolve()}]"
    )
    text = experiment_yaml(overrides, groups, header)
    path = root / "experiment" / f"{name}.yaml"
    write_text_atomic(path, text)
    write_text_atomic(run_dir / f"{name}.yaml", text)
    return name, path


def experiment_root(cfg: DictConfig, run_dir: Path) -> Path:
    """Where the chosen experiment goes: the user's conf dir (tune.config_dir), else the tune dir itself."""
    return Path(cfg.tune.config_dir) if cfg.tune.config_dir else run_dir


def finish(
    cfg: DictConfig,
    run_dir: Path,
    runner: Runner,
    cands: list[Candidate],
    winner: Candidate,
    final: Path | None,
    base_dev: float,
    metric: str,
    name: str,
    yaml_path: Path,
    plan: Plan,
) -> dict[str, Any]:
    """The ship decision, the table, plot and profile, model/ and metrics.json (last)."""
    last = winner.last or {}
    if final is None or last.get("status") != "ok":
        raise EmbtuneError(f"tune: the winner's full run ({name}) failed: {last.get('status')}")
    final_metrics = json.loads((final / "metrics.json").read_text())
    ship, reason = decide({**last, "candidate": winner.name}, float(cfg.tune.interval))
    metrics: dict[str, Any] = {
        k: final_metrics[k] for k in ("dataset", "split", "main_metric", "bm25", "zero_shot") if k in final_metrics
    }
    if "zero_shot" in final_metrics:
        metrics["fine_tuned"] = final_metrics["fine_tuned"] if ship else dict(final_metrics["zero_shot"])
        metrics = with_deltas(metrics)
    rows = table_rows(cands)
    spent = runner.spent_s() / 60
    metrics["tune"] = {
        "shipped": "candidate" if ship else "base",
        "reason": reason,
        "winner": winner.name,
        "overrides": winner.overrides,
        "experiment": name,
        "experiment_file": str(yaml_path),
        "final_run": str(final.relative_to(run_dir)),
        "base_dev": base_dev,
        "dev": {k: last.get(k) for k in ("dev", "gain", "low", "high", "queries")},
        "interval": float(cfg.tune.interval),
        "budget_minutes": float(cfg.tune.budget_minutes),
        "spent_minutes": round(spent, 2),
        "candidates": len(cands),
        "runs": len(rows),
        "plan": plan.as_dict(),
        "full_steps": last.get("steps"),
        "reused_runs": runner.reused,
    }
    notes = [reason] + (
        [f"continued: {len(runner.reused)} finished runs reused ({', '.join(runner.reused)})"] if runner.reused else []
    )
    write_table(run_dir, rows, base_dev, metric, notes, plan.lines([c.name for c in cands]))
    write_json_atomic(run_dir / "profile.json", profile(run_dir, rows))
    model_dir = run_dir / "model"
    if ship:
        save_dir_atomic(lambda tmp: shutil.copytree(final / "model", tmp), model_dir)
    else:
        base, _ = load_base_model(cfg.model, cfg.paths.cache_dir)
        save_dir_atomic(lambda tmp: base.save(str(tmp)), model_dir)
    write_results(run_dir, metrics, run_info(overrides=job_overrides()), format_table(metrics))
    print(f"tune: {reason}; {len(rows)} runs in {spent:.1f} min; recipe: experiment={name}; {run_dir}", flush=True)
    return metrics


def write_table(
    run_dir: Path, rows: list[dict[str, Any]], base_dev: float, metric: str, lines: list[str], plan: list[str]
) -> None:
    """tune.csv (one row per run), tune.md (the plan, the table, each candidate's dev curve, the decision),
    tune.png (the curves)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*COLUMNS, "reused", "run"], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(run_dir / "tune.csv", buffer.getvalue())
    write_text_atomic(run_dir / "tune.md", markdown(rows, base_dev, metric, lines, plan))
    plot(rows, base_dev, metric, run_dir / "tune.png")


def profile(run_dir: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Where the wall clock went, per run and in all: training steps, dev evaluations during training (the
    trainer's eval_runtime), and the rest (start, data and mining, model load, final dev/test passes)."""
    runs = []
    for r in rows:
        if not r.get("run"):
            continue
        runs.append(
            {
                "run": r["run"],
                "wall_s": r["wall_s"],
                "train_steps_s": round(r["train_s"] - r["eval_s"], 1),
                "dev_eval_in_training_s": round(r["eval_s"], 1),
                "dev_evaluations": r["evals"],
                "other_s": round(r["wall_s"] - r["train_s"], 1),
            }
        )
    total = sum(r["wall_s"] for r in rows)
    steps = sum(r["train_steps_s"] for r in runs)
    evals = sum(r["dev_eval_in_training_s"] for r in runs)
    return {
        "runs": runs,
        "wall_s": round(total, 1),
        "train_steps_s": round(steps, 1),
        "dev_eval_in_training_s": round(evals, 1),
        "other_s": round(total - steps - evals, 1),
        "other_is": "process start, data and mining, model load, the final dev pass; test and baselines (full run)",
    }
