"""The budget plan of a tune, made before anything trains: how many steps each rung trains, how many dev passes
each run makes, and what that costs, so that every candidate's first run, the promoted ones and the winner's full
run fit ``tune.budget_minutes``.

The costs come from measurement on the data at hand (``Costs``): one dev pass of the base model and a short
calibration run of the recipe (a process's fixed cost and the seconds of one training step). A candidate of
another shape (batch size, texts per row, a guided loss) is scaled from the recipe's step (``shape_factor``); once
a candidate has run, its own measured step replaces the estimate. The configured length (max_steps, or epochs x
steps per epoch) is a ceiling: the plan trains shorter when the budget asks for it, never longer.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from embtune.errors import EmbtuneError
from embtune.search.space import Candidate

# texts encoded per training row, by data format: a query and a positive, plus negatives
TEXTS_PER_ROW = {"pairs": 2, "triplets": 3, "scored": 2, "binary": 2}
# a guided loss also encodes every text with the guide (no gradient); a cached loss encodes twice (no grad, then
# with grad per mini-batch): measured steps replace these once a candidate has run
LOSS_FACTOR = {"gist": 1.35, "cached_gist": 1.6, "cached_mnrl": 1.25}


@dataclass
class Costs:
    """Seconds, measured here: a run's fixed cost (process start, data, model load), one training step of the
    recipe, one dev pass, and the full run's extra evaluation (test and baselines)."""

    fixed_s: float
    step_s: float
    dev_pass_s: float
    final_extra_s: float


@dataclass
class Plan:
    """Steps and dev passes per rung (the last rung is the winner's full run), with their estimated minutes."""

    rung_sizes: list[int]
    steps: list[int]
    dev_passes: list[int]
    minutes: list[float]
    ceiling_steps: int
    budget_minutes: float
    costs: dict[str, float] = field(default_factory=dict)
    dev_queries: int | None = None  # a seeded sample of the dev queries every run evaluates on (None: all)
    measured_minutes: float = 0.0  # spent before the plan (the base's dev pass, the calibration run)

    @property
    def total_minutes(self) -> float:
        return sum(self.minutes)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_minutes": round(self.total_minutes, 2)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        return cls(**{k: v for k, v in d.items() if k != "total_minutes"})

    def lines(self, names: list[str]) -> list[str]:
        """The plan as printed before the first run."""
        out = [
            f"tune plan: {len(names)} candidates, budget {self.budget_minutes:g} min ({self.measured_minutes:.1f} of "
            f"them spent measuring), estimated {self.total_minutes:.1f} min more (lengths in the recipe's steps; the "
            f"configured length, {self.ceiling_steps} steps, is the ceiling)"
        ]
        for r, (n, steps, passes, mins) in enumerate(
            zip(self.rung_sizes, self.steps, self.dev_passes, self.minutes, strict=True)
        ):
            what = "the winner's full run" if r == len(self.steps) - 1 else f"{n} run{'s' if n > 1 else ''}"
            out.append(
                f"  rung {r + 1}: {what} of {steps} steps, {passes} dev pass{'es' if passes > 1 else ''} each "
                f"(~{mins:.1f} min)"
            )
        c = self.costs
        out.append(
            f"  measured: {c.get('fixed_s', 0):.0f} s per run to start, {c.get('step_s', 0):.2f} s per step, "
            f"{c.get('dev_pass_s', 0):.0f} s per dev pass"
            + (f" (on a fixed sample of {self.dev_queries} dev queries)" if self.dev_queries else "")
        )
        return out


def shape_factor(recipe: dict[str, Any], candidate: dict[str, Any]) -> float:
    """A candidate's cost per training example relative to the recipe's: texts per row and the loss. Lengths are
    counted in the recipe's steps and every candidate sees as many examples (a batch of 64 takes a quarter of the
    steps, ``step_scale``), so the batch size does not enter.

    ``recipe`` / ``candidate``: {"batch_size", "data_format", "loss"} of each."""

    def weight(shape: dict[str, Any]) -> float:
        return TEXTS_PER_ROW.get(str(shape.get("data_format")), 2) * LOSS_FACTOR.get(str(shape.get("loss")), 1.0)

    return weight(candidate) / weight(recipe)


def step_scale(recipe: dict[str, Any], candidate: dict[str, Any]) -> float:
    """A candidate's own steps per step of the recipe: the same training examples at its batch size."""
    return float(recipe.get("batch_size") or 16) / float(candidate.get("batch_size") or 16)


