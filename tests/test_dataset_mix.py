"""Several datasets in one run: sentence-transformers' multi-dataset training, each source with its own format,
loss and evaluation, through Hydra compose and the real CLI on the tiny model."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import TINY_CACHE, run_cli

from embtune.errors import EmbtuneError
from embtune.train import train
from embtune.training.choices import check_choices

TINY = ["model=tiny", "trainer=debug", "evaluate_bm25=false", "save_model=false"]


def _sts(tmp: Path) -> Path:
    """A small STS-style source: train and test TSVs (sentence1, sentence2, score 0-5)."""
    rng = random.Random(3)
    words = "time plan price account service team market order product data report staff".split()
    root = tmp / "stsb"
    root.mkdir()
    for split, n in (("train", 40), ("test", 30)):
        rows = ["sentence1\tsentence2\tscore"]
        for _ in range(n):
            a, b = rng.sample(words, 4), rng.sample(words, 4)
            rows.append(f"{' '.join(a)}\t{' '.join(b)}\t{5 * len(set(a) & set(b)) / 4:.2f}")
        (root / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def test_two_sources_train_together_with_their_own_losses(compose_cfg, tmp_path: Path) -> None:
    sts = _sts(tmp_path)
    cfg = compose_cfg(
        *TINY,
        "dataset_mix=stsb",
        f"dataset_mix.sources.stsb.dataset.source.path={sts}",
        "dataset_mix.sampler=round_robin",
    )
    metrics = train(cfg, tmp_path / "run")
    per = metrics["train"]["examples_per_dataset"]
    assert per["stsb"] == 40 and per["default"] > 100 and metrics["train"]["examples"] == sum(per.values())
    block = metrics["datasets"]["stsb"]
    assert block["metric"] == "spearman" and block["delta"] == pytest.approx(block["fine_tuned"] - block["zero_shot"])
    assert metrics["split"] == "test" and "ndcg@10" in metrics["fine_tuned"]  # the main dataset's figures as before


def test_a_source_whose_loss_refuses_its_format_fails_before_loading(compose_cfg) -> None:
    cfg = compose_cfg(*TINY, "dataset_mix=stsb", "dataset_mix.sources.stsb.data_format.name=pairs")
    with pytest.raises(
        EmbtuneError, match=r"dataset_mix.sources.stsb: loss=cosent does not train on data_format=pairs"
    ):
        check_choices(cfg)
    with pytest.raises(EmbtuneError, match=r"dataset_mix.sampler='zigzag'"):
        check_choices(compose_cfg(*TINY, "dataset_mix=stsb", "dataset_mix.sampler=zigzag"))


def test_a_mix_sweep_through_the_cli(tmp_path: Path) -> None:
    out, sts = tmp_path / "out", _sts(tmp_path)
    result = run_cli(
        "embtune.train",
        "-m",
        *TINY,
        f"paths.cache_dir={TINY_CACHE}",
        "dataset_mix=none,stsb",
        f"paths.data_dir={sts.parent}",  # <data_dir>/stsb: the mix's source (and the regression set)
        f"paths.output_dir={out}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (out / "train" / "multiruns").iterdir()
    single, mixed = (json.loads(p.read_text()) for p in sorted(sweep.glob("*/metrics.json")))
    assert "datasets" not in single and single["train"]["examples_per_dataset"] is None
    assert set(mixed["train"]["examples_per_dataset"]) == {"default", "stsb"} and "stsb" in mixed["datasets"]
