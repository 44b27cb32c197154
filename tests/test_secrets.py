"""Secrets passed as overrides never reach a file a run writes: run records, Hydra's .hydra/ and multirun.yaml,
the W&B offline run (config and recorded args), the caches."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import only_run_dir, run_cli
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from wandb_reader import read_run

from embtune.redact import REDACTED, is_secret_name, redact, redact_argv, redact_text
from embtune.run.hydra_hooks import RedactHydraRecord

SECRETS = ("sk-SECRET-1", "sk-SECRET-2", "sk-SECRET-3", "sk-SECRET-4")


@pytest.mark.parametrize(
    "name",
    ["api_key", "API_KEY", "hf_token", "client_secret", "db_password", "passwd", "pwd", "credentials", "auth",
     "OAuthHeader", "logger.api_key", "+foo.passwd", "hydra.job.env_set.WANDB_API_KEY"],
)  # fmt: skip
def test_secret_markers_anywhere_in_the_last_key_name(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["tokenizer", "mining.tokenizer", "author", "keywords", "exclude_keys", "name", "key_path.x"]
)
def test_everyday_names_stay_readable(name: str) -> None:
    assert not is_secret_name(name)


def test_redact_replaces_secret_values_at_any_depth_and_keeps_what_reruns_need() -> None:
    cfg = {
        "logger": {"api_key": "sk-1", "project": "p"},
        "mining": {"tokenizer": "stem"},
        "jobs": [{"Token": "t", "n": 1}],
        "env": {"hf_token": "${oc.env:HF_TOKEN}", "password": None},
        "auth": {"user": "me", "pass": "x"},
    }
    assert redact(cfg) == {
        "logger": {"api_key": REDACTED, "project": "p"},
        "mining": {"tokenizer": "stem"},
        "jobs": [{"Token": REDACTED, "n": 1}],
        "env": {"hf_token": "${oc.env:HF_TOKEN}", "password": None},
        "auth": REDACTED,
    }


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("+logger.api_key=sk-1", "+logger.api_key=<redacted>"),
        ("+foo.passwd=sk-1,sk-2", "+foo.passwd=<redacted>"),  # a sweep: every value
        ("+foo={api_key: sk-1, name: x}", "+foo={api_key: <redacted>, name: x}"),
        ("+a.b=[{token: t}, 5]", "+a.b=[{token: <redacted>}, 5]"),
        ("+x={secret: 'a, b}', n: 2}", "+x={secret: <redacted>, n: 2}"),
        ('+x={Password: "p \\" q", n: 2}', "+x={Password: <redacted>, n: 2}"),
        ("+x={creds: {credential: [1, 2]}}", "+x={creds: {credential: <redacted>}}"),
        ("+x={auth: {user: u, pwd: p}}", "+x={auth: <redacted>}"),
        ("+h.api_key=${oc.env:WANDB_API_KEY}", "+h.api_key=${oc.env:WANDB_API_KEY}"),
        ("mining.tokenizer=stem", "mining.tokenizer=stem"),
        ("-m", "-m"),
    ],
)
def test_redact_argv_covers_plain_nested_and_quoted_values(arg: str, expected: str) -> None:
    assert redact_argv([arg]) == [expected]


def test_redact_text_on_hydras_override_dirname() -> None:
    joined = "+bar={token: s3},+foo.passwd=s2,s5,+logger.api_key=s1,model=tiny"
    assert (
        redact_text(joined) == "+bar={token: <redacted>},+foo.passwd=<redacted>,+logger.api_key=<redacted>,model=tiny"
    )


def _walk_bytes(root: Path) -> dict[Path, bytes]:
    """Every file under ``root`` (symlinked files read through their link: W&B links its core log elsewhere)."""
    found = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if path.is_file():
                found[path] = path.read_bytes()
    return found


def test_no_secret_reaches_any_file_of_a_wandb_run_or_its_caches(tmp_path: Path) -> None:
    out, cache = tmp_path / "outputs", tmp_path / "cache"
    result = run_cli(
        "embtune.train",
        "model=tiny",
        "trainer=debug",
        "logger=wandb",
        "evaluate_bm25=false",
        "save_model=false",
        f"paths.output_dir={out}",
        f"paths.cache_dir={cache}",
        "+logger.api_key=sk-SECRET-1",
        "+foo.passwd=sk-SECRET-2",
        "+bar={token: sk-SECRET-3}",
        env={"WANDB_API_KEY": "sk-SECRET-4", "OMP_NUM_THREADS": "1"},  # one thread: the suite shares 2 cores
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = only_run_dir(out)
    files = {**_walk_bytes(out), **_walk_bytes(cache)}
    assert {run / ".hydra" / n for n in ("config.yaml", "hydra.yaml", "overrides.yaml")} <= set(files)
    assert any(p.suffix == ".wandb" for p in files) and any(p.parent.name == "eval" for p in files)
    leaks = {str(p): s for p, data in files.items() for s in SECRETS if s.encode() in data}
    assert leaks == {}
    # the overrides were taken and recorded, with the values replaced
    overrides = OmegaConf.load(run / ".hydra" / "overrides.yaml")
    assert "+logger.api_key=<redacted>" in overrides and "+bar={token: <redacted>}" in overrides
    assert OmegaConf.load(run / ".hydra" / "config.yaml").foo.passwd == REDACTED
    (wandb_file,) = run.glob("wandb/offline-run-*/run-*.wandb")
    wandb_run = read_run(wandb_file)
    assert "+foo.passwd=<redacted>" in wandb_run["args"] and "model=tiny" in wandb_run["args"]
    assert wandb_run["config"]["logger"]["api_key"] == REDACTED


def test_a_sweeps_multirun_yaml_and_job_records_are_redacted(
    tmp_path: Path, compose_cfg: Callable[..., DictConfig]
) -> None:
    """The files as Hydra's sweeper and run_job save them, then the callback's on_job_start."""
    sweep_dir, job_dir = tmp_path / "sweep", tmp_path / "sweep" / "0_job"
    cfg = compose_cfg("hydra.mode=MULTIRUN", f"hydra.sweep.dir={sweep_dir}", "+logger.api_key=sk-SECRET-1")
    with read_write(cfg.hydra), open_dict(cfg.hydra):
        cfg.hydra.runtime.output_dir = str(job_dir)
        cfg.hydra.job.override_dirname = "+logger.api_key=sk-SECRET-1,model=tiny"
    sweep_dir.mkdir()
    OmegaConf.save(cfg, sweep_dir / "multirun.yaml")  # as BasicSweeper.sweep does
    record = job_dir / ".hydra"
    record.mkdir(parents=True)
    task_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    (record / "config.yaml").write_text(OmegaConf.to_yaml(task_cfg))
    (record / "hydra.yaml").write_text(OmegaConf.to_yaml(OmegaConf.masked_copy(cfg, ["hydra"])))
    (record / "overrides.yaml").write_text(OmegaConf.to_yaml(cfg.hydra.overrides.task))
    assert b"sk-SECRET-1" in (sweep_dir / "multirun.yaml").read_bytes()

    RedactHydraRecord().on_job_start(config=cfg)

    for path in (sweep_dir / "multirun.yaml", *record.iterdir()):
        assert b"sk-SECRET-1" not in path.read_bytes(), path
    hydra_yaml = OmegaConf.load(record / "hydra.yaml").hydra
    assert hydra_yaml.job.override_dirname == "+logger.api_key=<redacted>,model=tiny"
    assert OmegaConf.load(sweep_dir / "multirun.yaml").logger.api_key == REDACTED
    assert OmegaConf.load(record / "config.yaml").evaluator.bm25.tokenizer == cfg.evaluator.bm25.tokenizer
