"""OmegaConf resolvers the configs use (registered when ``embtune`` is imported)."""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import OmegaConf

from embtune.config.paths import BUILTIN_DATA_DIR


def package_data(relative: str) -> str:
    """Absolute path of a file shipped in ``embtune/dataset/builtin_data`` (e.g. ``default/train.jsonl``)."""
    return str(BUILTIN_DATA_DIR / relative)


def slug(text: str) -> str:
    """A name part safe in a directory name: runs of anything but letters, digits, ``_``, ``.``, ``-`` become
    ``-``."""
    return re.sub(r"[^\w.\-]+", "-", str(text), flags=re.ASCII).strip("-.") or "unnamed"


def run_label(model: str, dataset: str, *choices: str) -> str:
    """The one run-name rule of train, eval, advise and DDP: evaluated model, dataset, then the training choices
    (loss, data format), joined by ``_``."""
    return "_".join(slug(p) for p in (model, dataset, *choices) if p not in (None, ""))


def eval_label(model_path: str | None, use_run_dataset: bool, dataset: str, model: str) -> str:
    """The eval run's name by the same rule: a run dir names itself as its training did (its model, its dataset
    unless ``use_run_dataset`` is off, its loss and format); another model dir by its folder; no model_path: the
    base model, ``zero_shot``."""
    if not model_path:
        return run_label(model, dataset, "zero_shot")
    path = Path(str(model_path)).expanduser()
    try:
        choices = OmegaConf.load(path / ".hydra" / "hydra.yaml").hydra.runtime.choices
        recorded = OmegaConf.load(path / ".hydra" / "config.yaml")
        run_dataset = OmegaConf.select(recorded, "dataset.name", default=None)
    except Exception:  # noqa: BLE001 - not a run dir (or an unreadable record): the folder names the model
        name = path.parent.name if path.name == "model" else path.name
        return run_label(name, dataset)
    return run_label(
        choices.get("model", "model"),
        run_dataset if use_run_dataset and run_dataset else dataset,
        choices.get("loss", ""),
        choices.get("data_format", ""),
    )


def register_resolvers() -> None:
    """Register ``${embtune.package_data:...}``, ``${embtune.run_label:...}``, ``${embtune.eval_label:...}``; safe to
    call twice."""
    for name, fn in (
        ("embtune.package_data", package_data),
        ("embtune.run_label", run_label),
        ("embtune.eval_label", eval_label),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