def own_steps(steps: int, scale: float) -> int:
    """``steps`` of the recipe in a candidate's own steps (at least 2)."""
    return max(2, round(steps * scale))


def rung_steps(full: int, rungs: int, eta: int) -> list[int]:
    """Steps at each rung: the full length divided by eta for each rung before the last (at least 2)."""
    return [max(2, round(full * float(eta) ** -(rungs - 1 - r))) if r < rungs - 1 else full for r in range(rungs)]


def estimate(
    full: int, sizes: list[int], factors: list[float], costs: Costs, eta: int, final_passes: int
) -> tuple[list[int], list[int], list[float]]:
    """(steps, dev passes, minutes) per rung for a full length of ``full`` steps. A short run evaluates once, at
    its end (it only ranks); the full run ``final_passes`` times (it picks its checkpoint). Later rungs are costed
    with the dearest candidates (which ones go on is not known yet)."""
    steps = rung_steps(full, len(sizes), eta)
    dearest = sorted(factors, reverse=True)
    passes, minutes = [], []
    for r, (n, s) in enumerate(zip(sizes, steps, strict=True)):
        last = r == len(sizes) - 1
        p = min(final_passes, s) if last else 1
        shapes = dearest[: (1 if last else n)] if r else factors
        seconds = sum(costs.fixed_s + s * costs.step_s * f + p * costs.dev_pass_s for f in shapes)
        if last:
            seconds += costs.final_extra_s
        passes.append(p)
        minutes.append(seconds / 60)
    return steps, passes, minutes


def make_plan(
    sizes: list[int],
    factors: list[float],
    costs: Costs,
    ceiling: int,
    budget_minutes: float,
    eta: int,
    final_passes: int = 4,
    min_steps: int = 4,
    reserve: float = 0.1,
    spent_minutes: float = 0.0,
) -> Plan:
    """The longest full length (at most ``ceiling``) whose whole search fits what is left of ``budget_minutes``
    (``spent_minutes`` went on measuring) less a ``reserve`` share (estimates err). Refused in one line, with the
    budget that would fit, when even the shortest plan (the first rung at ``min_steps``) does not."""
    room = (budget_minutes - spent_minutes) * (1 - reserve)
    shortest = min(ceiling, min_steps * int(float(eta) ** (len(sizes) - 1)))

    def total(full: int) -> float:
        return sum(estimate(full, sizes, factors, costs, eta, final_passes)[2])

    if total(shortest) > room:
        needed = math.ceil(total(shortest) / (1 - reserve) + spent_minutes)
        raise EmbtuneError(
            f"tune: no plan fits tune.budget_minutes={budget_minutes:g}: {sizes[0]} candidates at "
            f"{rung_steps(shortest, len(sizes), eta)[0]} steps each, "
            + "".join(f"the best {n} promoted, " for n in sizes[1:-1])
            + f"and a full run of {shortest} steps take about {needed} min here ({costs.step_s:.2f} s per step, "
            f"{costs.dev_pass_s:.0f} s per dev pass, {costs.fixed_s:.0f} s to start a run). Fix: "
            f"tune.budget_minutes={needed}, or fewer candidates (tune.num_candidates), or a cheaper dev pass "
            "(dataset.dev_corpus_size)."
        )
    lo, hi = shortest, max(shortest, ceiling)
    while lo < hi:  # the cost grows with the length: the longest that fits
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if total(mid) <= room else (lo, mid - 1)
    steps, passes, minutes = estimate(lo, sizes, factors, costs, eta, final_passes)
    return Plan(sizes, steps, passes, minutes, ceiling, budget_minutes, asdict(costs), None, spent_minutes)


def affordable_steps(
    seconds_left: float, costs: Costs, factor: float, passes: int, ceiling: int, planned: int, reserve: float = 0.1
) -> int:
    """The longest full run (between the plan's length and the ceiling) that fits the seconds left, less the plan's
    ``reserve``: a winner whose dev curve still rose at its last run trains longer when the search came in under
    its estimate."""
    spare = seconds_left * (1 - reserve) - costs.fixed_s - costs.final_extra_s - passes * costs.dev_pass_s
    longest = int(spare / max(costs.step_s * factor, 1e-9))
    return max(planned, min(ceiling, longest))


