"""plan: the budget plan of a tune, from measured costs, before anything trains."""

from __future__ import annotations

import pytest

from embtune.errors import EmbtuneError
from embtune.search.plan import (
    Costs,
    Plan,
    affordable_steps,
    dev_docs,
    estimate,
    make_plan,
    own_steps,
    plan_with_dev,
    rising,
    rung_steps,
    shape_factor,
    step_scale,
)

# long documents on 2 CPU cores: ~5.6 s per MiniLM step of 16 pairs; a dev pass over a 1,000-document sample
SLOW = Costs(fixed_s=60.0, step_s=5.6, dev_pass_s=40.0, final_extra_s=440.0)


def test_the_plan_fits_the_budget_and_trains_every_candidate_at_the_first_rung() -> None:
    sizes, factors = [6, 2, 1], [1.0, 1.8, 1.0, 1.35, 4.0, 1.8]
    plan = make_plan(sizes, factors, SLOW, ceiling=18_000, budget_minutes=60, eta=3)
    assert plan.total_minutes <= 60 * 0.9 and plan.rung_sizes == sizes
    assert plan.steps == rung_steps(plan.steps[-1], 3, 3) and plan.steps[0] >= 4
    assert plan.dev_passes == [1, 1, 4]
    # the longest that fits: one more step of the full run would not
    longer = sum(estimate(plan.steps[-1] + 9, sizes, factors, SLOW, 3, 4)[2])
    assert longer > 60 * 0.9


def test_the_configured_length_is_a_ceiling() -> None:
    plan = make_plan([3, 1], [1.0, 1.0, 1.0], Costs(5, 0.1, 1, 2), ceiling=60, budget_minutes=60, eta=3)
    assert plan.steps == [20, 60]


def test_no_plan_that_fits_is_one_line_with_the_budget_that_would() -> None:
    with pytest.raises(EmbtuneError) as caught:
        make_plan([6, 2, 1], [1.0] * 6, SLOW, ceiling=18_000, budget_minutes=10, eta=3)
    text = str(caught.value)
    assert text.startswith("tune: no plan fits tune.budget_minutes=10: 6 candidates at 4 steps each")
    needed = int(text.split("Fix: tune.budget_minutes=")[1].split(",")[0])
    assert make_plan([6, 2, 1], [1.0] * 6, SLOW, ceiling=18_000, budget_minutes=needed, eta=3).steps[0] == 4


def test_a_step_costs_by_texts_per_step_and_loss() -> None:
    recipe = {"batch_size": 16, "data_format": "triplets", "loss": "mnrl"}
    assert shape_factor(recipe, recipe) == 1.0
    assert shape_factor(recipe, {**recipe, "data_format": "pairs"}) == pytest.approx(2 / 3)
    # a batch of 64 sees the recipe's examples in a quarter of the steps: the cost per example is the loss's
    big = {**recipe, "batch_size": 64, "loss": "cached_gist"}
    assert shape_factor(recipe, big) == pytest.approx(1.6) and step_scale(recipe, big) == 0.25
    assert own_steps(40, step_scale(recipe, big)) == 10 and own_steps(4, 0.25) == 2


def test_a_rising_curve_grows_the_full_run_within_the_time_left() -> None:
    assert rising([(0, 0.39), (13, 0.395), (40, 0.40)]) and not rising([(0, 0.39), (13, 0.40), (40, 0.398)])
    spare = 3600 * 0.9 - 60 - 440 - 4 * 40  # the plan's 10 % reserve kept
    assert affordable_steps(3600, SLOW, 1.0, 4, ceiling=18_000, planned=100) == int(spare / 5.6)
    assert affordable_steps(3600, SLOW, 1.0, 4, ceiling=150, planned=100) == 150
    assert affordable_steps(60, SLOW, 1.0, 4, ceiling=18_000, planned=100) == 100  # never below the plan


def test_a_plan_round_trips_through_its_record() -> None:
    plan = make_plan([3, 1], [1.0, 1.0, 1.0], Costs(5, 0.1, 1, 2), ceiling=60, budget_minutes=60, eta=3)
    again = Plan.from_dict(plan.as_dict())
    assert again == plan and again.lines(["a", "b", "c"]) == plan.lines(["a", "b", "c"])


def _dense_dev(queries: int, judged: int, topics: int, docs: int) -> dict:
    """Dev judgements as keyword search makes them: each query's judged documents from one of a few topics."""
    import random

    rng = random.Random(0)
    pools = [rng.sample(range(docs), judged * 3) for _ in range(topics)]
    qrels = {f"q{i}": {f"d{d}" for d in rng.sample(pools[i % topics], judged)} for i in range(queries)}
    encoded = dev_docs(qrels, None, docs, 1000, 0)
    return {"qrels": qrels, "corpus": docs, "corpus_size": 1000, "seed": 0, "docs": encoded}


def test_dev_passes_over_dense_judgements_are_cut_to_a_fixed_query_sample_only_when_they_must() -> None:
    dev = _dense_dev(queries=260, judged=40, topics=40, docs=3600)
    assert dev["docs"] > 2000  # every judged document of every dev query is encoded each pass
    full_pass = Costs(fixed_s=60.0, step_s=5.6, dev_pass_s=dev["docs"] * 0.06, final_extra_s=440.0)
    with pytest.raises(EmbtuneError):
        make_plan([6, 2, 1], [1.0] * 6, full_pass, ceiling=18_000, budget_minutes=60, eta=3)
    plan, queries = plan_with_dev([6, 2, 1], [1.0] * 6, full_pass, 18_000, 60, 3, dev)
    assert queries is not None and 100 <= queries < 260 and plan.dev_queries == queries
    assert plan.total_minutes <= 54 and plan.costs["dev_pass_s"] < full_pass.dev_pass_s
    # a cheap dev pass keeps every dev query
    cheap = Costs(fixed_s=5.0, step_s=0.1, dev_pass_s=1.0, final_extra_s=2.0)
    assert plan_with_dev([6, 2, 1], [1.0] * 6, cheap, 600, 60, 3, dev)[1] is None
