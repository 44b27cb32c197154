"""python -m embtune.tune end to end on the tiny model: real candidate runs in subprocesses, the halving plan, the
ship rule, the chosen experiment YAML re-run through the real CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from conftest import TINY_CACHE, run_cli

from embtune.model import weights_sha256

TINY = ["model=tiny", "trainer=debug", f"paths.cache_dir={TINY_CACHE}", "trainer.args.max_steps=6", "regression=none"]


def test_tune_searches_on_dev_ships_by_the_lower_bound_and_its_yaml_reruns(tmp_path: Path) -> None:
    out, conf = tmp_path / "outputs", tmp_path / "conf"
    secrets = ("sk-TUNE-plain-1", "sk-TUNE-env-2")  # tune builds its own record and launches every run
    result = run_cli(
        "embtune.tune", *TINY, f"paths.output_dir={out}", f"tune.config_dir={conf}", "tune.num_candidates=2",
        f"+foo.api_key={secrets[0]}", env={"WANDB_API_KEY": secrets[1]},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (out / "tune" / "runs").iterdir()
    files = [p for root in (out, conf) for p in root.rglob("*") if p.is_file()]
    leaks = [str(p) for p in files for s in secrets if s.encode() in p.read_bytes()]
    assert leaks == [] and not any(s in result.stdout + result.stderr for s in secrets)
    assert "+foo.api_key=<redacted>" in json.loads((run_dir / "run_info.json").read_text())["overrides"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    t = metrics["tune"]
    assert t["candidates"] == 2 and t["runs"] == 3  # rungs 2 -> 1: two short runs, the winner in full
    # one console line per run, each with its dev figure and the time left
    lines = [x for x in result.stdout.splitlines() if x.startswith("tune ") and " min left" in x]
    assert len(lines) == 3 and all("dev " in x or "skipped" in x for x in lines)
    # the ship rule: the winner only when the lower end of its dev gain's range is above 0
    assert (t["shipped"] == "candidate") == (t["dev"]["low"] > 0)
    shipped = weights_sha256(run_dir / "model")
    final = run_dir / t["final_run"]
    base_sha = json.loads((final / "run_info.json").read_text())["model"]["weights_sha256"]
    assert (shipped == base_sha) == (t["shipped"] == "base")
    # test was read for the final run only: the shortened candidates never evaluated it
    rows = list(csv.DictReader((run_dir / "tune.csv").open()))
    assert [r["rung"] for r in rows] == ["0", "0", "1"]
    for row in rows[:2]:
        short = json.loads((run_dir / row["run"] / "metrics.json").read_text())
        assert "fine_tuned" not in short and "zero_shot" not in short and short["train"]["steps"] == 2
    assert "fine_tuned" in metrics and "zero_shot" in metrics and "bm25" in metrics
    assert (run_dir / "tune.md").is_file() and (run_dir / "tune.png").stat().st_size > 0
    assert json.loads((run_dir / "profile.json").read_text())["wall_s"] > 0
    base = json.loads((run_dir / "base_dev.json").read_text())["dev"]
    assert len(base) == t["dev"]["queries"] and abs(sum(base.values()) / len(base) - t["base_dev"]) < 1e-9
    # the chosen recipe: an experiment YAML that the train CLI re-runs to the same figures
    yaml_file = conf / "experiment" / f"{t['experiment']}.yaml"
    assert yaml_file.read_text() == (run_dir / yaml_file.name).read_text()
    assert "paths" not in yaml_file.read_text().split("\n", 5)[-1]  # where data lives is not part of a recipe
    again = tmp_path / "again"
    rerun = run_cli(
        "embtune.train",
        f"experiment={t['experiment']}",
        f"hydra.searchpath=[file://{conf}]",
        f"paths.cache_dir={TINY_CACHE}",
        f"paths.output_dir={again}",
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    (rerun_dir,) = (again / "train" / "runs").iterdir()
    first, second = (json.loads((d / "metrics.json").read_text()) for d in (final, rerun_dir))
    assert second["fine_tuned"] == first["fine_tuned"] and second["train"]["selected"] == first["train"]["selected"]


def test_a_bad_space_entry_stops_before_any_run(tmp_path: Path) -> None:
    result = run_cli(
        "embtune.tune",
        *TINY,
        f"paths.output_dir={tmp_path}",
        "tune.num_candidates=2",
        '++tune.space.loss.bad=["loss=nosuch"]',  # quoted: an = inside a list value
    )
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: tune.space.loss.bad does not compose") and "loss/nosuch" in line
    assert not list(tmp_path.glob("tune/runs/*/train"))
