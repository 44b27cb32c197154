"""A budgeted recipe search on dev, for any dataset: the run you would launch plus candidates drawn from
``tune.space`` (learning rate, loss, negatives, batch size), trained by successive halving (all at a fraction of the
recipe's steps, the best 1/eta promoted, the winner at full length) within ``tune.budget_minutes``. Every candidate
is scored against the base model on the same dev queries with a paired bootstrap; the winner ships only when the
lower bound of its gain is above 0, else the base ships with that reason. Test is read once, for what ships.

python -m embtune.tune                                                           # embedded data (= make tune)
python -m embtune.tune experiment=scifact_minilm_lr6e5 paths.data_dir=../shared/data     # (= make tune-scifact)
python -m embtune.tune dataset=beir dataset.name=mydata tune.budget_minutes=120 tune.num_candidates=9
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import hydra
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from transformers import set_seed

from embtune import per_query
from embtune.errors import EmbtuneError
from embtune.metrics_table import format_table, with_deltas
from embtune.model import load_base_model
from embtune.pipeline import base_on_dev, build_evaluation, data_splits, prepare_data
from embtune.run.console_guard import guard_console
from embtune.run.failure import job_overrides, run_or_fail
from embtune.run.files import write_json_atomic, write_text_atomic
from embtune.run.record import run_info
from embtune.search import (
    COLUMNS,
    Candidate,
    candidates,
    decide,
    experiment_yaml,
    gain,
    markdown,
    plot,
    recipe_overrides,
    rung_sizes,
    table_rows,
)
from embtune.trainer_args import with_trainer_args

log = logging.getLogger("embtune.tune")

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
# a shortened candidate run: dev twice (half way, end), no test, no baselines on test, no regression sets, no model/
SHORT_RUN = [
    "trainer.args.eval_strategy=steps",
    "++trainer.args.eval_steps=0.5",
    "trainer.args.save_strategy=steps",
    "++trainer.args.save_steps=0.5",
    "evaluate_final=false",
    "evaluate_zero_shot=false",
    "evaluate_bm25=false",
    "regression=none",
    "save_model=false",
]


def tune(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Search, decide, write tune.csv / tune.md / tune.png / profile.json, the chosen experiment YAML, model/ and
    metrics.json (last); returns the metrics."""
    started, t = time.monotonic(), cfg.tune
    deadline = started + float(t.budget_minutes) * 60
    set_seed(cfg.seed)
    user = list(HydraConfig.get().overrides.task)
    recipe = recipe_overrides(user)
    passthrough = [o for o in user if o not in recipe and not o.startswith(("tune.", "paths.output_dir"))]
    groups = {g.split("/")[0] for g in HydraConfig.get().runtime.choices if not g.startswith("hydra")}

    # 1. Candidates, each composed now: a typo in tune.space stops here, not an hour in.
    space = OmegaConf.to_container(t.space, resolve=True) or {}
    for axis, options in space.items():
        for option, overrides in (options or {}).items():
            composed_args(recipe + list(overrides), f"tune.space.{axis}.{option}")
    cands = candidates(space, int(t.num_candidates), cfg.seed)
    args = {c.name: composed_args(recipe + c.overrides, f"candidate '{c.name}'") for c in cands}
    sizes = rung_sizes(len(cands), int(t.eta))

    # 2. The base on dev, query by query: what every candidate must beat (the same queries, the same corpus sample).
    metric = str(cfg.evaluator.main_metric)
    base = base_dev_queries(cfg, metric)
    base_dev = statistics.fmean(base.values())
    write_json_atomic(run_dir / "base_dev.json", {"metric": metric, "dev": base})  # for paired reads later
    print(
        f"tune: {len(cands)} candidates, rungs {' -> '.join(map(str, sizes))} (eta {t.eta}), budget "
        f"{t.budget_minutes} min; base dev {metric} {base_dev:.4f} over {len(base)} queries",
        flush=True,
    )

    # 3. Successive halving: every candidate at the shortest length, the best 1/eta promoted, the winner in full.
    runner = Runner(run_dir, passthrough, started, deadline, base, t, len(cands), sum(sizes))
    alive = cands
    for rung, size in enumerate(sizes[:-1]):
        if rung:
            alive = promote(alive, rung - 1, size)
        fraction = float(t.eta) ** -(len(sizes) - 1 - rung)
        for c in alive:
            runner.short(c, rung, len(sizes), fraction, recipe + c.overrides + resource(args[c.name], fraction))
    winner = runner.final_choice(ranked(cands)) if len(sizes) > 1 else cands[0]

    # 4. The winner as an experiment YAML, run in full exactly as `python -m embtune.train experiment=<it>` runs it.
    name, yaml_path = write_experiment(cfg, run_dir, recipe + winner.overrides, groups, winner, base_dev, metric)
    search = [f"hydra.searchpath=[file://{Path(t.config_dir).resolve()}]"] if t.config_dir else []
    final = runner.final(winner, len(sizes), [f"experiment={name}", *search])

    # 5. Ship the winner only if its dev gain's lower bound is above 0; test figures of what ships, nothing else.
    return finish(cfg, run_dir, runner, cands, winner, final, base_dev, metric, name, yaml_path)


