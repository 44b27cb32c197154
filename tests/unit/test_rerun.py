"""scripts/rerun.py hydra_quote: any string becomes a Hydra override value that parses back to exactly itself."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

RERUN = Path(__file__).resolve().parents[2] / "scripts" / "rerun.py"


def _load_rerun() -> ModuleType:
    # a private module name: other tests import the script as `rerun` through sys.path
    spec = importlib.util.spec_from_file_location("_embtune_rerun_script_under_test", RERUN)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hydra_quote = _load_rerun().hydra_quote
PARSER = OverridesParser.create()


def _through_hydra(value: str) -> str:
    """What a config sees for `k=<hydra_quote(value)>` (parsed as an override, then resolved)."""
    parsed = PARSER.parse_override(f"k={hydra_quote(value)}").value()
    return OmegaConf.create({"k": parsed}).k


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("abc", "'abc'"),
        ("", "''"),
        ("a b;c", "'a b;c'"),
        ("it's", r"'it\'s'"),
        ("'", r"'\''"),
        ("end\\", r"'end\\'"),  # a trailing backslash is doubled, or it would escape the closing quote
        ("\\", r"'\\'"),
        ("a\\'b", r"'a\\\'b'"),  # backslashes before a quote doubled, then the quote escaped
        ("x\\y", r"'x\y'"),  # elsewhere a backslash is literal
        ("${x}", r"'\${x}'"),  # no interpolation
        ("a${", r"'a\${'"),
        ("$HOME", "'$HOME'"),
        ('say "hi"', "'say \"hi\"'"),
    ],
)
def test_quoting(value: str, quoted: str) -> None:
    assert hydra_quote(value) == quoted


@pytest.mark.parametrize(
    "value",
    [
        "outputs/train/runs/2024-01-01_12-00-00",
        "a b",
        "it's",
        "'",
        "''",
        "end\\",
        "end\\\\",
        "q\\'x",
        "C:\\runs\\x",
        "${oc.env:HOME}",
        "$HOME ${x} ${",
        "a,b=[c]{d}",
        "a;b $(id) `id`",
        'dq " inside',
        "ünïcode 客户",
        "",
    ],
)
def test_values_reach_the_config_unchanged(value: str) -> None:
    assert _through_hydra(value) == value


@pytest.mark.parametrize("value", ["a\\${b}", "C:\\dir\\${x}"])
def test_a_backslash_before_an_interpolation_survives(value: str) -> None:
    assert _through_hydra(value) == value
