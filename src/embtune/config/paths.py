"""Where embtune's own files are: the one place that knows the layout of the checkout and the package."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
ROOT = PACKAGE_DIR.parents[1]  # the checkout: src/embtune/ -> ./
CONF_DIR = ROOT / "conf"  # the Hydra config tree every entrypoint composes
BUILTIN_DATA_DIR = PACKAGE_DIR / "dataset" / "builtin_data"  # the embedded default data (package data)