def composed_args(overrides: list[str], name: str) -> dict[str, Any]:
    """The trainer arguments a candidate would train with (to shorten it by its own length)."""
    try:
        cfg = compose(config_name="train", overrides=overrides)
    except Exception as e:  # noqa: BLE001 - any compose error is a bad space entry, said in one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EmbtuneError(f"{name} does not compose: {first}") from None
    out = OmegaConf.to_container(cfg.trainer.args, resolve=False)
    assert isinstance(out, dict)
    return out


def resource(args: dict[str, Any], fraction: float) -> list[str]:
    """Overrides that train ``fraction`` of the candidate's own length (max_steps when set, else epochs)."""
    steps = int(args.get("max_steps") or -1)
    length = (
        [f"++trainer.args.max_steps={max(2, round(steps * fraction))}"]
        if steps > 0
        else [f"trainer.args.num_train_epochs={float(args.get('num_train_epochs', 1)) * fraction:.4g}"]
    )
    return length + SHORT_RUN


def base_dev_queries(cfg: DictConfig, metric: str) -> dict[str, float]:
    """The base model's ``metric`` per dev query, on the dev evaluator every candidate run builds."""
    if not metric.startswith("ndcg@"):
        raise EmbtuneError(
            f"tune compares candidates with the base query by query, on nDCG@k; evaluator.main_metric={metric}. "
            "Fix: tune retrieval data with evaluator=ir (main_metric ndcg@10)."
        )
    prepared = prepare_data(cfg, splits=data_splits(cfg))
    evaluation = build_evaluation(OmegaConf.merge(cfg, {"evaluate_final": False}), prepared.data, {}, with_dev=True)
    if evaluation.dev is None:
        raise EmbtuneError(
            f"tune chooses on dev, and dataset '{prepared.data.name}' has none. Fix: dataset.dev_fraction=0.15 "
            "(dev carved from the train queries)."
        )
    model, resolved = load_base_model(cfg.model, cfg.paths.cache_dir)
    return base_on_dev(cfg, evaluation, model, resolved)[1]  # cached: every candidate run reads the same entry


def ranked(cands: list[Candidate]) -> list[Candidate]:
    """Candidates that finished a run, the furthest rung first, then by dev; the recipe when none did."""

    def best(c: Candidate) -> tuple[int, float]:
        return max((r["rung"], r["dev"]) for r in c.runs if r["dev"] is not None)

    done = [c for c in cands if any(r["dev"] is not None for r in c.runs)]
    return sorted(done, key=best, reverse=True) or cands[:1]


def promote(alive: list[Candidate], rung: int, size: int) -> list[Candidate]:
    """The ``size`` best of ``rung`` by dev (a failed or skipped run never advances); the recipe if none finished."""
    done = [c for c in alive if c.last and c.last["rung"] == rung and c.last["dev"] is not None]
    return sorted(done, key=lambda c: c.last["dev"], reverse=True)[:size] or alive[:1]


