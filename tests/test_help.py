"""--help of every entrypoint says what it does, shows examples, and lists exactly the config groups it uses with
their options as they are in conf/ (and, for train, the loss x format table as the loss configs declare it)."""

from __future__ import annotations

import re

import pytest
from conftest import CONF_DIR, run_cli
from omegaconf import OmegaConf

GROUPS = {
    "embtune.train": {
        "model",
        "model/adapter",
        "dataset",
        "data_format",
        "loss",
        "teacher",
        "generator",
        "mining",
        "quality",
        "evaluator",
        "regression",
        "merge",
        "dataset_mix",
        "trainer",
        "logger",
        "experiment",
        "objective",
    },
    "embtune.eval": {"model", "dataset", "evaluator", "mining", "regression", "merge"},
    "embtune.prepare": {"dataset", "data_format", "mining", "quality", "model"},
}
# advise composes the run train would launch, without what only training ships or logs
GROUPS["embtune.advise"] = GROUPS["embtune.train"] - {
    "regression",
    "merge",
    "dataset_mix",
    "logger",
    "objective",
    "model/adapter",
    "teacher",
    "generator",
} | {"advice"}


def _listed(text: str) -> dict[str, set[str]]:
    """group -> options, from the 'Config groups' block (two groups may share a line)."""
    block = text.split("Config groups")[1].split("\n\n")[0]
    out: dict[str, set[str]] = {}
    last = None
    for line in block.splitlines()[1:]:
        if last and re.match(r"^\s{12,}[a-z0-9_*]", line):  # options continued on the next line
            last |= {o.strip() for o in line.split(",") if o.strip() and "(" not in o}
            continue
        for group, options in re.findall(r"([a-z_/]+)\s{2,}((?:[a-z0-9_]+(?: \(default\))?(?:, )?)+)", line):
            out[group] = last = {o.replace("(default)", "").strip() for o in options.split(",") if o.strip()}
    return out


@pytest.mark.parametrize("command", sorted(GROUPS))
def test_help_names_the_command_examples_and_exactly_its_groups(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    assert (
        re.search(rf"^python -m {re.escape(command)} \[", text, re.M) and "Examples:" in text and "--hydra-help" in text
    )
    listed = _listed(text)
    assert set(listed) == GROUPS[command]
    for group, options in listed.items():
        if group == "objective":  # described, not enumerated
            continue
        assert options == {p.stem for p in (CONF_DIR / group).glob("*.yaml")}, group  # tune writes none into conf/


def test_train_help_has_the_loss_by_format_table_the_configs_declare() -> None:
    text = run_cli("embtune.train", "--help").stdout
    table = text.split("loss × data_format")[1].split("\n\n")[0]
    for path in (CONF_DIR / "loss").glob("*.yaml"):
        accepts = ", ".join(OmegaConf.load(path).accepts)
        assert any(path.stem in line and line.rstrip().endswith(accepts) for line in table.splitlines()), path.stem
