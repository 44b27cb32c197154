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
import io
import json
import logging
import math
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
from omegaconf import DictConfig, OmegaConf, open_dict
from transformers import set_seed

from embtune import per_query
from embtune.cache import cached_evaluation
from embtune.errors import EmbtuneError
from embtune.metrics_table import format_table, with_deltas
from embtune.model import load_base_model
from embtune.pipeline import PreparedData, base_on_dev, build_evaluation, data_splits, prepare_data
from embtune.plan import Costs, Plan, affordable_steps, own_steps, plan_with_dev, rising, shape_factor, step_scale
from embtune.run.console_guard import guard_console
from embtune.run.disk import save_dir_atomic
from embtune.run.failure import job_overrides, raise_on_signals, run_or_fail
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


def tune(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Search, decide, write tune.csv / tune.md / tune.png / profile.json, the chosen experiment YAML, model/ and
    metrics.json (last); returns the metrics."""
    started, t = time.monotonic(), cfg.tune
    deadline = started + float(t.budget_minutes) * 60
    set_seed(cfg.seed)
    user = list(HydraConfig.get().overrides.task)
    recipe = recipe_overrides(user)
    # what every candidate run takes as given (the tune's own settings and dir are not theirs)
    passthrough = [
        o for o in user if o not in recipe and not o.lstrip("+~").startswith(("tune.", "paths.output_dir", "hydra."))
    ]
    groups = {g.split("/")[0] for g in HydraConfig.get().runtime.choices if not g.startswith("hydra")}

    # 1. Candidates, each composed now: a typo in tune.space stops here, not an hour in.
    space = OmegaConf.to_container(t.space, resolve=True) or {}
    for axis, options in space.items():
        for option, overrides in (options or {}).items():
            composed_args(recipe + list(overrides), f"tune.space.{axis}.{option}")
    cands = candidates(space, int(t.num_candidates), cfg.seed)
    shapes = {c.name: composed_shape(recipe + c.overrides, f"candidate '{c.name}'") for c in cands}
    for c in cands:
        c.factor, c.scale = shape_factor(shapes["recipe"], shapes[c.name]), step_scale(shapes["recipe"], shapes[c.name])
    sizes = rung_sizes(len(cands), int(t.eta))

    # 2. The base on dev, query by query: what every candidate must beat (the same queries, the same corpus sample),
    #    and what one dev pass costs here.
    metric = str(cfg.evaluator.main_metric)
    setup = dev_setup(cfg, metric)
    base, measured = base_dev_queries(cfg, setup)

    # 3. The plan, before any candidate trains: a calibration run times a step, then every length and dev pass is
    #    chosen so that the whole search fits the budget. A continued tune keeps the plan it made.
    runner = Runner(run_dir, passthrough, started, deadline, base, t, len(cands), sum(sizes))
    plan = load_plan(run_dir)
    if plan is None:
        costs = runner.calibrate(recipe + resource(int(t.calibrate_steps)) + CALIBRATION, measured)
        plan, _ = plan_with_dev(
            sizes, [c.factor for c in cands], costs, measured["ceiling_steps"], float(t.budget_minutes),
            int(t.eta), measured["dev"], int(t.final_dev_passes), int(t.min_steps), int(t.min_dev_queries),
            spent_minutes=runner.spent_s() / 60,
        )  # fmt: skip
        write_json_atomic(run_dir / "plan.json", plan.as_dict())
    else:
        print(f"tune: continuing {run_dir}: the plan made at its start is kept", flush=True)
    if plan.dev_queries is not None:  # every run, the base and the chosen recipe evaluate on the same sample
        recipe.append(f"++dataset.dev_queries={plan.dev_queries}")
        base, _ = base_dev_queries(cfg, setup, plan.dev_queries)
        runner.base = base
    base_dev = statistics.fmean(base.values())
    write_json_atomic(run_dir / "base_dev.json", {"metric": metric, "dev": base})  # for paired reads later
    runner.costs = Costs(**{k: plan.costs[k] for k in ("fixed_s", "step_s", "dev_pass_s", "final_extra_s")})
    print(
        f"tune: {len(cands)} candidates, rungs {' -> '.join(map(str, sizes))} (eta {t.eta}); base dev {metric} "
        f"{base_dev:.4f} over {len(base)} queries",
        flush=True,
    )
    for line in plan.lines([c.name for c in cands]):
        print(line, flush=True)

    # 4. Successive halving: every candidate at the shortest length, the best 1/eta promoted, the winner in full.
    alive = cands
    for rung, size in enumerate(sizes[:-1]):
        if rung:
            alive = promote(alive, rung - 1, size)
        for c in alive:
            length = run_length(own_steps(plan.steps[rung], c.scale), 1)
            runner.short(c, rung, plan, recipe + c.overrides + length + SHORT_RUN)
    winner = ranked(cands)[0] if len(sizes) > 1 else cands[0]  # the plan reserved its full run

    # 5. The winner in full: the plan's length, longer when its dev curve still rose and the search came in under
    #    its estimate; as an experiment YAML, run exactly as `python -m embtune.train experiment=<it>` runs it.
    full = grown_length(runner, winner, plan, base_dev, winner.factor)
    length = run_length(own_steps(full, winner.scale), plan.dev_passes[-1])
    name, yaml_path = write_experiment(
        cfg, run_dir, recipe + winner.overrides + length, groups, winner, base_dev, metric
    )
    search = [f"hydra.searchpath=[file://{experiment_root(cfg, run_dir).resolve()}]"]
    final = runner.final(winner, len(sizes), [f"experiment={name}", *search])

    # 6. Ship the winner only if its dev gain's lower bound is above 0; test figures of what ships, nothing else.
    return finish(cfg, run_dir, runner, cands, winner, final, base_dev, metric, name, yaml_path, plan)


def load_plan(run_dir: Path) -> Plan | None:
    """The plan a tune dir already holds (a continued tune), or None."""
    path = run_dir / "plan.json"
    return Plan.from_dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None


def grown_length(runner: Runner, winner: Candidate, plan: Plan, base_dev: float, factor: float) -> int:
    """The winner's full length: the plan's, or longer (up to the configured ceiling, within the time left) when its
    dev curve across its runs still rose at its last one."""
    planned = plan.steps[-1]
    curve = [(0, base_dev)] + [(r["recipe_steps"], r["dev"]) for r in winner.runs if r.get("dev") is not None]
    if len(curve) < 3 or not rising(curve) or planned >= plan.ceiling_steps:
        return planned
    steps = affordable_steps(
        runner.deadline - time.monotonic(), runner.costs, factor, plan.dev_passes[-1], plan.ceiling_steps, planned
    )
    if steps > planned:
        (a, b) = (curve[-2][1], curve[-1][1])
        print(
            f"tune: {winner.name}'s dev still rose at its last run ({a:.4f} -> {b:.4f}): its full run trains "
            f"{steps} steps instead of {planned}, within the time left",
            flush=True,
        )
    return steps


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


def dev_setup(cfg: DictConfig, metric: str) -> tuple[PreparedData, Any, Any]:
    """The data and the base model the dev measurements read (loaded once)."""
    if not metric.startswith("ndcg@"):
        raise EmbtuneError(
            f"tune compares candidates with the base query by query, on nDCG@k; evaluator.main_metric={metric}. "
            "Fix: tune retrieval data with evaluator=ir (main_metric ndcg@10)."
        )
    prepared = prepare_data(cfg, splits=data_splits(cfg))
    if not prepared.data.has_split("dev"):
        raise EmbtuneError(
            f"tune chooses on dev, and dataset '{prepared.data.name}' has none. Fix: dataset.dev_fraction=0.15 "
            "(dev carved from the train queries)."
        )
    model, resolved = load_base_model(cfg.model, cfg.paths.cache_dir)
    return prepared, model, resolved


def base_dev_queries(
    cfg: DictConfig, setup: tuple[PreparedData, Any, Any], dev_queries: int | None = None
) -> tuple[dict[str, float], dict[str, Any]]:
    """The base model's main metric per dev query, on the dev evaluator every candidate run builds (all dev queries,
    or the plan's seeded sample of ``dev_queries``); and what the plan needs measured: seconds per dev pass (timed
    once per base and dev set, then cached), the dev set's judgements and size, the full run's extra evaluation
    and the configured length in steps (the ceiling)."""
    prepared, model, resolved = setup
    with open_dict(cfg):
        cfg.dataset.dev_queries = dev_queries
    evaluation = build_evaluation(OmegaConf.merge(cfg, {"evaluate_final": False}), prepared.data, {}, with_dev=True)
    dev = evaluation.dev
    assert dev is not None
    began = time.perf_counter()
    queries = base_on_dev(cfg, evaluation, model, resolved)[1]  # cached: every candidate run reads the same entry
    took = time.perf_counter() - began

    def timed_pass() -> dict[str, float]:
        if took > 1.0:  # the figures were just computed: that was one dev pass
            return {"seconds": took}
        again = time.perf_counter()
        dev(model)
        return {"seconds": time.perf_counter() - again}

    timing, _ = cached_evaluation(
        Path(cfg.paths.cache_dir), model, resolved.weights_sha256, dev, timed_pass, variant="dev_pass_seconds"
    )
    docs = max(1, len(getattr(dev, "corpus", None) or getattr(getattr(dev, "evaluators", [None])[0], "corpus", [])))
    args = cfg.trainer.args
    rows = len(prepared.rows["train"])
    ceiling = int(args.get("max_steps") or -1)
    if ceiling <= 0:
        ceiling = math.ceil(float(args.num_train_epochs) * math.ceil(rows / int(args.per_device_train_batch_size)))
    data = prepared.data
    return queries, {
        "dev_pass_s": float(timing["seconds"]),
        # the full run's test pass and zero-shot on the whole corpus, against one dev pass on its sample
        "final_extra_s": 2 * float(timing["seconds"]) * max(1.0, len(data.corpus) / docs),
        "ceiling_steps": max(2, ceiling),
        "dev": {
            "qrels": {q: set(d) for q, d in data.split("dev").items()},
            "corpus": len(data.corpus),
            "corpus_size": cfg.dataset.get("dev_corpus_size"),
            "seed": int(cfg.seed),
            "docs": docs,
        },
    }


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
    write_json_atomic(run_dir / "run_info.json", run_info(overrides=job_overrides()))
    print(format_table(metrics), flush=True)
    write_json_atomic(run_dir / "metrics.json", metrics)
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


@hydra.main(version_base="1.3", config_path="../../conf", config_name="tune")
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    (run_dir / "FAILED").unlink(missing_ok=True)  # a stopped tune this command continues (CheckRunDir found it)
    raise_on_signals(run_dir, again=True)
    run_or_fail(run_dir, lambda: tune(cfg, run_dir), resumable="again")


def cli() -> None:
    """The command line: trainer.args.<any field>=value works as typed (embtune.trainer_args), then Hydra."""
    guard_console()  # secret values never reach the console, Hydra's own lines included
    with_trainer_args(main)


if __name__ == "__main__":
    cli()
