"""sweep_summary.aggregate_seeds: jobs that differ only in seed are grouped, with mean and sample std."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from embtune.search.sweep_summary import aggregate_seeds


def _row(overrides: str, fine_tuned: float | None, zero_shot: float | None = 0.5, status: str = "ok") -> dict[str, Any]:
    # as _job_row builds them: seed= overrides are already left out of "overrides"
    return {"status": status, "overrides": overrides, "fine_tuned": fine_tuned, "zero_shot": zero_shot}


def test_seeds_of_each_setting_are_grouped_with_mean_and_std() -> None:
    rows = [
        _row("dataset=toy model=a", 0.60, zero_shot=0.40),
        _row("dataset=toy model=b", 0.70, zero_shot=0.45),
        _row("dataset=toy model=a", 0.64, zero_shot=0.40),
        _row("dataset=toy model=b", 0.80, zero_shot=0.45),
        _row("dataset=toy model=a", 0.62, zero_shot=0.40),
    ]
    out = aggregate_seeds(rows)
    assert [(s["setting"], s["runs"], s["zero_shot"]) for s in out] == [("model=a", 3, 0.40), ("model=b", 2, 0.45)]
    assert out[0]["mean"] == pytest.approx(0.62)
    assert out[0]["std"] == pytest.approx(statistics.stdev([0.60, 0.64, 0.62]))  # sample std (n - 1)
    assert out[0]["std"] == pytest.approx(0.02)
    assert out[1]["mean"] == pytest.approx(0.75)
    assert out[1]["std"] == pytest.approx(0.0707107, rel=1e-5)


def test_a_setting_with_one_seed_has_zero_std() -> None:
    out = aggregate_seeds([_row("model=a", 0.6), _row("model=b", 0.7), _row("model=b", 0.9)])
    assert out[0] == {"setting": "model=a", "runs": 1, "mean": pytest.approx(0.6), "std": 0.0, "zero_shot": 0.5}
    assert out[1]["runs"] == 2 and out[1]["mean"] == pytest.approx(0.8)


def test_a_setting_only_seeds_vary_is_named_by_the_overrides_its_jobs_share() -> None:
    # sweep-seeds with overrides: the row says which setting it is, not "(defaults)"
    out = aggregate_seeds(
        [_row("model=a trainer.args.learning_rate=1e-05", 0.5), _row("model=a trainer.args.learning_rate=1e-05", 0.7)]
    )
    assert len(out) == 1
    assert out[0]["setting"] == "model=a learning_rate=1e-05" and out[0]["runs"] == 2
    assert out[0]["mean"] == pytest.approx(0.6)
    single = aggregate_seeds([_row("", 0.3)])  # no overrides at all: the defaults
    assert [(s["setting"], s["runs"], s["std"]) for s in single] == [("(defaults)", 1, 0.0)]


def test_failed_running_and_metricless_jobs_are_left_out() -> None:
    rows = [
        _row("model=a", 0.6),
        _row("model=a", None),  # ok, but no fine-tuned figure
        _row("model=a", 0.9, status="FAILED"),
        _row("model=b", None, status="running"),
        _row("model=c", None),  # every run of the setting lacks a figure: no line for it
        _row("model=a", 0.8),
    ]
    out = aggregate_seeds(rows)
    assert [(s["setting"], s["runs"]) for s in out] == [("model=a", 2)]
    assert out[0]["mean"] == pytest.approx(0.7)


def test_no_finished_jobs_give_no_groups() -> None:
    assert aggregate_seeds([]) == []
    assert aggregate_seeds([_row("model=a", None, status="FAILED"), _row("model=b", None, status="running")]) == []


def test_settings_differing_in_several_overrides() -> None:
    rows = [
        _row("model=a loss=mnrl lr=1", 0.1),
        _row("model=a loss=cached lr=1", 0.2),
        _row("model=b loss=mnrl lr=1", 0.3),
        _row("model=a loss=mnrl lr=1", 0.3),
    ]
    out = {s["setting"]: (s["runs"], s["mean"]) for s in aggregate_seeds(rows)}
    assert out == {
        "model=a loss=mnrl": (2, pytest.approx(0.2)),
        "model=a loss=cached": (1, pytest.approx(0.2)),
        "model=b loss=mnrl": (1, pytest.approx(0.3)),
    }


def test_the_inputs_are_not_modified() -> None:
    rows = [_row("model=a", 0.6), _row("model=a", 0.8)]
    snapshot = [dict(r) for r in rows]
    aggregate_seeds(rows)
    assert rows == snapshot


def test_a_jobs_regression_deltas_reach_the_summary_as_their_mean(tmp_path) -> None:  # noqa: ANN001
    import csv
    import json

    from omegaconf import OmegaConf

    from embtune.search.sweep_summary import write_summary

    job = tmp_path / "0_job"
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(
        {
            "hydra": {
                "runtime": {"choices": {"model": "tiny", "loss": "mnrl", "data_format": "pairs"}},
                "overrides": {"task": ["model=tiny"]},
            }
        },
        job / ".hydra" / "hydra.yaml",
    )
    OmegaConf.save({"seed": 1}, job / ".hydra" / "config.yaml")
    regression = {
        "a": {"metric": "spearman", "zero_shot": 0.8, "fine_tuned": 0.7, "delta": -0.1},
        "b": {"metric": "spearman", "zero_shot": 0.5, "fine_tuned": 0.55, "delta": 0.05},
    }
    metrics = {
        "main_metric": "ndcg@10",
        "zero_shot": {"ndcg@10": 0.4},
        "fine_tuned": {"ndcg@10": 0.5},
        "regression": regression,
        "train": {"seconds": 1.0},
    }
    (job / "metrics.json").write_text(json.dumps(metrics))
    write_summary(tmp_path)
    (row,) = csv.DictReader((tmp_path / "summary.csv").open())
    assert float(row["regression_delta"]) == pytest.approx(-0.025)
    assert "regression_delta" in (tmp_path / "summary.md").read_text()


def _job(root, name: str, dev: float, per_query: dict[str, float] | None) -> None:  # noqa: ANN001
    import json

    from omegaconf import OmegaConf

    job = root / name
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(
        {"hydra": {"runtime": {"choices": {"model": "tiny"}}, "overrides": {"task": [f"seed={name[0]}"]}}},
        job / ".hydra" / "hydra.yaml",
    )
    OmegaConf.save({"seed": 1}, job / ".hydra" / "config.yaml")
    seconds = {"0": 300.0, "1": 100.0, "2": 200.0}.get(name[0], 50.0)  # the behind job cheapest, then the noisy one
    train = {"selected_dev_metric": dev, "seconds": seconds}
    metrics = {"main_metric": "ndcg@10", "fine_tuned": {"ndcg@10": dev}, "train": train}
    (job / "metrics.json").write_text(json.dumps(metrics))
    if per_query is not None:
        (job / "per_query.json").write_text(json.dumps({"metric": "ndcg@10", "dev": per_query}))


def test_dev_vs_best_separates_a_consistent_gap_and_calls_a_noisy_one_a_tie(tmp_path) -> None:  # noqa: ANN001
    import random

    from embtune.search.sweep_summary import collect_rows

    rng = random.Random(0)
    best = {f"q{i}": rng.random() for i in range(200)}
    behind = {q: v - 0.05 for q, v in best.items()}  # 0.05 lower on every query
    noisy = {q: v - 0.01 + rng.uniform(-0.3, 0.3) for q, v in best.items()}  # lower on average, all over the place
    for name, queries in (("0_best", best), ("1_behind", behind), ("2_noisy", noisy)):
        _job(tmp_path, name, sum(queries.values()) / len(queries), queries)
    _job(tmp_path, "3_old", 0.1, None)  # a run from before per_query.json: no comparison, no crash
    rows = {r["job"]: r for r in collect_rows(tmp_path, 2.5)}
    assert rows["0_best"]["best"] == "*" and rows["0_best"]["dev_vs_best"] == "best"
    assert rows["1_behind"]["dev_vs_best"] == "-0.0500 [-0.0500..-0.0500]" and not rows["1_behind"]["dev_tied"]
    assert rows["2_noisy"]["dev_tied"] and rows["2_noisy"]["dev_queries"] == 200
    assert "dev_vs_best" not in rows["3_old"]
    # the pick: of the best and the jobs dev cannot separate from it, the cheapest to train
    assert [name for name, r in rows.items() if r.get("pick")] == ["2_noisy"]


def test_short_names_keep_the_key_tail_and_a_long_paths_last_parts() -> None:
    from embtune.search.sweep_summary import short

    assert short("trainer.args.learning_rate=3e-05") == "learning_rate=3e-05"
    assert (
        short("mining.model_path='/work/x/outputs/issue18/dev15/1_minilm_run/model'")
        == "model_path=…/1_minilm_run/model"
    )
    assert short("dataset.source.files.train=data/a.csv") == "train=data/a.csv"  # short paths stay whole
