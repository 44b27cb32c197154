"""python -m embtune.tune end to end on the tiny model: real candidate runs in subprocesses, the halving plan, the
ship rule, the chosen experiment YAML re-run through the real CLI."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import CLI_ENV, ROOT, TINY_CACHE, run_cli

from embtune.model.loading import weights_sha256

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
    # the plan, printed before the first run: every length fits the budget, the full one is the recipe's (ceiling)
    plan = json.loads((run_dir / "plan.json").read_text())
    assert plan["steps"] == [2, 6] and plan["total_minutes"] <= 60 and t["full_steps"] == 6
    printed = result.stdout.splitlines()
    assert printed.index(next(x for x in printed if x.startswith("tune plan:"))) < printed.index(lines[0])
    assert "## dev curves" in (run_dir / "tune.md").read_text()
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


def test_a_stopped_tune_continues_with_the_same_command_and_makes_the_same_choice(tmp_path: Path) -> None:
    """Ctrl-C once the first candidate finished, then the very same command: it continues in the same dir, keeps
    its plan, reuses the finished runs and chooses as the uninterrupted tune above does (the same arguments)."""
    out, conf = tmp_path / "outputs", tmp_path / "conf"
    args = [*TINY, f"paths.output_dir={out}", f"tune.config_dir={conf}", "tune.num_candidates=2"]
    env = {**os.environ, **CLI_ENV, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "embtune.tune", *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and not list(out.glob("tune/runs/*/train/runs/r0_c00_*/metrics.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    (tune_dir,) = (out / "tune" / "runs").iterdir()
    assert "run the same command again" in (tune_dir / "FAILED").read_text() and "Traceback" not in stderr
    plan = (tune_dir / "plan.json").read_bytes()

    again = run_cli("embtune.tune", *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert [d.name for d in (out / "tune" / "runs").iterdir()] == [tune_dir.name]  # continued in place
    assert f"tune: continuing {tune_dir}" in again.stdout and (tune_dir / "plan.json").read_bytes() == plan
    t = json.loads((tune_dir / "metrics.json").read_text())["tune"]
    assert "r0_c00" in t["reused_runs"] and not (tune_dir / "FAILED").exists()
    assert sum(" · reused · " in line for line in again.stdout.splitlines()) == len(t["reused_runs"])
    rows = list(csv.DictReader((tune_dir / "tune.csv").open()))
    assert rows[0]["reused"] == "True" and [r["rung"] for r in rows] == ["0", "0", "1"]
    # the same choice as an uninterrupted tune: the ranking is made on the same runs and the same base
    ranked = sorted(rows[:2], key=lambda r: float(r["dev"]), reverse=True)
    assert t["winner"] == ranked[0]["candidate"] and t["full_steps"] == json.loads(plan)["steps"][-1]


def test_too_small_a_budget_is_refused_with_the_budget_that_would_fit(tmp_path: Path) -> None:
    result = run_cli(
        "embtune.tune", *TINY, "trainer.args.max_steps=400", "tune.num_candidates=3", "tune.budget_minutes=0.1",
        f"paths.output_dir={tmp_path}",
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: tune: no plan fits tune.budget_minutes=0.1: 3 candidates at 4 steps each")
    assert "Fix: tune.budget_minutes=" in line
    (tune_dir,) = (tmp_path / "tune" / "runs").iterdir()
    assert [d.name.split("_")[0] for d in (tune_dir / "train" / "runs").iterdir()] == ["calibration"]