class Runner:
    """Makes the candidate runs (``python -m embtune.train`` in a fresh process, its output in a log file), keeps
    the time, prints one line per run and estimates what the next one costs."""

    def __init__(
        self,
        run_dir: Path,
        passthrough: list[str],
        started: float,
        deadline: float,
        base: dict[str, float],
        t: DictConfig,
        n: int,
        total: int,
    ) -> None:
        self.run_dir, self.passthrough, self.started, self.deadline = run_dir, passthrough, started, deadline
        self.base, self.t, self.n, self.total, self.order = base, t, n, total, 0
        self.every: list[Candidate] = []

    def minutes_left(self) -> float:
        return (self.deadline - time.monotonic()) / 60

    def estimate(self, c: Candidate, fraction: float) -> float | None:
        """Seconds a run of ``fraction`` of its length will take, from the runs so far: their fixed cost (start,
        data, model, the final dev pass), training-step seconds per whole length (this candidate's own when it has
        run, else the median) times the fraction, and seconds per dev evaluation times the evaluations (2 short;
        the full run: its own count, taken as 3, plus one more fixed cost for test and the baselines). None before
        any run finished."""
        made = [r for c2 in self.every for r in c2.runs if r["status"] == "ok" and r.get("train_s") is not None]
        if not made:
            return None
        own = [r for r in c.runs if r in made] or made
        fixed = statistics.median(r["wall_s"] - r["train_s"] for r in made)
        per_eval = statistics.median(r["eval_s"] / max(1, r["evals"]) for r in made)
        # training-step seconds for the whole length: a candidate's own steps and batch size go together (a
        # batch of 64 takes fewer, dearer steps), so scale its own runs, or the median of the others'
        per_length = statistics.median((r["train_s"] - r["eval_s"]) / r["resource"] for r in own)
        if fraction >= 1.0:
            return 2 * fixed + per_length + 3 * per_eval
        return fixed + per_length * fraction + 2 * per_eval

    def cheapest_full(self) -> float:
        """The smallest full-run estimate among the candidates run so far (0 before any finished)."""
        estimates = [e for c in self.every if (e := self.estimate(c, 1.0)) is not None]
        return min(estimates, default=0.0)

    def final_choice(self, ranked: list[Candidate]) -> Candidate:
        """The best candidate whose full run fits the time left; if none fits, the one whose full run is cheapest."""
        left = self.deadline - time.monotonic()
        for c in ranked:
            est = self.estimate(c, 1.0)
            if est is None or est <= left:
                return c
            print(
                f"tune: {c.name}: its full run (~{est / 60:.0f} min) does not fit the {left / 60:.1f} min left; "
                "the next best instead",
                flush=True,
            )
        return min(ranked, key=lambda c: self.estimate(c, 1.0) or 0.0)

    def short(self, c: Candidate, rung: int, rungs: int, fraction: float, overrides: list[str]) -> None:
        if c not in self.every:
            self.every.append(c)
        est, reserve = self.estimate(c, fraction), self.cheapest_full()  # room for at least one full run
        if est is not None and time.monotonic() + est + reserve > self.deadline:
            self.record(c, rung, rungs, fraction, None, "skipped (budget)", 0.0)
            return
        self.record(c, rung, rungs, fraction, *self.launch(c, rung, overrides))

    def final(self, c: Candidate, rungs: int, overrides: list[str]) -> Path | None:
        if c not in self.every:
            self.every.append(c)
        run, status, wall = self.launch(c, rungs - 1, overrides)
        self.record(c, rungs - 1, rungs, 1.0, run, status, wall)
        return run

    def launch(self, c: Candidate, rung: int, overrides: list[str]) -> tuple[Path | None, str, float]:
        """One train run under <tune dir>/train/runs/; (its run dir, "ok" or the error line, wall seconds)."""
        self.order += 1
        stamp = f"r{rung}_{self.order:02d}"
        env = {**os.environ, "EMBTUNE_OUTPUT_DIR": str(self.run_dir), "EMBTUNE_RUN_STAMP": stamp}
        log_path = self.run_dir / "logs" / f"{stamp}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with log_path.open("w", encoding="utf-8") as out:
            proc = subprocess.run(
                [sys.executable, "-m", "embtune.train", *self.passthrough, *overrides],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                check=False,
            )
        wall = time.monotonic() - started
        run = next(iter(sorted((self.run_dir / "train" / "runs").glob(f"{stamp}_*"))), None)
        if proc.returncode or run is None or not (run / "metrics.json").is_file():
            lines = [x for x in log_path.read_text(encoding="utf-8").splitlines() if x.startswith("error:")]
            return run, (lines[-1] if lines else f"failed (exit {proc.returncode}); see {log_path}"), wall
        return run, "ok", wall

    def record(
        self, c: Candidate, rung: int, rungs: int, fraction: float, run: Path | None, status: str, wall: float
    ) -> None:
        row: dict[str, Any] = {"rung": rung, "resource": round(fraction, 4), "status": status, "wall_s": round(wall, 1)}
        row.update(dev=None, gain=None, low=None, high=None, train_s=None, order=len(table_rows(self.every)))
        if run is not None and status == "ok":
            metrics = json.loads((run / "metrics.json").read_text())
            dev = per_query.load(run, "dev", metrics["main_metric"])
            g = gain(dev, self.base, float(self.t.interval), int(self.t.bootstrap), 0)
            row.update(g, train_s=round(metrics["train"]["seconds"], 1), run=str(run.relative_to(self.run_dir)))
            row["steps"] = metrics["train"]["steps"]
            row["eval_s"], row["evals"] = dev_eval_seconds(run)
        row["spent_min"] = round((time.monotonic() - self.started) / 60, 2)
        c.runs.append(row)
        figure = (
            f"dev {row['dev']:.4f} (gain {row['gain']:+.4f} [{row['low']:+.4f}..{row['high']:+.4f}])"
            if row["dev"] is not None
            else status
        )
        length = "full" if fraction == 1.0 else f"{fraction:.2f} of its length"
        print(
            f"tune {row['order'] + 1}/{self.total} rung {rung + 1}/{rungs} {c.name} ({length}): {figure} · "
            f"{wall:.0f} s · {self.minutes_left():.1f} min left",
            flush=True,
        )


