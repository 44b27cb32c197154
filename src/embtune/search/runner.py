"""The tune's runs: each candidate a ``python -m embtune.train`` in a fresh process (its output in a log file),
timed and recorded one line each; the overrides that set a run's length; a finished run reused when a stopped tune
is continued."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hydra import compose
from omegaconf import DictConfig, OmegaConf

from embtune.errors import EmbtuneError
from embtune.evaluation import per_query
from embtune.run.files import write_json_atomic
from embtune.search.decision import gain
from embtune.search.plan import Costs, Plan
from embtune.search.reports import table_rows
from embtune.search.space import Candidate

# a shortened candidate run: no test, no baselines on test, no regression sets, no model/, no base guard; its length
# and its one dev pass (at its end: a short run only ranks) come from the plan (run_length)
SHORT_RUN = [
    # a shortened run ranks candidates by what their training made: its checkpoint is what it reports (and is
    # compared with the base query by query), even below the base; only the winner's full run keeps the guard
    "trainer.keep_base_if_better=false",
    "evaluate_final=false",
    "evaluate_zero_shot=false",
    "evaluate_bm25=false",
    "regression=none",
    "save_model=false",
]


# the calibration run: a few steps of the recipe that time one step and a run's fixed cost; no dev pass at all
CALIBRATION = [
    *SHORT_RUN,
    "evaluate_dev=false",
    "trainer.args.eval_strategy=no",
    "trainer.args.save_strategy=no",
    "trainer.args.load_best_model_at_end=false",
]


class Runner:
    """Makes the candidate runs (``python -m embtune.train`` in a fresh process, its output in a log file), keeps
    the time, prints one line per run and estimates what the next one costs. A run already finished in this tune
    dir (a continued tune) is reused, not made again."""

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
        self.index: dict[str, int] = {}
        self.costs = Costs(0.0, 0.0, 0.0, 0.0)
        self.reused: list[str] = []
        progress = run_dir / "progress.json"  # a continued tune: the budget the stopped ones spent is gone
        self.spent_before = json.loads(progress.read_text())["spent_s"] if progress.is_file() else 0.0
        self.deadline -= self.spent_before

    def minutes_left(self) -> float:
        return (self.deadline - time.monotonic()) / 60

    def spent_s(self) -> float:
        """Seconds of the budget spent, by this process and by the stopped ones this tune dir continues."""
        return self.spent_before + time.monotonic() - self.started

    def calibrate(self, overrides: list[str], measured: dict[str, Any]) -> Costs:
        """A few steps of the recipe: a run's fixed cost and the seconds of one step, with the dev pass measured."""
        run, status, wall = self.launch("calibration", overrides)
        if status != "ok" or run is None:
            raise EmbtuneError(
                f"tune: the calibration run (the recipe, {self.t.calibrate_steps} steps) failed: {status}"
            )
        train = json.loads((run / "metrics.json").read_text())["train"]
        step_s = float(train["seconds"]) / max(1, int(train["steps"]))
        costs = Costs(
            max(0.0, wall - float(train["seconds"])), step_s, measured["dev_pass_s"], measured["final_extra_s"]
        )
        print(
            f"tune: calibration: {train['steps']} steps of the recipe in {train['seconds']:.1f} s ({step_s:.2f} s per "
            f"step), {costs.fixed_s:.0f} s to start a run; one dev pass {costs.dev_pass_s:.0f} s · {wall:.0f} s",
            flush=True,
        )
        return costs

    def estimate(self, c: Candidate, steps: int, passes: int, full: bool = False) -> float:
        """Seconds a run of ``steps`` will take: the plan's costs, with this candidate's own measured step when it
        has run, and the fixed cost and dev pass as measured so far."""
        made = [r for c2 in self.every for r in c2.runs if r["status"] == "ok" and r.get("train_s") is not None]
        own = [r for r in c.runs if r in made and r.get("steps")]
        # seconds per step of the recipe: this candidate's own steps measured, scaled to the same examples
        step_s = statistics.median((r["train_s"] - r["eval_s"]) / r["steps"] for r in own) * c.scale if own else None
        step_s = step_s if step_s is not None else self.costs.step_s * c.factor
        fixed = statistics.median([r["wall_s"] - r["train_s"] for r in made]) if made else self.costs.fixed_s
        evals = [r["eval_s"] / r["evals"] for r in made if r.get("evals")]
        per_eval = statistics.median(evals) if evals else self.costs.dev_pass_s
        return fixed + steps * step_s + passes * per_eval + (self.costs.final_extra_s if full else 0.0)

    def short(self, c: Candidate, rung: int, plan: Plan, overrides: list[str]) -> None:
        self._register(c)
        steps, left = plan.steps[rung], self.deadline - time.monotonic()
        # what must still fit after this run: the winner's full run, as planned
        reserve = self.estimate(c, plan.steps[-1], plan.dev_passes[-1], full=True)
        if not self._finished(f"r{rung}_c{self.index[c.name]:02d}") and self.estimate(c, steps, 1) + reserve > left:
            self.record(c, rung, len(plan.steps), steps, None, "skipped (budget)", 0.0)
            return
        self.record(c, rung, len(plan.steps), steps, *self.launch(f"r{rung}_c{self.index[c.name]:02d}", overrides))

    def final(self, c: Candidate, rungs: int, overrides: list[str]) -> Path | None:
        self._register(c)
        run, status, wall = self.launch(f"r{rungs - 1}_c{self.index[c.name]:02d}_full", overrides)
        self.record(c, rungs - 1, rungs, None, run, status, wall)
        c.runs[-1]["recipe_steps"] = round(c.runs[-1]["steps"] / c.scale) if c.runs[-1].get("steps") else None
        return run

    def _register(self, c: Candidate) -> None:
        if c not in self.every:
            self.every.append(c)
        self.index.setdefault(c.name, len(self.index))

    def _finished(self, stamp: str) -> Path | None:
        runs = self.run_dir / "train" / "runs"
        return next((d for d in sorted(runs.glob(f"{stamp}_*")) if (d / "metrics.json").is_file()), None)

    def launch(self, stamp: str, overrides: list[str]) -> tuple[Path | None, str, float]:
        """One train run under <tune dir>/train/runs/<stamp>_*; (its run dir, "ok" or the error line, wall seconds).
        A run this tune dir already finished (a continued tune) is reused; one a stop cut short is moved to
        interrupted/ and made again."""
        runs = self.run_dir / "train" / "runs"
        if (done := self._finished(stamp)) is not None:
            sidecar = self.run_dir / "logs" / f"{stamp}.json"  # absent when the stop came right after the run ended
            wall = json.loads(sidecar.read_text())["wall_s"] if sidecar.is_file() else None
            if wall is None:
                wall = json.loads((done / "metrics.json").read_text())["train"]["seconds"]
            self.reused.append(stamp)
            return done, "ok", float(wall)
        for partial in sorted(runs.glob(f"{stamp}_*")):
            (self.run_dir / "interrupted").mkdir(exist_ok=True)
            partial.rename(self.run_dir / "interrupted" / partial.name)
        self.order += 1
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
        write_json_atomic(log_path.with_suffix(".json"), {"wall_s": round(wall, 1), "exit": proc.returncode})
        run = next(iter(sorted(runs.glob(f"{stamp}_*"))), None)
        if proc.returncode or run is None or not (run / "metrics.json").is_file():
            lines = [x for x in log_path.read_text(encoding="utf-8").splitlines() if x.startswith("error:")]
            return run, (lines[-1] if lines else f"failed (exit {proc.returncode}); see {log_path}"), wall
        return run, "ok", wall

    def record(
        self, c: Candidate, rung: int, rungs: int, steps: int | None, run: Path | None, status: str, wall: float
    ) -> None:
        reused = run is not None and any(run.name.startswith(f"{stamp}_") for stamp in self.reused)
        row: dict[str, Any] = {"rung": rung, "status": status, "wall_s": round(wall, 1)}
        row.update(dev=None, gain=None, low=None, high=None, train_s=None, order=len(table_rows(self.every)))
        row.update(steps=steps, recipe_steps=steps, reused=bool(reused), curve=[])
        if run is not None and status == "ok":
            metrics = json.loads((run / "metrics.json").read_text())
            dev = per_query.load(run, "dev", metrics["main_metric"])
            g = gain(dev, self.base, float(self.t.interval), int(self.t.bootstrap), 0)
            row.update(g, train_s=round(metrics["train"]["seconds"], 1), run=str(run.relative_to(self.run_dir)))
            row["steps"] = metrics["train"]["steps"]
            row["eval_s"], row["evals"] = dev_eval_seconds(run)
            row["curve"] = [[step / c.scale, value] for step, value in dev_curve(run)]  # in the recipe's steps
        row["spent_min"] = round(self.spent_s() / 60, 2)
        c.runs.append(row)
        write_json_atomic(self.run_dir / "progress.json", {"spent_s": round(self.spent_s(), 1)})
        figure = (
            f"dev {row['dev']:.4f} (gain {row['gain']:+.4f} [{row['low']:+.4f}..{row['high']:+.4f}])"
            if row["dev"] is not None
            else status
        )
        length = "full" if steps is None else f"{steps} steps"
        print(
            f"tune {row['order'] + 1}/{self.total} rung {rung + 1}/{rungs} {c.name} ({length}): {figure} · "
            f"{'reused' if reused else f'{wall:.0f} s'} · {self.minutes_left():.1f} min left",
            flush=True,
        )


