"""The Makefile's contract: every target that runs Python installs on first use, and only then."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make not installed")

PY_TARGETS = ["train", "test", "eval", "train-scifact", "sweep-models", "bench-mining", "rerun", "resume", "lint"]


def _make(*args: str, venv: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", *args, f"VENV={venv}", "RUN=outputs/x"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("target", PY_TARGETS)
def test_fresh_clone_installs_first(tmp_path: Path, target: str) -> None:
    venv = tmp_path / "venv"  # no environment yet: as on a fresh clone
    dry = _make("-n", target, venv=venv)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    install = next(i for i, line in enumerate(lines) if "pip install -e" in line)
    stamp = next(i for i, line in enumerate(lines) if line.startswith("touch") and ".installed" in line)
    assert install < stamp, lines


def test_installed_environment_skips_the_install(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed").touch()  # newer than pyproject.toml and requirements/
    dry = _make("-n", "test", venv=venv)
    assert dry.returncode == 0, dry.stderr
    assert "pip install" not in dry.stdout and "pytest" in dry.stdout


def test_changed_requirements_reinstall(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    stamp = venv / ".installed"
    stamp.touch()
    old = (ROOT / "pyproject.toml").stat().st_mtime - 3600
    os.utime(stamp, (old, old))  # pyproject.toml changed after the install
    assert "pip install -e" in _make("-n", "test", venv=venv).stdout


def test_failed_install_stops_and_leaves_no_stamp(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake = venv / "bin" / "python"  # an environment whose pip fails, as on a network error
    fake.write_text('#!/bin/sh\necho "ERROR: pip failed here" >&2\nexit 1\n')
    fake.chmod(0o755)
    result = _make("test", venv=venv)
    assert result.returncode != 0
    assert "ERROR: pip failed here" in result.stderr
    assert not (venv / ".installed").exists()
    assert "-m pytest" not in result.stdout  # the suite never started


def test_paths_reach_recipes_as_data_not_shell(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed").touch()
    marker = tmp_path / "pwned"
    hostile = f"runs/a b; touch {marker} $(touch {marker})"
    result = subprocess.run(
        ["make", "eval", f"VENV={venv}", f"RUN={hostile}"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0  # the fake venv has no python: the recipe fails, but nothing was executed
    assert not marker.exists()


def test_help_lists_the_two_setup_commands() -> None:
    result = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "train" in result.stdout and "test" in result.stdout and "install" in result.stdout


@pytest.mark.parametrize("path", ["a b", "it's", "C:\\x\\y", "end\\", "q\\'x", "$HOME ${oc.env:X}", "a;b $(id)", "ünï"])
def test_run_dirs_reach_hydra_unchanged(path: str) -> None:

    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    from embtune.rerun import hydra_quote

    value = OverridesParser.create().parse_override(f"k={hydra_quote(path)}").value()
    assert OmegaConf.create({"k": value}).k == path  # resolved as the config sees it