def dev_eval_seconds(run: Path) -> tuple[float, int]:
    """(seconds, count) of the dev evaluations during training: the trainer's eval_runtime in its saved state."""
    states = sorted(run.glob("checkpoints/checkpoint-*/trainer_state.json"), key=lambda p: p.stat().st_mtime)
    history = json.loads(states[-1].read_text()).get("log_history", []) if states else []
    evals = [e["eval_runtime"] for e in history if "eval_runtime" in e]
    return float(sum(evals)), len(evals)


def write_experiment(
    cfg: DictConfig,
    run_dir: Path,
    overrides: list[str],
    groups: set[str],
    winner: Candidate,
    base_dev: float,
    metric: str,
) -> tuple[str, Path]:
    """conf/experiment/tuned_<dataset>_<time>.yaml (tune.config_dir/experiment/ if set), never overwriting, and a
    copy in the run dir."""
    root = Path(cfg.tune.config_dir) if cfg.tune.config_dir else CONF_DIR
    stem = (
        f"tuned_{''.join(ch if ch.isalnum() else '_' for ch in str(cfg.dataset.name))}_{time.strftime('%Y%m%d_%H%M%S')}"
    )
    name, k = stem, 1
    while (root / "experiment" / f"{name}.yaml").exists():
        name, k = f"{stem}_{k}", k + 1
    finished = [r for r in winner.runs if r["dev"] is not None]
    last = max(finished, key=lambda r: (r["rung"], r["dev"])) if finished else {}
    evidence = (
        f"dev {metric} {last['dev']:.4f} at {last['resource']:.2f} of its length vs base {base_dev:.4f}"
        if last.get("dev") is not None
        else "no shortened run (the recipe itself)"
    )
    header = (
        f"Chosen on dev by python -m embtune.tune (run dir {run_dir}): candidate '{winner.name}', {evidence}.\n"
        f"Its full-length run, test figures and the ship decision: {run_dir}/metrics.json.\n"
        f"Re-run: python -m embtune.train experiment={name}"
    )
    text = experiment_yaml(overrides, groups, header)
    path = root / "experiment" / f"{name}.yaml"
    write_text_atomic(path, text)
    write_text_atomic(run_dir / f"{name}.yaml", text)
    return name, path


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
    spent = (time.monotonic() - runner.started) / 60
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
    }
    write_table(run_dir, rows, base_dev, metric, [reason])
    write_json_atomic(run_dir / "profile.json", profile(run_dir, rows))
    model_dir = run_dir / "model"
    if ship:
        shutil.copytree(final / "model", model_dir)
    else:
        base, _ = load_base_model(cfg.model, cfg.paths.cache_dir)
        base.save(str(model_dir))
    write_json_atomic(run_dir / "run_info.json", run_info(overrides=job_overrides()))
    print(format_table(metrics), flush=True)
    write_json_atomic(run_dir / "metrics.json", metrics)
    print(f"tune: {reason}; {len(rows)} runs in {spent:.1f} min; recipe: experiment={name}; {run_dir}", flush=True)
    return metrics


def write_table(run_dir: Path, rows: list[dict[str, Any]], base_dev: float, metric: str, lines: list[str]) -> None:
    with (run_dir / "tune.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[*COLUMNS, "steps", "run"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    (run_dir / "tune.md").write_text(markdown(rows, base_dev, metric, lines), encoding="utf-8")
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


@hydra.main(version_base="1.3", config_path="../../conf", config_name="tune")
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    run_or_fail(run_dir, lambda: tune(cfg, run_dir))


def cli() -> None:
    """The command line: trainer.args.<any field>=value works as typed (embtune.trainer_args), then Hydra."""
    guard_console()  # secret values never reach the console, Hydra's own lines included
    with_trainer_args(main)


if __name__ == "__main__":
    cli()
