"""Secrets passed as overrides never reach a file a run writes: run records, Hydra's .hydra/ and multirun.yaml,
the W&B offline run (config and recorded args), the caches."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TINY_CACHE, only_run_dir, run_cli
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from wandb_reader import read_run

from embtune.run.hydra_hooks import RedactHydraRecord
from embtune.run.redact import REDACTED, is_secret_name, redact, redact_argv, redact_text

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


# -- by value: every console line and file of every command, crashes included ----------------------------------------

BY_VALUE = ("sk-VALUE-plain-1", "sk-VALUE-nested-2", "sk-VALUE-env-3", "sk-VALUE-sweep-4", "sk-VALUE-sweep-5")
GIVEN = ["+foo.api_key=sk-VALUE-plain-1", "+bar={token: sk-VALUE-nested-2}"]
SECRET_ENV = {"WANDB_API_KEY": "sk-VALUE-env-3", "OMP_NUM_THREADS": "1"}


def _leaks(result, *roots: Path) -> dict[str, str]:  # noqa: ANN001
    """Where any of the given secrets appears: the console (stdout, stderr) and every file under ``roots``."""
    found = {"console": result.stdout + result.stderr}
    for root in roots:
        found |= {str(p): data.decode("utf-8", "replace") for p, data in _walk_bytes(root).items()}
    return {where: s for where, text in found.items() for s in BY_VALUE if s in text}


def test_a_crash_that_is_not_embtunes_leaks_no_secret_to_the_console_or_the_run_dir(tmp_path: Path) -> None:
    """A library error: Hydra prints the job's overrides and a traceback; the run's log file and FAILED hold it."""
    out = tmp_path / "out"
    result = run_cli(
        "embtune.train", "model=tiny", "trainer=debug", f"paths.cache_dir={TINY_CACHE}", f"paths.output_dir={out}",
        *GIVEN, "dataset.source._target_=math.sqrt", env=SECRET_ENV,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Error executing job with overrides" in result.stderr and "+foo.api_key=<redacted>" in result.stderr
    run = only_run_dir(out)
    assert "sqrt" in (run / "FAILED").read_text() and (run / "train.log").is_file()
    assert _leaks(result, out) == {}


def test_a_compose_error_does_not_echo_the_secret(tmp_path: Path) -> None:
    result = run_cli("embtune.train", "logger.api_key=sk-VALUE-plain-1", f"paths.output_dir={tmp_path}")
    assert result.returncode == 1 and "Could not override 'logger.api_key'" in result.stderr
    assert "use +logger.api_key=<redacted>" in result.stderr and _leaks(result, tmp_path) == {}


def test_a_sweep_of_secret_values_leaks_none(tmp_path: Path) -> None:
    """``-m +baz.password=a,b``: each job's value, Hydra's multirun.yaml, the sweep summary, the console."""
    result = run_cli(
        "embtune.prepare", "-m", "+baz.password=sk-VALUE-sweep-4,sk-VALUE-sweep-5", *GIVEN,
        f"paths.output_dir={tmp_path}", f"paths.cache_dir={TINY_CACHE}", env=SECRET_ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "prepare" / "multiruns").iterdir()
    assert len([p for p in sweep.iterdir() if p.is_dir()]) == 2
    assert _leaks(result, tmp_path) == {}


@pytest.mark.parametrize(
    "command",
    [
        ["embtune.eval", "model=tiny"],
        # a crash inside advise (the data source fails): its console, log file and FAILED
        ["embtune.advise", "model=tiny", "dataset.source._target_=math.sqrt"],
    ],
    ids=["eval", "advise_crash"],
)
def test_eval_and_advise_leak_no_secret(tmp_path: Path, command: list[str]) -> None:
    result = run_cli(*command, f"paths.output_dir={tmp_path}", f"paths.cache_dir={TINY_CACHE}", *GIVEN, env=SECRET_ENV)
    assert (result.returncode == 0) == (command[0] == "embtune.eval"), result.stderr[-3000:]
    assert any(tmp_path.rglob("*.log")) and _leaks(result, tmp_path) == {}


# -- remote code: only when this command says so ----------------------------------------------------------------------

MARKER_MODULE = """
import os
from pathlib import Path

from transformers import BertModel

