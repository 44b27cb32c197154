"""model/adapter=lora: peft's own API on the tiny model, through the real CLI.

One uninterrupted LoRA run (ship=both) is the reference; a second run with ship=adapter is SIGKILLed after its first
checkpoint and resumed, and must end with the reference's embeddings."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY_CACHE, run_cli
from sentence_transformers import SentenceTransformer

from embtune.errors import EmbtuneError
from embtune.model.adapters import Lora, load_adapter_model, peft_model_of
from embtune.model.tiny import build_tiny_model

TINY = ["model=tiny", "trainer=debug", f"paths.cache_dir={TINY_CACHE}"]
LORA = [
    *TINY,
    "model/adapter=lora",
    "model.adapter.dropout=0.0",
    "trainer.args.learning_rate=5e-3",
    "trainer.args.warmup_steps=0",
    "trainer.args.max_steps=24",
    "trainer.args.save_steps=8",
    "trainer.args.eval_steps=8",
    "trainer.keep_base_if_better=false",
    "evaluate_bm25=false",
    "regression=none",
]
TEXTS = ["insulin dosing in renal failure", "a query about cells", "document on gene expression"]


def _base_path() -> Path:
    return build_tiny_model(path=TINY_CACHE / "models" / "embtune-tiny-bert", seed=0)


def _digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def _encode(model: SentenceTransformer) -> torch.Tensor:
    return model.encode(TEXTS, convert_to_tensor=True)


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lora")
    result = run_cli("embtune.train", *LORA, "model.adapter.ship=both", f"paths.output_dir={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (out / "train" / "runs").iterdir()
    return run


def test_only_the_adapter_trains_the_base_weights_stay_as_they_were(lora_run: Path) -> None:
    base = SentenceTransformer(str(_base_path()))
    base_state = base[0].model.state_dict()
    adapted = load_adapter_model(lora_run / "adapter", TINY_CACHE)
    frozen = {
        k.removeprefix("base_model.model.").replace(".base_layer", ""): v
        for k, v in adapted[0].model.state_dict().items()
        if "lora_" not in k
    }
    assert _digest(frozen) == _digest(base_state)  # sha256 of the base weights: equal before and after
    merged = SentenceTransformer(str(lora_run / "model"))[0].model.state_dict()
    changed = sorted(k for k in base_state if not torch.equal(base_state[k], merged[k]))
    assert changed and all(k.endswith(("query.weight", "value.weight")) for k in changed), changed


def test_merged_model_equals_the_adapter_on_its_base_and_the_record_says_lora(lora_run: Path) -> None:
    merged = _encode(SentenceTransformer(str(lora_run / "model")))
    unmerged = _encode(load_adapter_model(lora_run / "adapter", TINY_CACHE))
    base = _encode(SentenceTransformer(str(_base_path())))
    assert torch.allclose(merged, unmerged, atol=1e-5)
    assert (merged - base).abs().max() > 1e-3  # training moved the embeddings
    metrics = json.loads((lora_run / "metrics.json").read_text())
    adapter = metrics["train"]["adapter"]
    assert adapter["method"] == "lora" and adapter["target_modules"] == ["query", "value"]
    assert adapter["shipped"] == "both" and 0 < adapter["trainable_share"] < 0.05
    assert adapter["trainable_parameters"] < adapter["total_parameters"]
    assert "LoRA adapter (peft): r 8, alpha 16" in (lora_run / "model" / "README.md").read_text()
    adapter_bytes = sum(f.stat().st_size for f in (lora_run / "adapter").glob("adapter_model.safetensors"))
    assert 0 < adapter_bytes < (lora_run / "model" / "model.safetensors").stat().st_size / 10


def test_sigkill_then_resume_continues_the_adapter_and_ships_it_alone(lora_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "EMBTUNE_OUTPUT_DIR": str(out)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "embtune.train", *LORA, "model.adapter.ship=adapter"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not list(out.glob("train/runs/*/checkpoints/checkpoint-8/trainer_state.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    (run,) = (out / "train" / "runs").iterdir()
    assert not (run / "metrics.json").exists()
    checkpoint = run / "checkpoints" / "checkpoint-8"
    assert (checkpoint / "adapter_model.safetensors").is_file() and not (checkpoint / "model.safetensors").exists()

    resumed = subprocess.run(
        [sys.executable, "scripts/rerun.py", "--resume", str(run)],
        cwd=ROOT,
        env={k: v for k, v in env.items() if k != "EMBTUNE_OUTPUT_DIR"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 24 and "checkpoint-" in metrics["train"]["resumed_from"]
    assert metrics["train"]["adapter"]["shipped"] == "adapter"
    assert not (run / "model" / "model.safetensors").exists()  # model/ is the adapter alone
    again = _encode(load_adapter_model(run / "model", TINY_CACHE))
    reference = _encode(SentenceTransformer(str(lora_run / "model")))
    assert torch.allclose(again, reference, atol=1e-5)
    reference_metrics = json.loads((lora_run / "metrics.json").read_text())
    assert metrics["fine_tuned"] == pytest.approx(reference_metrics["fine_tuned"], abs=1e-6)


def test_a_family_without_target_modules_is_one_line_naming_its_layers() -> None:
    model = SentenceTransformer(str(_base_path()))
    with pytest.raises(EmbtuneError) as e:
        Lora(target_modules={"mpnet": ["q", "v"]}).attach(model)
    message = str(e.value)
    assert "no target modules for model family 'bert'" in message and "query" in message and "dense" in message
    with pytest.raises(EmbtuneError, match="q_proj not in the model"):
        Lora(target_modules={"bert": ["q_proj"]}).attach(model)
    assert peft_model_of(model) is None  # nothing was wrapped


@pytest.mark.parametrize(
    ("overrides", "start"),
    [
        (["model.adapter.ship=weights"], "error: model.adapter.ship='weights': choose one of merged, adapter, both"),
        (["model.adapter.ship=adapter", "merge=interpolate"], "error: model.adapter.ship=adapter with merge.alphas"),
    ],
)
def test_cli_bad_adapter_choices_stop_before_loading(tmp_path: Path, overrides: list[str], start: str) -> None:
    result = run_cli("embtune.train", *TINY, "model/adapter=lora", *overrides, f"paths.output_dir={tmp_path}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(start), result.stderr[-1500:]
    assert not list(tmp_path.glob("train/runs/*/model"))
