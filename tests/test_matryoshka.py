"""Matryoshka: loss.matryoshka.dims wraps the configured loss in sentence-transformers' MatryoshkaLoss, and every
run reports its main metric per dimension, zero-shot and fine-tuned, from truncated embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_CACHE, run_cli
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss

from embtune.dataset.prepared import load_data
from embtune.errors import EmbtuneError
from embtune.evaluation.evaluators import EvalInputs, build_evaluator, evaluate_model, evaluate_per_dim
from embtune.model.tiny import build_tiny_model
from embtune.train import train
from embtune.training.losses import build_loss

TINY = ["model=tiny", "trainer=debug", "evaluate_bm25=false", "save_model=false"]


def test_dims_wrap_the_loss_and_are_checked(compose_cfg, tmp_path: Path) -> None:
    model = SentenceTransformer(str(build_tiny_model(tmp_path / "m")))
    cfg = compose_cfg(*TINY, "loss.matryoshka.dims=[64,32,16]")
    loss = build_loss(cfg.loss, model)
    assert isinstance(loss, MatryoshkaLoss) and list(loss.matryoshka_dims) == [64, 32, 16]
    assert not isinstance(build_loss(compose_cfg(*TINY).loss, model), MatryoshkaLoss)
    for bad in ("[16,64]", "[64,0]", "[64,1.5]"):
        with pytest.raises(EmbtuneError, match=r"loss.matryoshka.dims=.*largest first"):
            build_loss(compose_cfg(*TINY, f"loss.matryoshka.dims={bad}").loss, model)


def test_per_dim_retrieval_from_one_corpus_encoding_equals_encoding_truncated(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg(*TINY)
    model = SentenceTransformer(str(build_tiny_model(tmp_path / "m")))
    evaluator = build_evaluator(cfg.evaluator, EvalInputs(load_data(cfg), "test"))
    fast = evaluate_per_dim(model, evaluator, [64, 16], "ndcg@10")
    assert fast["64"] == pytest.approx(evaluate_model(model, evaluator)["ndcg@10"], abs=1e-9)
    model.truncate_dim = 16  # the slow way: everything encoded at 16 dims
    assert fast["16"] == pytest.approx(evaluate_model(model, evaluator)["ndcg@10"], abs=1e-6)


def test_a_matryoshka_run_reports_per_dim_in_process(compose_cfg, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    cfg = compose_cfg(*TINY, "loss.matryoshka.dims=[64,32,16]", "trainer.keep_base_if_better=false")
    metrics = train(cfg, tmp_path / "run")
    per_dim = metrics["per_dim"]
    assert list(per_dim) == ["zero_shot", "fine_tuned"] and list(per_dim["fine_tuned"]) == ["64", "32", "16"]
    assert per_dim["zero_shot"]["64"] == pytest.approx(metrics["zero_shot"]["ndcg@10"], abs=1e-9)
    assert per_dim["fine_tuned"]["64"] == pytest.approx(metrics["fine_tuned"]["ndcg@10"], abs=1e-9)
    assert "fine_tuned ndcg@10 per dim: 64:" in capsys.readouterr().out


def test_a_matryoshka_sweep_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "embtune.train",
        "-m",
        *TINY,
        f"paths.cache_dir={TINY_CACHE}",
        "loss.matryoshka.dims=null,[64,16]",
        f"paths.output_dir={out}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (out / "train" / "multiruns").iterdir()
    runs = sorted(p for p in sweep.iterdir() if (p / "metrics.json").is_file())
    plain, matryoshka = (json.loads((p / "metrics.json").read_text()) for p in runs)
    assert "per_dim" not in plain and list(matryoshka["per_dim"]["fine_tuned"]) == ["64", "16"]
