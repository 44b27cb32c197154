"""The pure parts of embtune.tune: candidates from the search space, the successive-halving plan, each candidate's
gain over the base on the same dev queries, the chosen recipe as an experiment YAML, the table and plot.

Why synchronous successive halving and not Optuna's pruners: Optuna 2.10's SuccessiveHalvingPruner and
HyperbandPruner are asynchronous (ASHA). Run one candidate after another on one machine, the first candidate has
nobody to be compared with, is never pruned and trains to the full budget. Training every candidate at the low
budget first, then promoting the best 1/eta, spends the budget where the ranking is made."""

from __future__ import annotations

import io
import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser

from embtune.errors import EmbtuneError
from embtune.per_query import paired_interval
from embtune.redact import redact_argv

# overrides that say where and how a run is made, never what is trained: not part of a recipe
NOT_RECIPE = ("paths.", "hydra.", "tune.", "logger", "resume.", "evaluate_", "save_model", "task_name")


@dataclass
class Candidate:
    """One recipe: a name and the Hydra overrides it adds to the run the user described."""

    name: str
    overrides: list[str]
    runs: list[dict[str, Any]] = field(default_factory=list)  # one per rung it was trained at
    factor: float = 1.0  # its cost per training example relative to the recipe's (plan.shape_factor)
    scale: float = 1.0  # its own steps per step of the recipe (plan.step_scale: the same examples)

    @property
    def last(self) -> dict[str, Any] | None:
        return self.runs[-1] if self.runs else None


def candidates(space: dict[str, dict[str, list[str]]], n: int, seed: int) -> list[Candidate]:
    """The run as configured ("recipe") first, then ``n - 1`` others drawn without repeats from the grid of the
    space's axes (each axis: option name -> the overrides it stands for), shuffled by ``seed``."""
    if n < 1:
        raise EmbtuneError(f"tune.num_candidates={n}: give at least 1 (the recipe itself).")
    axes = [list(options.items()) for options in space.values() if options]
    grid = list(itertools.product(*axes)) if axes else []
    random.Random(seed).shuffle(grid)
    drawn = [
        Candidate(" · ".join(name for name, _ in combo), [o for _, overrides in combo for o in overrides])
        for combo in grid[: n - 1]
    ]
    return [Candidate("recipe", []), *drawn]


def rung_sizes(n: int, eta: int) -> list[int]:
    """How many candidates train at each rung: n, ceil(n/eta), ... down to 1."""
    if eta < 2:
        raise EmbtuneError(f"tune.eta={eta}: successive halving keeps the best 1/eta at each rung; give eta >= 2.")
    sizes = [n]
    while sizes[-1] > 1:
        sizes.append(math.ceil(sizes[-1] / eta))
    return sizes


def gain(after: dict[str, float], before: dict[str, float], interval: float, n: int, seed: int) -> dict[str, Any]:
    """Mean dev gain over the base on the queries both scored, with its paired-bootstrap range."""
    shared = sorted(set(after) & set(before))
    if not shared:
        return {"dev": None, "gain": None, "low": None, "high": None, "queries": 0}
    bounds = paired_interval(after, before, n, interval, seed)
    assert bounds is not None
    return {
        "dev": float(np.mean([after[q] for q in shared])),
        "gain": float(np.mean([after[q] - before[q] for q in shared])),
        "low": bounds[0],
        "high": bounds[1],
        "queries": len(shared),
    }


def recipe_overrides(overrides: list[str]) -> list[str]:
    """The overrides that define what is trained (paths, hydra, logger, tune, evaluation switches dropped; and
    credentials: an API key is passed on to every run, never written into a recipe)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [
        o.input_line
        for o in parsed
        if not o.key_or_group.startswith(NOT_RECIPE) and redact_argv([o.input_line]) == [o.input_line]
    ]


def experiment_yaml(overrides: list[str], groups: set[str], header: str) -> str:
    """An experiment config (``# @package _global_``) that composes to the run these overrides describe:
    ``experiment=X`` becomes a default, group choices ``override /group: option`` entries, values nested keys
    (later overrides win, as on the command line)."""
    defaults: list[Any] = []
    chosen: dict[str, str] = {}
    values: dict[str, Any] = {}
    for o in OverridesParser.create().parse_overrides(overrides):
        key, value = o.key_or_group, o.value()
        if key == "experiment":
            defaults.append(str(value))
        elif key in groups:
            chosen[key] = str(value)
        else:
            node = values
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
    defaults += [{f"override /{group}": option} for group, option in chosen.items()]
    body = yaml.safe_dump({"defaults": defaults, **values} if defaults else values, sort_keys=False)
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return f"# @package _global_\n{comments}{body}"


COLUMNS = ("rung", "candidate", "steps", "dev", "gain", "low", "high", "status", "train_s", "wall_s", "spent_min")


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


def decide(run: dict[str, Any], interval: float) -> tuple[bool, str]:
    """Ship the winner only when the lower end of its dev gain's range is above 0; the reason in one line."""
    low, high, g = run.get("low"), run.get("high"), run.get("gain")
    name, queries = run.get("candidate", "the winner"), run.get("queries", 0)
    if low is not None and low > 0:
        return True, (
            f"shipped '{name}': dev gain {g:+.4f}, {interval:.0%} range [{low:+.4f}..{high:+.4f}] over {queries} "
            "dev queries, lower bound above 0"
        )
    if low is None:
        return False, f"shipped the base: '{name}' has no dev figures to compare with the base"
    return False, (
        f"shipped the base: the best candidate '{name}' gains {g:+.4f} on dev, {interval:.0%} range "
        f"[{low:+.4f}..{high:+.4f}] over {queries} dev queries: the lower bound is not above 0, so dev cannot tell "
        "it from the base"
    )


def plot(rows: list[dict[str, Any]], base_dev: float, metric: str, path: Any) -> None:
    """Each candidate's dev curve (step 0: the base) against training steps, the base as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from embtune.run.files import write_bytes_atomic

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, points in candidate_curves(rows, base_dev).items():
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=name[:40])
    ax.axhline(base_dev, color="grey", linestyle="--", label="base (zero-shot)")
    ax.set_xlabel("training steps")
    ax.set_ylabel(f"dev {metric}")
    ax.legend(fontsize=6)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
