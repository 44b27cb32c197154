"""The pure parts of embtune.tune: candidates from the search space, the successive-halving plan, each candidate's
gain over the base on the same dev queries, the chosen recipe as an experiment YAML, the table and plot.

Why synchronous successive halving and not Optuna's pruners: Optuna 2.10's SuccessiveHalvingPruner and
HyperbandPruner are asynchronous (ASHA). Run one candidate after another on one machine, the first candidate has
nobody to be compared with, is never pruned and trains to the full budget. Training every candidate at the low
budget first, then promoting the best 1/eta, spends the budget where the ranking is made."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser

from embtune.errors import EmbtuneError
from embtune.run.redact import redact_argv

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
