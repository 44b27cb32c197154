"""Defaults live in one place: where a config YAML and the function or class it targets both give a default for the
same setting, they agree (so a direct call and a configured run behave alike)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from hydra.utils import get_object
from omegaconf import OmegaConf

from embtune.config.paths import CONF_DIR

CONF = CONF_DIR


def _targets() -> list[tuple[str, str, dict]]:
    """(yaml path, target, literal settings) for every embtune ``_target_`` node in conf/."""
    found = []
    for path in sorted(CONF.rglob("*.yaml")):
        cfg = OmegaConf.load(path)

        def walk(node: object, where: str, path: Path = path) -> None:
            if OmegaConf.is_dict(node):
                target = node.get("_target_")
                plain = [
                    k for k in node if not OmegaConf.is_interpolation(node, k) and not OmegaConf.is_missing(node, k)
                ]
                if isinstance(target, str) and target.startswith("embtune."):
                    raw = OmegaConf.to_container(node)
                    literal = {k: raw[k] for k in plain if not str(k).startswith("_")}
                    found.append((f"{path.relative_to(CONF)}:{where}", target, literal))
                for k in plain:
                    walk(node[k], f"{where}.{k}" if where else str(k), path)

        walk(cfg, "")
    return found


def _deltas() -> set[str]:
    """Options that are deltas on their group's default option (e.g. quality/none: the same filter, turned off):
    several options of one group building the same object, other than the option conf/train.yaml picks."""
    chosen = {
        f"{group}/{option}.yaml"
        for entry in OmegaConf.load(CONF / "train.yaml").defaults
        if OmegaConf.is_dict(entry)
        for group, option in entry.items()
    }
    by_target: dict[tuple[str, str], list[str]] = {}
    for where, target, _ in _targets():
        file = where.split(":")[0]
        by_target.setdefault((file.split("/")[0], target), []).append(file)
    return {f for files in by_target.values() if len(files) > 1 for f in files if f not in chosen}


DELTAS = _deltas()
TARGETS = [t for t in _targets() if t[0].split(":")[0] not in DELTAS]


def test_every_embtune_target_in_conf_exists() -> None:
    assert len(TARGETS) >= 20
    for where, target, _ in TARGETS:
        assert callable(get_object(target)), where


@pytest.mark.parametrize("where, target, settings", TARGETS, ids=[t[0] for t in TARGETS])
def test_yaml_defaults_equal_the_code_defaults(where: str, target: str, settings: dict) -> None:
    obj = get_object(target)
    params = inspect.signature(obj).parameters
    for key, value in settings.items():
        if key in params and params[key].default is not inspect.Parameter.empty and not isinstance(value, dict):
            code = params[key].default
            assert (list(code) if isinstance(code, tuple) else code) == value, (
                f"{where}.{key}: YAML {value!r}, code {code!r}"
            )
