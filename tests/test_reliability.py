"""Bad input through the real entrypoint: one clear line, exit 1, FAILED and no metrics.json. Reruns match."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, TINY_CACHE, run_cli, write_jsonl

TINY = ["model=tiny", "trainer=debug", f"paths.cache_dir={TINY_CACHE}"]
GOOD = [{"query": f"question number {i}", "positive": f"answer passage {i} with enough words"} for i in range(20)]


def _files(tmp: Path, train_text: str | None = None, test_rows: list | None = None) -> list[str]:
    train = tmp / "train.jsonl"
    if train_text is None:
        write_jsonl(train, GOOD)
    else:
        train.write_text(train_text)
    test = write_jsonl(tmp / "test.jsonl", GOOD[:5] if test_rows is None else test_rows)
    return [f"dataset.source.files.train={train}", f"dataset.source.files.test={test}"]


def _beir(tmp: Path, qrels: str) -> list[str]:
    root = tmp / "data" / "toy"
    write_jsonl(root / "corpus.jsonl", [{"_id": "d1", "text": "one"}, {"_id": "d2", "text": "two"}])
    write_jsonl(root / "queries.jsonl", [{"_id": "q1", "text": "first"}])
    (root / "qrels").mkdir()
    for split in ("train", "test"):
        (root / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return ["dataset=beir", "dataset.name=toy", f"paths.data_dir={tmp / 'data'}"]


CASES = {
    "malformed_jsonl": (
        lambda t: _files(t, '{"query": "a b", "positive": "c d e f g"}\n{"query": oops}\n'),
        r"train.jsonl:2: not valid JSON",
    ),
    "missing_column": (
        lambda t: _files(t, json.dumps({"question": "a b", "positive": "c"}) + "\n"),
        r"train.jsonl:1: missing column 'query' \(columns found: positive, question\)",
    ),
    "empty_test_split": (lambda t: _files(t, test_rows=[]), r"split 'test' has no rows"),
    "unknown_qrels_id": (
        lambda t: _beir(t, "q1\td9\t1\n"),
        r"(train|test).tsv:2: corpus id 'd9' is not in corpus.jsonl",
    ),
    # a model path that does not exist: had anything loaded before the check, that would be the error
    "loss_format_mismatch": (
        lambda t: ["loss=contrastive", "model=minilm", "model.name_or_path=/nonexistent/model"],
        r"loss=contrastive does not train on data_format=pairs",
    ),
    "model_not_found": (
        lambda t: ["model=minilm", "model.name_or_path=nobody/no-model"],
        r"model 'nobody/no-model' is not a local dir.*HF_HUB_OFFLINE=1",
    ),
    "missing_data_dir": (
        lambda t: ["dataset=scifact", f"paths.data_dir={t}/nope"],
        r"dataset dir not found: .*nope/scifact. Set paths.data_dir",
    ),
    "bad_score": (lambda t: ["dataset=files", *_scored(t, "high")], r"column 'score' must be a number, got 'high'"),
    "batch_size_zero": (
        lambda t: ["trainer.args.per_device_train_batch_size=0"],
        r"trainer.args.per_device_train_batch_size=0: must be a whole number >= 1",
    ),
    "pickle_only_weights": (
        lambda t: ["model=minilm", f"model.name_or_path={_pickled_model(t)}"],
        r"model at .*pickled: its weights are pickle files \(pytorch_model.bin\), which torch refused",
    ),
    "missing_train_file": (lambda t: ["dataset=files"], r"dataset.source.files.train has no value \(\?\?\?\)"),
    "out_of_range_score": (
        lambda t: ["dataset=files", *_scored(t, 7)],
        r"column 'score' = 7.0 is outside \[0.0, 1.0\]",
    ),
}


class NotAWeight:
    """Any object outside torch's weights-only allow-list: what an untrusted pickle holds."""


def _pickled_model(tmp: Path) -> Path:
    import torch
    from safetensors.torch import load_file

    from embtune.model.tiny import build_tiny_model

    model = build_tiny_model(tmp / "pickled")
    state = load_file(model / "model.safetensors")
    (model / "model.safetensors").unlink()
    torch.save({**state, "extra": NotAWeight()}, model / "pytorch_model.bin")
    return model


