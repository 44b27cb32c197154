"""eval.py: re-evaluates a saved run and a base model, writing the training run's metrics.json shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_CACHE, run_cli


def _latest(out: Path, task: str) -> Path:
    dirs = sorted((out / task / "runs").iterdir())
    return dirs[-1]


def test_eval_of_a_run_reproduces_its_metrics(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    common = [f"paths.output_dir={out}", f"paths.cache_dir={TINY_CACHE}"]
    trained = run_cli("embtune.train", "model=tiny", "trainer=debug", *common)
    assert trained.returncode == 0, trained.stderr[-2000:]
    run = _latest(out, "train")
    result = run_cli("embtune.eval", f"model_path={run}", *common)
    assert result.returncode == 0, result.stderr[-2000:]
    # one naming rule: the eval dir names the evaluated run's model, dataset, loss and format, as its train dir does
    assert run.name.endswith("_tiny_default_mnrl_pairs") and _latest(out, "eval").name.endswith(
        "_tiny_default_mnrl_pairs"
    )
    evaluated = json.loads((_latest(out, "eval") / "metrics.json").read_text())
    original = json.loads((run / "metrics.json").read_text())
    for block in ("bm25", "zero_shot", "fine_tuned"):
        assert evaluated[block] == pytest.approx(original[block], abs=1e-6)
    for key in ("vs_zero_shot", "vs_bm25"):
        assert evaluated["delta"][key] == pytest.approx(original["delta"][key], abs=1e-6)
    # per_query.json beside it: the evaluated model's nDCG@10 per test query, averaging to its figure
    queries = json.loads((_latest(out, "eval") / "per_query.json").read_text())
    assert queries["metric"] == "ndcg@10" and len(queries["test"]) > 1
    assert sum(queries["test"].values()) / len(queries["test"]) == pytest.approx(evaluated["fine_tuned"]["ndcg@10"])


def test_eval_of_a_base_model_alone(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    result = run_cli("embtune.eval", "model=tiny", f"paths.output_dir={out}", f"paths.cache_dir={TINY_CACHE}")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((_latest(out, "eval") / "metrics.json").read_text())
    assert set(metrics) >= {"bm25", "zero_shot"} and "fine_tuned" not in metrics
    assert _latest(out, "eval").name.endswith("_tiny_default_zero_shot")


def test_eval_of_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli(
        "embtune.eval",
        "model=tiny",
        f"model_path={tmp_path}/nope",
        f"paths.output_dir={tmp_path}/o",
        f"paths.cache_dir={TINY_CACHE}",
    )
    assert result.returncode == 1 and "error: model" in result.stderr and "Traceback" not in result.stderr
