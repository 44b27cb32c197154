"""Run dirs recorded before the config groups built objects still resume and evaluate: their records upgrade to
today's shape with no difference left but machine paths."""

from __future__ import annotations

import json
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from embtune.logger import resolved_config
from embtune.resolvers import register_resolvers
from embtune.run.legacy import upgrade
from embtune.run.resume import config_diff

CONF = Path(__file__).resolve().parents[1] / "conf"
RECORD = Path(__file__).resolve().parent / "fixtures" / "config_record_v1.json"  # config.json of a make train run
MACHINE = ("paths.", "dataset.source.files.", "run_name")


def _current(*overrides: str) -> dict:
    register_resolvers()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return resolved_config(compose("train", overrides=[*overrides, "run_name=minilm_mnrl_triplets"]))


def test_a_v1_record_upgrades_to_the_config_the_same_command_composes_today() -> None:
    old = json.loads(RECORD.read_text())
    assert "kinds" in old["evaluator"] and "rows" not in old["data_format"]  # the old shape, really
    current = _current("experiment=default_minilm")
    changes = [c for c in config_diff(upgrade(old, current=current), current, []) if not c.startswith(MACHINE)]
    # what changed since: the quality rules became relative to the dataset (the recorded run's fixed counts stay, so
    # a resume names exactly these and resumes with resume.force=true); nothing else
    # (resume.* may always differ on resume: resume.allow_changes lists itself)
    assert sorted(c.split(":")[0] for c in changes if not c.startswith("resume.")) == [
        "quality.keyword_query_words",
        "quality.max_drop",
        "quality.min_positive_words",
        "quality.min_query_words",
    ]
    # without the upgrade, resuming that run would be refused for config changes
    assert [c for c in config_diff(old, _current("experiment=default_minilm"), []) if not c.startswith(MACHINE)]


def test_upgrade_leaves_a_current_record_unchanged() -> None:
    current = _current("experiment=default_minilm", "evaluator=ir_triplet", "logger=wandb", "quality=none")
    assert upgrade(current) == current


def test_an_upgraded_hydra_record_instantiates_its_evaluator_and_format() -> None:
    old = json.loads(RECORD.read_text())
    new = OmegaConf.create(upgrade(old))
    assert new.evaluator.ir._target_ == "embtune.evaluator.ir_evaluator"
    assert new.data_format.rows._target_ == "embtune.data_format.triplet_rows"
    assert new.dataset.source._target_ == "embtune.dataset.sources.load_pairs"


def test_a_record_from_before_later_option_keys_resumes_cleanly() -> None:
    """Runs recorded before mining.model_path existed, and before mnrl accepted multi_negatives, still compare equal:
    a key added later with a null default was off for them, and ``loss.accepts`` is metadata, not a choice."""
    current = _current("experiment=scifact_minilm", "mining=dense")
    old = json.loads(json.dumps(current))
    del old["mining"]["model_path"]
    old["loss"]["accepts"] = ["pairs", "triplets"]
    assert config_diff(old, current, [])  # as recorded, it differs ...
    assert config_diff(upgrade(old, current=current), current, []) == []  # ... read in today's shape, it does not
    changed = json.loads(json.dumps(old))
    changed["mining"]["range_max"] = 99  # a real change still shows
    assert config_diff(upgrade(changed, current=current), current, []) == ["mining.range_max: 99 -> 30"]
