"""The recipe end to end on the tiny model: real sentence-transformers training, real evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_CACHE, only_run_dir, run_cli, write_jsonl
from sentence_transformers import SentenceTransformer

from embtune.model.loading import weights_sha256
from embtune.train import train
from embtune.training.trainer import column_prompts

TINY = ["model=tiny", "trainer=debug", f"paths.cache_dir={TINY_CACHE}"]


def test_cli_run_writes_metrics_run_info_and_model(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    result = run_cli("embtune.train", *TINY, f"paths.output_dir={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = only_run_dir(out)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["dataset"] == "default" and metrics["main_metric"] == "ndcg@10"
    for block in ("bm25", "zero_shot", "fine_tuned"):
        assert 0.0 <= metrics[block]["ndcg@10"] <= 1.0
        assert {"mrr@10", "map@100", "recall@100"} <= set(metrics[block])
    delta = metrics["delta"]
    assert delta["vs_zero_shot"] == pytest.approx(metrics["fine_tuned"]["ndcg@10"] - metrics["zero_shot"]["ndcg@10"])
    assert metrics["train"]["steps"] == 4 and metrics["train"]["examples"] > 0
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["model"]["source"] == "built" and len(info["model"]["weights_sha256"]) == 64
    assert len(info["dataset_fingerprint"]) == 16 and info["packages"]["sentence-transformers"].startswith("6.")
    assert (run_dir / "model" / "model.safetensors").is_file()
    assert not (run_dir / "checkpoints").exists()  # finished: optimizer checkpoints dropped (keep_checkpoints=none)
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert not (run_dir / "FAILED").exists()
    assert "fine_tuned" in result.stdout and "zero_shot" in result.stdout  # the printed table


@pytest.mark.parametrize(
    ("loss", "fmt"),
    [
        ("mnrl", "triplets"),
        ("triplet", "triplets"),
        ("cosent", "scored"),
        ("contrastive", "binary"),
        ("cached_mnrl", "pairs"),
        ("gist", "triplets"),
        ("cached_gist", "pairs"),
    ],
)
def test_every_loss_trains_on_its_format(compose_cfg, tmp_path: Path, loss: str, fmt: str) -> None:
    cfg = compose_cfg(*TINY, f"loss={loss}", f"data_format={fmt}", "evaluate_bm25=false", "save_model=false")
    metrics = train(cfg, tmp_path / "run")
    assert metrics["train"]["steps"] == 4
    assert set(metrics) >= {"zero_shot", "fine_tuned", "delta"}
    # save_model=false: the best checkpoint's weights are the only copy, so they stay (without optimizer state)
    (kept,) = (tmp_path / "run" / "checkpoints").glob("checkpoint-*")
    assert (kept / "model.safetensors").is_file() and not (kept / "optimizer.pt").exists()
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["fine_tuned"] == metrics["fine_tuned"]


def test_training_changes_the_weights(compose_cfg, tmp_path: Path) -> None:
    # keep_base_if_better=false: the fine-tuned weights are saved even if 4 steps did not beat the base on dev
    cfg = compose_cfg(*TINY, "evaluate_bm25=false", "evaluate_zero_shot=false", "trainer.keep_base_if_better=false")
    train(cfg, tmp_path / "run")
    info = json.loads((tmp_path / "run" / "run_info.json").read_text())
    assert weights_sha256(tmp_path / "run" / "model") != info["model"]["weights_sha256"]


def test_bm25_mined_triplets_train(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg(*TINY, "data_format=triplets", "mining=bm25", "evaluate_bm25=false", "save_model=false")
    metrics = train(cfg, tmp_path / "run")
    assert metrics["train"]["examples"] > 100


def test_e5_prompts_reach_training_and_evaluation(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg(
        *TINY,
        "model.prompts={query:'query: ',document:'passage: '}",
        "data_format=triplets",
        "evaluate_bm25=false",
        "save_model=false",
    )
    assert column_prompts(cfg.data_format, cfg.model.prompts) == {
        "anchor": "query: ",
        "positive": "passage: ",
        "negative": "passage: ",
    }
    metrics = train(cfg, tmp_path / "run")
    assert metrics["train"]["steps"] == 4
    (kept,) = (tmp_path / "run" / "checkpoints").glob("checkpoint-*")  # save_model=false keeps the best one
    saved = SentenceTransformer(str(kept))
    assert saved.prompts["query"] == "query: " and saved.prompts["document"] == "passage: "


def test_custom_jsonl_files_train(compose_cfg, tmp_path: Path) -> None:
    rows = [
        {
            "query": f"how do I fix issue {i}",
            "positive": f"resolution {i}: restart the unit {i}",
            "negative": f"unrelated note {i}",
        }
        for i in range(30)
    ]
    train_file = write_jsonl(tmp_path / "d" / "train.jsonl", rows[:24])
    test_file = write_jsonl(tmp_path / "d" / "test.jsonl", rows[24:])
    cfg = compose_cfg(
        *TINY,
        f"dataset.source.files.train={train_file}",
        f"dataset.source.files.test={test_file}",
        "save_model=false",
    )
    metrics = train(cfg, tmp_path / "run")
    assert metrics["train"]["examples"] == 24 - 2  # dev_fraction 0.1 of 24 queries -> 2 held out


def test_wandb_logger_writes_an_offline_run_in_the_run_dir(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    result = run_cli(
        "embtune.train",
        *TINY,
        "logger=wandb",
        "evaluate_bm25=false",
        f"paths.output_dir={out}",
        env={"WANDB_API_KEY": "", "WANDB_MODE": "offline"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = only_run_dir(out)
    offline_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1
    assert list(offline_runs[0].glob("run-*.wandb"))


def test_zero_shot_evaluation_is_cached_across_runs(compose_cfg, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    overrides = (*TINY, f"paths.cache_dir={cache}", "evaluate_bm25=false", "save_model=false")
    first = train(compose_cfg(*overrides), tmp_path / "run1")
    # the base on test (zero-shot), on dev (step 0) and per dev query, the last averaging to the dev figure
    entries = {e.name.split(".", 1)[1]: json.loads(e.read_text())["metrics"] for e in (cache / "eval").glob("*.json")}
    assert sorted(entries) == ["json", "per_query_ndcg@10.json", "raw.json"]
    dev = [v for k, v in entries["raw.json"].items() if k.endswith("ndcg@10")]
    per_query = entries["per_query_ndcg@10.json"]
    assert dev and sum(per_query.values()) / len(per_query) == pytest.approx(dev[0], abs=1e-9)
    second = train(compose_cfg(*overrides, "seed=7"), tmp_path / "run2")
    assert second["zero_shot"] == first["zero_shot"]
    hits = [json.loads((tmp_path / r / "run_info.json").read_text())["zero_shot_cache_hit"] for r in ("run1", "run2")]
    assert hits == [False, True]
    assert len(list((cache / "eval").glob("*.json"))) == 5  # seed 7 carves another dev split: its own two entries
    # another max_seq_length encodes differently: a new entry, not a stale hit
    train(compose_cfg(*overrides, "model.max_seq_length=32"), tmp_path / "run3")
    assert len(list((cache / "eval").glob("*.json"))) == 8


def _write_sts(root: Path) -> Path:
    import csv
    import random

    rng = random.Random(0)
    words = ["churn", "billing", "roaming", "invoice", "refund", "network", "plan", "upgrade", "ticket", "signal"]
    for split, n in (("train", 40), ("dev", 12), ("test", 12)):
        (root / "stsb").mkdir(parents=True, exist_ok=True)
        with (root / "stsb" / f"{split}.tsv").open("w", newline="") as f:
            writer = csv.writer(f, delimiter="\t")
            writer.writerow(["sentence1", "sentence2", "score"])
            for _ in range(n):
                a, b = rng.sample(words, 3), rng.sample(words, 3)
                writer.writerow([" ".join(a), " ".join(b), round(5 * len(set(a) & set(b)) / 3, 2)])
    return root


def test_scored_sentence_pairs_train_with_cosent_and_sts_evaluator(compose_cfg, tmp_path: Path) -> None:
    root = _write_sts(tmp_path / "data")
    cfg = compose_cfg(
        *TINY,
        "dataset=stsb",
        f"paths.data_dir={root}",
        "data_format=scored",
        "loss=cosent",
        "evaluator=sts",
        "save_model=false",
    )
    metrics = train(cfg, tmp_path / "run")
    assert metrics["main_metric"] == "spearman" and "bm25" not in metrics
    assert -1 <= metrics["fine_tuned"]["spearman"] <= 1 and "pearson" in metrics["zero_shot"]
    assert metrics["train"]["examples"] == 40


def test_ir_plus_triplet_evaluators_report_both(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg(*TINY, "evaluator=ir_triplet", "save_model=false", "evaluate_bm25=false")
    metrics = train(cfg, tmp_path / "run")
    for block in ("zero_shot", "fine_tuned"):
        assert "ndcg@10" in metrics[block] and 0 <= metrics[block]["triplet/accuracy"] <= 1


def test_tensorboard_logger_writes_event_files(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg(*TINY, "logger=tensorboard", "evaluate_bm25=false", "save_model=false")
    train(cfg, tmp_path / "run")
    assert list((tmp_path / "run" / "tb").rglob("events.out.tfevents.*"))
