"""The house rules a newcomer relies on: every config target imports, every module is in the architecture map,
the lock agrees with pyproject, the manual stays a manual, no machine's paths in what is shipped."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import tomllib
from hydra._internal.utils import _locate
from packaging.requirements import Requirement
from packaging.version import Version

from embtune.config.paths import CONF_DIR, PACKAGE_DIR, ROOT

TARGET = re.compile(r"^\s*(?:_target_|\(\)):\s*([\w.]+)\s*$", re.M)


def _targets() -> list[tuple[str, str]]:
    return [
        (str(path.relative_to(CONF_DIR)), m.group(1))
        for path in sorted(CONF_DIR.rglob("*.yaml"))
        for m in TARGET.finditer(path.read_text(encoding="utf-8"))
    ]


def test_every_target_in_conf_resolves() -> None:
    found = _targets()
    assert len(found) > 30  # the scan sees the config groups' targets, really
    broken = []
    for where, target in found:
        try:
            _locate(target)
        except Exception as e:  # noqa: BLE001 - each unresolved target is named with its file
            broken.append(f"{where}: {target} ({type(e).__name__})")
    assert not broken, broken


def _modules() -> list[str]:
    return sorted(str(p.relative_to(PACKAGE_DIR)) for p in PACKAGE_DIR.rglob("*.py") if p.name != "__init__.py")


def test_the_architecture_doc_names_every_module_and_says_why_a_long_one_is_long() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    modules = doc.split("## Modules", 1)[1].split("\n## ", 1)[0]
    # one table per package, headed by `<package>/`:, each module a row `name.py`
    sections = dict(re.findall(r"^`(\w+)/`:(.*?)(?=^`\w+/`:|\Z)", modules, re.M | re.S))
    top = modules.split("\n`", 1)[0]
    missing = [
        m for m in _modules() if f"`{Path(m).name}`" not in (sections.get(m.split("/")[0], "") if "/" in m else top)
    ]
    assert not missing, f"modules missing from docs/architecture.md: {missing}"
    long_section = doc.split("## Long modules", 1)[1] if "## Long modules" in doc else ""
    for module in _modules():
        lines = len((PACKAGE_DIR / module).read_text(encoding="utf-8").splitlines())
        if lines > 300:
            assert module in long_section, f"{module} has {lines} lines and no reason under '## Long modules'"


def test_top_level_holds_only_the_entrypoints_and_the_error_type() -> None:
    top = sorted(p.stem for p in PACKAGE_DIR.glob("*.py") if p.name != "__init__.py")
    assert top == ["adapt", "advise", "errors", "eval", "prepare", "rerun", "train", "tune"]
    for verb in ("adapt", "advise", "eval", "prepare", "rerun", "train", "tune"):
        assert len((PACKAGE_DIR / f"{verb}.py").read_text().splitlines()) <= 160, verb


def _locked() -> dict[str, Version]:
    lines = (ROOT / "requirements" / "lock.txt").read_text().splitlines()
    pairs = (line.split("==") for line in lines if line and not line.startswith("#"))
    return {re.sub(r"[-_.]+", "-", name).lower(): Version(version) for name, version in pairs}


def test_the_lock_satisfies_every_range_pyproject_and_the_extras_give() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    for extra in ("dev", "hparams", "tensorboard", "scale"):
        text = (ROOT / "requirements" / f"{extra}.txt").read_text()
        requirements += [Requirement(x) for x in text.splitlines() if x.strip() and not x.startswith("#")]
    locked, problems = _locked(), []
    for req in requirements:
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name == "torch":  # installed by its own step (Makefile TORCH_VERSION): the lock leaves it out
            assert Version(re.search(r"TORCH_VERSION \?= (\S+)", (ROOT / "Makefile").read_text())[1]) in req.specifier
            continue
        if name not in locked:
            problems.append(f"{req}: not in the lock")
        elif locked[name] not in req.specifier:
            problems.append(f"{req}: locked {locked[name]}")
    assert not problems, problems


def test_make_install_uses_the_lock() -> None:
    assert "-c requirements/lock.txt" in (ROOT / "Makefile").read_text()


def test_the_readme_is_a_manual() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= 220
    assert not [i + 1 for i, line in enumerate(lines) if len(line) > 120]
    assert "CHANGELOG.md" in text and "benchmarks/README.md" in text
    markers = re.compile(r"\b(new in|this release|last release|a release earlier|since the last)\b", re.I)
    assert not [line for line in lines if markers.search(line)]
    for doc in ("CHANGELOG.md", "benchmarks/README.md"):
        assert (ROOT / doc).is_file()


@pytest.mark.parametrize("where", ["conf", "docs", "README.md", "CHANGELOG.md", "benchmarks/README.md"])
def test_no_machine_paths_in_what_is_shipped(where: str) -> None:
    tracked = subprocess.run(["git", "ls-files", where], cwd=ROOT, capture_output=True, text=True).stdout.split()
    machine = re.compile(r"(?<![\w.])/(?:work|home|tmp|Users|root|mnt)/")
    hits = [f for f in tracked if (ROOT / f).is_file() and machine.search((ROOT / f).read_text(errors="replace"))]
    assert not hits, hits