def rising(curve: list[tuple[int, float]]) -> bool:
    """Whether a dev curve (step, figure) still went up at its last point."""
    points = sorted(curve)
    return len(points) >= 2 and points[-1][1] > points[-2][1]


def dev_docs(
    dev_qrels: dict[str, set[str]], queries: int | None, corpus: int, corpus_size: int | None, seed: int
) -> int:
    """Documents one dev pass encodes with a seeded sample of ``queries`` dev queries (None: all), as the evaluator
    builds it: the whole corpus, or every relevant document of those queries plus distractors up to corpus_size."""
    import random

    ids = sorted(dev_qrels)
    if queries is not None and queries < len(ids):
        ids = sorted(random.Random(seed).sample(ids, queries))  # the evaluator's sample (evaluator.ir_evaluator)
    if corpus_size is None or corpus_size >= corpus:
        return corpus
    return max(len({d for q in ids for d in dev_qrels[q]}), corpus_size)


def plan_with_dev(
    sizes: list[int],
    factors: list[float],
    costs: Costs,
    ceiling: int,
    budget_minutes: float,
    eta: int,
    dev: dict[str, Any],
    final_passes: int = 4,
    min_steps: int = 4,
    least_queries: int = 100,
    dev_share: float = 1 / 3,
    spent_minutes: float = 0.0,
) -> tuple[Plan, int | None]:
    """The plan and the dev queries it evaluates on (None: all of them). The dev pass is what a dense-relevance set
    pays most for (every judged document of the dev queries is encoded each time): the most dev queries whose
    plan fits, with dev passes at most ``dev_share`` of it, else the most that fit at all, never fewer than
    ``least_queries``. ``dev``: {"qrels": query -> relevant doc ids, "corpus", "corpus_size", "seed", "docs"
    (what the measured pass encoded)}. Refused as ``make_plan`` refuses when no dev size fits."""
    n = len(dev["qrels"])
    counts: list[int | None] = [None] + [q for q in (400, 300, 200, 150, least_queries) if least_queries <= q < n]
    per_doc = costs.dev_pass_s / max(1, dev["docs"])
    fitting: list[tuple[Plan, int | None]] = []
    refusal: EmbtuneError | None = None
    for q in counts:
        docs = dev_docs(dev["qrels"], q, dev["corpus"], dev["corpus_size"], dev["seed"])
        trial = Costs(costs.fixed_s, costs.step_s, per_doc * docs, costs.final_extra_s)
        try:
            plan = make_plan(
                sizes,
                factors,
                trial,
                ceiling,
                budget_minutes,
                eta,
                final_passes,
                min_steps,
                spent_minutes=spent_minutes,
            )
        except EmbtuneError as e:
            refusal = e
            continue
        passes = sum(n_r * p for n_r, p in zip(sizes[:-1], plan.dev_passes[:-1], strict=True)) + plan.dev_passes[-1]
        plan.dev_queries = q
        if passes * trial.dev_pass_s <= dev_share * plan.total_minutes * 60:
            return plan, q
        fitting.append((plan, q))
    if fitting:  # dev passes dear at every size: the longest training that fits, with the most queries
        return max(fitting, key=lambda pq: (pq[0].steps[-1], pq[1] is None, pq[1] or 0))
    assert refusal is not None
    raise refusal


def load_plan(run_dir: Path) -> Plan | None:
    """The plan a tune dir already holds (a continued tune), or None."""
    path = run_dir / "plan.json"
    return Plan.from_dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None


def grown_length(seconds_left: float, costs: Costs, winner: Candidate, plan: Plan, base_dev: float) -> int:
    """The winner's full length: the plan's, or longer (up to the configured ceiling, within the time left) when its
    dev curve across its runs still rose at its last one."""
    planned = plan.steps[-1]
    curve = [(0, base_dev)] + [(r["recipe_steps"], r["dev"]) for r in winner.runs if r.get("dev") is not None]
    if len(curve) < 3 or not rising(curve) or planned >= plan.ceiling_steps:
        return planned
    steps = affordable_steps(seconds_left, costs, winner.factor, plan.dev_passes[-1], plan.ceiling_steps, planned)
    if steps > planned:
        (a, b) = (curve[-2][1], curve[-1][1])
        print(
            f"tune: {winner.name}'s dev still rose at its last run ({a:.4f} -> {b:.4f}): its full run trains "
            f"{steps} steps instead of {planned}, within the time left",
            flush=True,
        )
    return steps
