"""Configs recorded by embtune before its config groups built objects (``_target_``): read in today's shape.

A run dir keeps the config it trained with (``config.json``, ``.hydra/config.yaml``); resuming compares it with
the current one, ``make eval RUN=...`` adopts its model, dataset, evaluator and mining. Runs recorded before the
``dataset/`` package and the target-built groups (evaluator, data_format, quality, logger) name old module paths
and old shapes; ``upgrade`` maps them, so those runs still resume and evaluate.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from embtune.config.paths import BUILTIN_DATA_DIR, CONF_DIR

# module prefixes of recorded ``_target_``s -> where they live today: the dataset package (v1), then the
# redesign into packages that mirror the pipeline (config/, dataset/, model/, training/, evaluation/, search/,
# report/, run/)
MOVED_TARGETS = {
    "embtune.data.": "embtune.dataset.sources.",
    **{
        f"embtune.{old}.": f"embtune.{new}."
        for old, new in {
            "resolvers": "config.resolvers",
            "needs": "config.needs",
            "trainer_args": "config.trainer_args",
            "data_format": "dataset.formats",
            "quality": "dataset.quality",
            "mining": "dataset.mining",
            "bm25": "dataset.bm25",
            "batching": "dataset.samplers",
            "adapter": "model.adapters",
            "tiny_model": "model.tiny",
            "trainer": "training.trainer",
            "loss": "training.losses",
            "selection": "training.selection",
            "merge": "training.merge",
            "dataset_mix": "training.mixes",
            "evaluator": "evaluation.evaluators",
            "regression": "evaluation.regression",
            "per_query": "evaluation.per_query",
            "metrics_table": "evaluation.tables",
            "cache": "evaluation.cache",
            "plan": "search.plan",
            "sweep_summary": "search.sweep_summary",
            "card": "report.card",
            "curves": "report.curves",
            "redact": "run.redact",
            "logger": "run.tracking",
        }.items()
    },
}
# the embedded default data's place before it moved into dataset/ (resolved paths in config.json)
MOVED_DATA = "/embtune/builtin_data/"
# today's packages: a target under one of them is current and never remapped (no record named the old modules
# ``embtune.model`` / ``embtune.search``, whose names the packages took, in a ``_target_``)
CURRENT_PACKAGES = tuple(
    f"embtune.{p}."
    for p in ("config", "dataset", "model", "training", "evaluation", "search", "report", "run", "advice")
)
# config groups an older record cannot hold (taken from the config resumed with: the run had no such choice)
ADDED_GROUPS = ("regression", "merge", "dataset_mix", "teacher", "generator")
OFF_BY_DEFAULT = ("teacher", "generator")  # added groups whose "none" is what an older run did
OPTION_GROUPS = ("mining", "loss", "data_format")  # groups whose options name themselves (``name``)
EVALUATOR_KINDS = {
    ("ir",): "ir",
    ("ir", "triplet"): "ir_triplet",
    ("triplet",): "triplet",
    ("sts",): "sts",
    ("binary",): "binary",
}


def _group(group: str, option: str) -> dict[str, Any]:
    """Today's config of one group option, unresolved interpolations kept as text."""
    cfg = OmegaConf.load(CONF_DIR / group / f"{option}.yaml")
    if "defaults" in cfg:  # evaluator/ir_triplet: its base first
        base = [d for d in cfg.pop("defaults") if d != "_self_"]
        cfg = OmegaConf.merge(*[OmegaConf.load(CONF_DIR / group / f"{b}.yaml") for b in base], cfg)
    return OmegaConf.to_container(cfg)  # type: ignore[return-value]