def dev_curve(run: Path) -> list[list[float]]:
    """[step, dev figure] of a run's evaluations (its curves.json; step 0 is the base)."""
    path = run / "curves.json"
    return json.loads(path.read_text(encoding="utf-8")).get("dev", []) if path.is_file() else []


def dev_eval_seconds(run: Path) -> tuple[float, int]:
    """(seconds, count) of the dev evaluations during training: the trainer's eval_runtime in its saved state."""
    states = sorted(run.glob("checkpoints/checkpoint-*/trainer_state.json"), key=lambda p: p.stat().st_mtime)
    history = json.loads(states[-1].read_text()).get("log_history", []) if states else []
    evals = [e["eval_runtime"] for e in history if "eval_runtime" in e]
    return float(sum(evals)), len(evals)


def composed_args(overrides: list[str], name: str) -> dict[str, Any]:
    """The trainer arguments a candidate would train with."""
    return OmegaConf.to_container(_compose(overrides, name).trainer.args, resolve=False)  # type: ignore[return-value]


def composed_shape(overrides: list[str], name: str) -> dict[str, Any]:
    """What a step of this candidate costs depends on: batch size, data format, loss."""
    cfg = _compose(overrides, name)
    return {
        "batch_size": cfg.trainer.args.per_device_train_batch_size,
        "data_format": cfg.data_format.name,
        "loss": cfg.loss.name,
    }


def _compose(overrides: list[str], name: str) -> DictConfig:
    try:
        return compose(config_name="train", overrides=overrides)
    except Exception as e:  # noqa: BLE001 - any compose error is a bad space entry, said in one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EmbtuneError(f"{name} does not compose: {first}") from None


def resource(steps: int) -> list[str]:
    """A run of ``steps`` training steps (max_steps wins over epochs)."""
    return [f"++trainer.args.max_steps={steps}"]


def run_length(steps: int, dev_passes: int) -> list[str]:
    """``steps`` training steps with ``dev_passes`` dev evaluations evenly spread, the last at the end (each one a
    checkpoint the run may ship)."""
    every = max(1, math.ceil(steps / max(1, dev_passes)))
    return [
        *resource(steps),
        "trainer.args.eval_strategy=steps",
        f"++trainer.args.eval_steps={every}",
        "trainer.args.save_strategy=steps",
        f"++trainer.args.save_steps={every}",
    ]
