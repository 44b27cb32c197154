"""The console of a run: embtune's own lines, warnings and the final table; the libraries' INFO lines and the
trainer's log dicts only in the run dir's log file, unless verbose=true."""

from __future__ import annotations

from pathlib import Path

from conftest import TINY_CACHE, only_run_dir, run_cli

TINY = ["model=tiny", "trainer=debug", f"paths.cache_dir={TINY_CACHE}", "regression=none", "evaluate_bm25=false"]


def _library_lines(text: str) -> list[str]:
    return [x for x in text.splitlines() if "][sentence_transformers" in x or x.startswith("{'")]


def test_a_run_prints_one_line_per_stage_and_keeps_library_detail_in_its_log(tmp_path: Path) -> None:
    result = run_cli("embtune.train", *TINY, f"paths.output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [x for x in result.stdout.splitlines() if x.strip()]
    assert not _library_lines(result.stdout) and not _library_lines(result.stderr)
    assert len(lines) <= 18, lines  # data, baselines, selection, the table, the run dir
    assert lines[-1].endswith(f"run dir: {only_run_dir(tmp_path)}")
    assert any("fine_tuned" in x for x in lines) and any("quality filter" in x for x in lines)
    log = (only_run_dir(tmp_path) / "train.log").read_text()
    assert "][sentence_transformers" in log and "[trainer.logs][INFO] - {'loss'" in log


def test_verbose_shows_the_library_lines_on_the_console(tmp_path: Path) -> None:
    result = run_cli("embtune.train", *TINY, "verbose=true", f"paths.output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert any("][sentence_transformers" in x for x in result.stdout.splitlines())
    assert any(x.startswith("{'loss'") for x in result.stdout.splitlines() + result.stderr.splitlines())


def test_any_trainer_argument_is_overridable_as_typed_and_a_typo_is_one_line(tmp_path: Path) -> None:
    import json

    out = f"paths.output_dir={tmp_path}"
    result = run_cli("embtune.train", *TINY, "trainer.args.gradient_accumulation_steps=2", out)
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((only_run_dir(tmp_path) / "config.json").read_text())
    assert config["trainer"]["args"]["gradient_accumulation_steps"] == 2
    typo = run_cli("embtune.train", *TINY, "trainer.args.gradient_acumulation_steps=2", out)
    assert typo.returncode == 1
    (line,) = typo.stderr.strip().splitlines()
    assert line.startswith("error: trainer.args.gradient_acumulation_steps is not a SentenceTransformerTrainingArg")
    assert line.endswith("Fix: trainer.args.gradient_accumulation_steps=...")