def _scored(tmp: Path, bad) -> list[str]:
    rows = [{"query": f"q {i} words", "document": f"doc {i} with enough words here", "score": 1.0} for i in range(6)]
    rows.append({"query": "q x words", "document": "doc x", "score": bad})
    write_jsonl(tmp / "scored.jsonl", rows)
    return [f"dataset.source.files.train={tmp / 'scored.jsonl'}", f"dataset.source.files.test={tmp / 'scored.jsonl'}"]


GROUPS = {p.name for p in (ROOT / "conf").iterdir() if p.is_dir()}


def _case_config(overrides: list[str]) -> str:
    """A ``case/`` config (global package) applying CLI overrides: group choices become defaults overrides."""
    import yaml
    from omegaconf import OmegaConf

    groups = {k: v for k, _, v in (o.partition("=") for o in overrides) if k in GROUPS}
    groups.setdefault("model", "tiny")
    values = OmegaConf.to_container(OmegaConf.from_dotlist([o for o in overrides if o.split("=")[0] not in GROUPS]))
    defaults = [{f"override /{k}": v} for k, v in groups.items()]
    return "# @package _global_\n" + yaml.safe_dump({"defaults": defaults, **values}, sort_keys=False)


def test_bad_input_gives_one_clear_line(tmp_path: Path) -> None:
    """Every case through the real CLI in one sweep process (one import of the stack, not one per case): each
    job fails with exit-1 semantics, its one line on stderr and in FAILED, no metrics.json, no traceback."""
    conf = tmp_path / "conf" / "case"
    conf.mkdir(parents=True)
    names = list(CASES)
    for name in names:
        (tmp_path / name).mkdir()
        (conf / f"{name}.yaml").write_text(_case_config(CASES[name][0](tmp_path / name)))
    out = tmp_path / "outputs"
    result = run_cli(
        "embtune.train",
        "-m",
        "trainer=debug",
        f"paths.cache_dir={TINY_CACHE}",
        f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
        f"+case={','.join(names)}",
        f"paths.output_dir={out}",
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    (sweep,) = (out / "train" / "multiruns").iterdir()
    for num, name in enumerate(names):
        message = CASES[name][1]
        (job,) = sweep.glob(f"{num}_*")
        failed = (job / "FAILED").read_text()
        assert len(failed.splitlines()) == 1 and re.search(message, failed), (name, failed)
        assert any(re.search(message, line) for line in errors), (name, errors)
        assert not (job / "metrics.json").exists()


def test_unknown_config_option_lists_the_choices(tmp_path: Path) -> None:
    result = run_cli("embtune.train", "model=nope", f"paths.output_dir={tmp_path}")
    assert result.returncode == 1
    assert "Could not find 'model/nope'" in result.stderr and "minilm" in result.stderr
    assert "Traceback" not in result.stderr


def test_nan_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    result = run_cli(
        "embtune.train",
        *TINY,
        "trainer.args.learning_rate=inf",
        "trainer.args.max_steps=8",
        "trainer.args.warmup_steps=0",
        "evaluate_bm25=false",
        f"paths.output_dir={out}",
    )
    assert result.returncode == 1, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert "became nan at step" in last and "Last good checkpoint" in last, last
    (run_dir,) = (out / "train" / "runs").iterdir()
    assert not (run_dir / "metrics.json").exists() and (run_dir / "FAILED").is_file()


def test_rerun_from_the_record_matches_exactly(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    # a recorded trust_remote_code never carries over: the rerun runs no code unless its own command says so
    args = [*TINY, "trainer.args.learning_rate=1e-3", "model.trust_remote_code=true", f"paths.output_dir={out}"]
    first = run_cli("embtune.train", *args)
    assert first.returncode == 0, first.stderr[-2000:]
    (run,) = (out / "train" / "runs").iterdir()
    again = subprocess.run(
        [sys.executable, "scripts/rerun.py", str(run)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=600,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert "note: model.trust_remote_code=true is in the record and is left out" in again.stdout
    runs = sorted((out / "train" / "runs").iterdir())
    assert len(runs) == 2  # a new dir: nothing overwritten
    a, b = (json.loads((r / "metrics.json").read_text()) for r in runs)
    assert a["fine_tuned"] == b["fine_tuned"] and a["zero_shot"] == b["zero_shot"]
    info = json.loads((runs[1] / "run_info.json").read_text())
    assert info["config"]["trainer"]["args"]["learning_rate"] == 1e-3 and info["trust_remote_code"] is False
    assert json.loads((runs[0] / "run_info.json").read_text())["trust_remote_code"] is True


def test_ctrl_c_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    """Ctrl-C mid-run, a partial checkpoint left behind, a changed config refused, a finished run refused."""
    common = [
        *TINY,
        "trainer.args.max_steps=40",
        "trainer.args.save_steps=8",
        "trainer.args.eval_steps=8",
        "trainer.args.learning_rate=1e-3",
        "evaluate_bm25=false",
    ]
    full = run_cli("embtune.train", *common, f"paths.output_dir={tmp_path}/full")
    assert full.returncode == 0, full.stderr[-2000:]
    out = tmp_path / "a run's dir with 'quotes' $HOME; and spaces"  # any legal path
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "EMBTUNE_OUTPUT_DIR": str(out)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "embtune.train", *common],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not list(out.glob("train/runs/*/checkpoints/checkpoint-8/trainer_state.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    (run,) = (out / "train" / "runs").iterdir()
    assert not (run / "metrics.json").exists()
    failed = (run / "FAILED").read_text()
    assert "Ctrl-C" in failed and "make resume RUN=" in failed and "Traceback" not in stderr

    # a checkpoint the interruption left half-written: named and skipped, never resumed from
    partial = run / "checkpoints" / "checkpoint-999"
    shutil.copytree(run / "checkpoints" / "checkpoint-8", partial)
    (partial / "trainer_state.json").unlink()

    def resume(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "scripts/rerun.py", "--resume", str(run), "--", *extra],
            cwd=ROOT,
            env={k: v for k, v in env.items() if k != "EMBTUNE_OUTPUT_DIR"},
            capture_output=True,
            text=True,
            timeout=600,
        )

    record = (run / ".hydra" / "overrides.yaml").read_bytes()
    changed = resume("trainer.args.learning_rate=5e-4")
    assert changed.returncode == 1
    last = changed.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("error: resume: the config differs") and "trainer.args.learning_rate: 0.001 -> 0.0005" in last
    )
    assert (run / ".hydra" / "overrides.yaml").read_bytes() == record  # the run's record untouched

    resumed = resume()
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    logged = resumed.stdout + resumed.stderr  # Hydra's console log handler writes to stdout
    assert "skipping partial checkpoint" in logged and "checkpoint-999" in logged
    (full_run,) = (tmp_path / "full" / "train" / "runs").iterdir()
    a = json.loads((full_run / "metrics.json").read_text())
    finished = (run / "metrics.json").read_bytes()
    b = json.loads(finished)
    assert b["train"]["steps"] == 40 and "checkpoint-999" not in b["train"]["resumed_from"]
    assert b["fine_tuned"] == pytest.approx(a["fine_tuned"], abs=1e-6)
    assert not (run / "FAILED").exists()

    again = resume()
    assert again.returncode == 1 and "already finished" in again.stderr.strip().splitlines()[-1]
    assert (run / "metrics.json").read_bytes() == finished and not (run / "FAILED").exists()


def test_secrets_never_reach_the_run_record(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    result = run_cli(
        "embtune.train",
        *TINY,
        "+foo.api_key=sk-should-not-appear",
        "evaluate_bm25=false",
        "save_model=false",
        f"paths.output_dir={out}",
        env={"WANDB_API_KEY": "sk-env-secret"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = (out / "train" / "runs").iterdir()
    text = (run / "run_info.json").read_text()
    assert "sk-should-not-appear" not in text and "sk-env-secret" not in text and "<redacted>" in text
