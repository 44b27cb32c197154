"""The real all-MiniLM-L6-v2 (offline package) trains a few steps through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import only_run_dir, run_cli
from test_models import needs_minilm_package


@pytest.mark.slow
@needs_minilm_package
def test_real_minilm_trains_a_few_steps(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    result = run_cli(
        "embtune.train",
        "trainer=debug",
        "trainer.args.eval_steps=4",
        "trainer.args.save_steps=4",
        "dataset.dev_corpus_size=100",
        f"paths.output_dir={out}",
        f"paths.cache_dir={tmp_path}/c",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = only_run_dir(out)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["model"]["weights_sha256"] == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    # a real pretrained model retrieves far better than chance on the embedded data
    assert metrics["zero_shot"]["ndcg@10"] > 0.1  # chance level over 640 passages is ~0.01
    assert metrics["train"]["steps"] == 4