Path(os.environ["EMBTUNE_TEST_MARKER"]).write_text("remote code ran")


class MarkerModel(BertModel):
    pass
"""


def test_eval_never_runs_a_run_dirs_code_on_the_strength_of_its_record(tmp_path: Path) -> None:
    out, marker = tmp_path / "out", tmp_path / "marker"
    common = [f"paths.output_dir={out}", f"paths.cache_dir={TINY_CACHE}", "evaluate_bm25=false"]
    trained = run_cli("embtune.train", "model=tiny", "trainer=debug", *common)
    assert trained.returncode == 0, trained.stderr[-2000:]
    run = only_run_dir(out)
    # what an untrusted run dir can carry: a record asking for remote code, and the code, named by auto_map
    record = OmegaConf.load(run / ".hydra" / "config.yaml")
    record.model.trust_remote_code = True
    OmegaConf.save(record, run / ".hydra" / "config.yaml")
    model_config = json.loads((run / "model" / "config.json").read_text())
    model_config["auto_map"] = {"AutoModel": "marker_model.MarkerModel"}
    (run / "model" / "config.json").write_text(json.dumps(model_config))
    (run / "model" / "marker_model.py").write_text(MARKER_MODULE)
    env = {"EMBTUNE_TEST_MARKER": str(marker)}

    refused = run_cli("embtune.eval", f"model_path={run}", *common, env=env)
    assert refused.returncode == 1 and not marker.exists()
    line = refused.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {run} was trained with model.trust_remote_code=true") and "Fix:" in line

    asked = run_cli("embtune.eval", f"model_path={run}", "model.trust_remote_code=true", *common, env=env)
    assert asked.returncode == 0, asked.stderr[-3000:]
    assert marker.read_text() == "remote code ran"
    (evaluated,) = (p.parent for p in (out / "eval" / "runs").glob("*/metrics.json"))
    assert json.loads((evaluated / "run_info.json").read_text())["trust_remote_code"] is True


W_AND_B_CAPTURE = """
import sys
sys.argv = ["embtune.train", "+logger.api_key=sk-VALUE-plain-1"]
from embtune.run.console_guard import guard_console
guard_console()
from wandb.sdk.lib import console_capture  # W&B patches the console's write after embtune's guard
seen = []
console_capture.capture_stdout(lambda text, n: seen.append(text))
print("the key is sk-VALUE-plain-1")
sys.stdout.flush()
sys.stderr.write(repr(seen))
"""


def test_what_w_and_b_captures_from_the_console_is_scrubbed_too() -> None:
    """W&B uploads the console it captured (output.log): it must see the scrubbed text."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", W_AND_B_CAPTURE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "the key is <redacted>" in result.stdout and "the key is <redacted>" in result.stderr
    assert "sk-VALUE" not in result.stdout + result.stderr


def test_a_record_naming_code_outside_embtune_is_refused_by_eval_and_rerun(tmp_path: Path) -> None:
    """A run dir is data: its record may name any _target_; eval and rerun refuse to build it."""
    import subprocess
    import sys

    from conftest import ROOT

    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / "model").mkdir()
    marker = tmp_path / "ran"
    config = {
        "model": {"name_or_path": "x", "trust_remote_code": False},
        "evaluator": {"name": "ir"},
        "mining": {"name": "none"},
        "dataset": {"name": "d", "source": {"_target_": "os.system", "_args_": [f"touch {marker}"]}},
        "seed": 0,
    }
    OmegaConf.save(OmegaConf.create(config), run / ".hydra" / "config.yaml")
    evaluated = run_cli("embtune.eval", f"model_path={run}", f"paths.output_dir={tmp_path / 'out'}")
    assert evaluated.returncode == 1 and not marker.exists()
    line = evaluated.stderr.strip().splitlines()[-1]
    assert "names code outside embtune" in line and "dataset.source._target_: os.system" in line

    OmegaConf.save(
        OmegaConf.create(["model=tiny", "+dataset.source._target_=os.system"]), run / ".hydra" / "overrides.yaml"
    )
    rerun = subprocess.run(
        [sys.executable, "scripts/rerun.py", str(run)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert rerun.returncode == 2 and "code outside embtune" in rerun.stdout and not marker.exists()
