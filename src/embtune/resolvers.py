"""OmegaConf resolvers the configs use (registered when ``embtune`` is imported)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

PACKAGE_DATA_DIR = Path(__file__).resolve().parent / "builtin_data"


def package_data(relative: str) -> str:
    """Absolute path of a file shipped in ``embtune/builtin_data`` (e.g. ``default/train.jsonl``)."""
    return str(PACKAGE_DATA_DIR / relative)


def register_resolvers() -> None:
    """Register ``${embtune.package_data:...}``; safe to call twice."""
    if not OmegaConf.has_resolver("embtune.package_data"):
        OmegaConf.register_new_resolver("embtune.package_data", package_data)
