"""An output dir that can't be created and a run_name that would leave the output tree stop the command before
Hydra creates anything: one `error:` line, exit code 1, no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import TINY_CACHE, run_cli

from embtune.run.hydra_hooks import cannot_create_dir, run_name_problem

TINY = ["model=tiny", "trainer=debug", f"paths.cache_dir={TINY_CACHE}"]


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("error: ")] == lines[-1:], lines[-5:]
    return lines[-1]


def test_an_output_dir_under_a_regular_file_fails_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, so no dir can be made below it (also as root)\n")
    line = _one_error_line(run_cli("embtune.train", *TINY, f"paths.output_dir={blocker}/outputs"))
    assert line.startswith(f"error: cannot create the run dir {blocker}/outputs/train/runs/")
    assert f"{blocker} is not a directory" in line and "Fix: set paths.output_dir to a writable folder" in line


def test_a_run_name_that_escapes_the_output_tree_creates_nothing(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    # runs/<time>_../../../../../escape would resolve to sandbox/escape
    line = _one_error_line(
        run_cli("embtune.train", *TINY, f"paths.output_dir={sandbox}/outputs", "run_name=../../../../../escape")
    )
    assert line.startswith("error: run_name=../../../../../escape contains '..'") and "Fix: " in line
    assert list(sandbox.iterdir()) == []


@pytest.mark.parametrize("name", ["../escape", "a/b", "a\\b", ".hidden", "-x", "a\0b", "x..y"])
def test_run_names_that_are_refused(name: str) -> None:
    assert run_name_problem(name)


@pytest.mark.parametrize("name", ["tiny_mnrl_pairs", "my run", "e5.base_cosent", "seed-1"])
def test_run_names_that_are_fine(name: str) -> None:
    assert run_name_problem(name) is None


def test_cannot_create_dir_checks_the_nearest_existing_parent(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert cannot_create_dir(tmp_path / "new" / "deeper") is None
    assert not (tmp_path / "new").exists()  # the check leaves nothing behind
    assert cannot_create_dir(tmp_path / "file" / "x") == f"{tmp_path / 'file'} is not a directory"
    if Path("/proc/self").is_dir():  # root passes os.access there; creating a folder still fails
        assert "cannot create a folder in /proc" in (cannot_create_dir(Path("/proc/nope/runs")) or "")


def test_a_run_dir_holding_a_finished_run_is_never_written_over(tmp_path: Path) -> None:
    finished = tmp_path / "outputs" / "train" / "runs" / "2026-01-01_00-00-00-0_tiny_default_mnrl_pairs"
    finished.mkdir(parents=True)
    (finished / "metrics.json").write_text('{"kept": true}')
    for how in ([f"hydra.run.dir={finished}"], []):
        result = run_cli(
            "embtune.train",
            *TINY,
            f"paths.output_dir={tmp_path}/outputs",
            *how,
            env={"EMBTUNE_RUN_STAMP": "2026-01-01_00-00-00-0"} if not how else None,
        )
        assert result.returncode == 1
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith(f"error: the run dir {finished} holds a finished run (metrics.json)") and "Fix:" in line
    assert (finished / "metrics.json").read_text() == '{"kept": true}' and sorted(
        p.name for p in finished.iterdir()
    ) == ["metrics.json"]