def _retarget(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _retarget(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_retarget(v) for v in node]
    if isinstance(node, str) and MOVED_DATA in node and not Path(node).exists():
        moved = BUILTIN_DATA_DIR / node.split(MOVED_DATA, 1)[1]  # the embedded data, recorded at its old place
        return str(moved) if moved.exists() else node
    if isinstance(node, str) and not node.startswith(CURRENT_PACKAGES):  # today's names are never moved again
        for old, new in MOVED_TARGETS.items():
            if node.startswith(old):
                return new + node[len(old) :]
    return node


# top-level keys added since records were first written, with the value that does what those runs did
ADDED_KEYS: dict[str, Any] = {"evaluate_dev": True}


def upgrade(config: dict[str, Any], resolved: bool = True, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The recorded job config in today's shape (unchanged when already current).

    ``resolved``: the record has its interpolations resolved (config.json), so group entries taken from today's
    YAMLs get the recorded values where they refer to them (batch size, negatives per pair). ``current``: the config
    being resumed with; config groups added since the record was written (ADDED_GROUPS) are taken from it, since
    the recorded run had no such choice to make."""
    config = _retarget(copy.deepcopy(config))
    for key, value in ADDED_KEYS.items():  # what a record from before a key existed did
        config.setdefault(key, value)
    for group in ADDED_GROUPS:
        if group in OFF_BY_DEFAULT and group not in config:  # the recorded run had none: not what resuming asks
            config[group] = _group(group, "none")
        elif current is not None and group not in config and group in current:
            config[group] = copy.deepcopy(current[group])
    evaluator = config.get("evaluator")
    if isinstance(evaluator, dict) and "kinds" in evaluator:
        option = EVALUATOR_KINDS.get(tuple(evaluator.pop("kinds")), "ir")
        for key, entry in _group("evaluator", option).items():
            if isinstance(entry, dict) and "_target_" in entry:
                old = evaluator.get(key) if isinstance(evaluator.get(key), dict) else {}
                evaluator[key] = {**entry, **old}
                if resolved:
                    evaluator[key]["batch_size"] = evaluator.get("batch_size", 32)
    fmt = config.get("data_format")
    if isinstance(fmt, dict) and "rows" not in fmt and fmt.get("name"):
        today = _group("data_format", fmt["name"])
        for stale in ("needs_negatives", "label_column"):
            fmt.pop(stale, None)
        fmt["rows"] = today["rows"]
        if resolved and "negatives_per_pair" in fmt["rows"]:
            fmt["rows"]["negatives_per_pair"] = fmt.get("negatives_per_pair")
    quality = config.get("quality")
    if isinstance(quality, dict) and "_target_" not in quality:
        quality["_target_"] = "embtune.dataset.quality.QualityFilter"
    if isinstance(quality, dict) and quality.get("enabled") and "short_query_ratio" not in quality:
        # before the rules were relative to the dataset: fixed counts, every query checked against its positive, no
        # limit on the share dropped (what that run did; today's defaults may keep more, so a resume shows the diff)
        quality.update(short_query_ratio=0.25, short_positive_ratio=0.1, keyword_query_words=0, max_drop=None)
    if "evaluate_final" not in config:  # before dev-only runs: every run evaluated its evaluation split
        config["evaluate_final"] = True
    if "verbose" not in config:  # before the quiet console (a display switch, not a choice)
        config["verbose"] = False
    logger = config.get("logger")
    if isinstance(logger, dict) and "_target_" not in logger and logger.get("name"):
        logger.pop("report_to", None)
        logger["_target_"] = _group("logger", logger["name"])["_target_"]
    model = config.get("model")
    if isinstance(model, dict) and "builder" in model and model["builder"] is None:
        del model["builder"]
    if isinstance(model, dict) and "adapter" not in model:  # before model/adapter: every weight trained
        model["adapter"] = _group("model/adapter", "none")
    loss = config.get("loss")
    if isinstance(loss, dict) and "matryoshka" not in loss:  # before loss.matryoshka: one dimension
        loss["matryoshka"] = {"dims": None, "weights": None}
    if isinstance(loss, dict) and (CONF_DIR / "loss" / f"{loss.get('name')}.yaml").is_file():
        loss["accepts"] = _group("loss", loss["name"])["accepts"]  # which formats it trains on: metadata, not a choice
    for group in OPTION_GROUPS:  # keys an option gained later with a null default (off): the recorded run had null
        node = config.get(group)
        if isinstance(node, dict) and (CONF_DIR / group / f"{node.get('name')}.yaml").is_file():
            for key, value in _group(group, node["name"]).items():
                if value is None and key not in node:
                    node[key] = None

    return config
