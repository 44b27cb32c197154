"""Run dirs recorded before the config groups built objects still resume and evaluate: their records upgrade to
today's shape with no difference left but machine paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from embtune.config.resolvers import register_resolvers
from embtune.run.legacy import upgrade
from embtune.run.resume import config_diff
from embtune.run.tracking import resolved_config

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
    assert new.evaluator.ir._target_ == "embtune.evaluation.evaluators.ir_evaluator"
    assert new.data_format.rows._target_ == "embtune.dataset.formats.triplet_rows"
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


RECORD_V2 = Path(__file__).resolve().parent / "fixtures" / "record_v2"  # a tiny make-train run's record, pre-move


def _old_record_into(run: Path, out: Path) -> None:
    """Replace a run's record with the one the same command wrote before the modules moved into packages (only the
    machine paths substituted): config.json, .hydra/*.yaml and run_info.json name the old module paths."""
    from conftest import ROOT, TINY_CACHE

    for name, dest in (
        ("config.json", "config.json"),
        ("run_info.json", "run_info.json"),
        ("config.yaml", ".hydra/config.yaml"),
        ("hydra.yaml", ".hydra/hydra.yaml"),
        ("overrides.yaml", ".hydra/overrides.yaml"),
    ):
        text = (RECORD_V2 / name).read_text()
        for key, value in (("@RUN@", run), ("@OUT@", out), ("@CACHE@", TINY_CACHE), ("@ROOT@", ROOT)):
            text = text.replace(key, str(value))
        (run / dest).write_text(text)


def test_a_run_recorded_before_the_package_move_evaluates_and_resumes(tmp_path: Path) -> None:
    from conftest import TINY_CACHE, make_resume, run_cli

    assert "embtune.data_format.pair_rows" in (RECORD_V2 / "config.yaml").read_text()  # the old paths, really
    out = tmp_path / "out"
    overrides = [
        line.removeprefix("- ").replace("@CACHE@", str(TINY_CACHE)).replace("@OUT@", str(out))
        for line in (RECORD_V2 / "overrides.yaml").read_text().splitlines()
    ]
    made = run_cli("embtune.train", *overrides, "trainer.keep_checkpoints=all")  # checkpoints kept to resume from
    assert made.returncode == 0, made.stderr[-2000:]
    (run,) = (out / "train" / "runs").iterdir()
    _old_record_into(run, out)

    evaluated = run_cli("embtune.eval", f"model_path={run}", f"paths.output_dir={tmp_path / 'eval'}")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    (eval_dir,) = (tmp_path / "eval" / "eval" / "runs").iterdir()
    assert "fine_tuned" in json.loads((eval_dir / "metrics.json").read_text())

    # stopped half-way (after checkpoint-2, before checkpoint-4): make resume continues it in its own dir
    (run / "metrics.json").unlink()
    shutil.rmtree(run / "checkpoints" / "checkpoint-4")
    resumed = make_resume(run)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["resumed_from"].endswith("checkpoint-2") and metrics["train"]["steps"] == 4


def test_every_target_a_pre_move_record_names_resolves_after_upgrade() -> None:
    from hydra._internal.utils import _locate

    def targets(node: object) -> list[str]:
        if isinstance(node, dict):
            return [v for k, v in node.items() if k == "_target_"] + [t for v in node.values() for t in targets(v)]
        return [t for v in node for t in targets(v)] if isinstance(node, list) else []

    old = json.loads((RECORD_V2 / "config.json").read_text())
    before = targets(old)
    assert "embtune.data_format.pair_rows" in before and "embtune.logger.Logger" in before
    after = targets(upgrade(old))
    assert len(after) == len(before) and "embtune.dataset.formats.pair_rows" in after
    for target in after:
        _locate(target)  # imports today


def test_a_record_from_before_teachers_resumes_with_none_never_the_commands_choice() -> None:
    """A run recorded before teacher/ and generator/ had neither: resuming it with generator=extractive is a
    config change to name, not something to take from the command."""
    old = json.loads((RECORD_V2 / "config.json").read_text())
    assert "teacher" not in old and "generator" not in old
    current = _current("generator=extractive")
    upgraded = upgrade(old, current=current)
    assert upgraded["teacher"]["name"] == "none" and upgraded["generator"]["name"] == "none"
    assert any(c.startswith("generator.") for c in config_diff(upgraded, current, []))
