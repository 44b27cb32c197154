"""Levers for harder training signal: several negatives in one row (multi_negatives), a second mining round with a
fine-tuned model (mining.model_path), and a GIST guide that is another model (loss.guide=<name or dir>)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY_CACHE, run_cli
from omegaconf import OmegaConf

from embtune.dataset.formats import build_rows
from embtune.dataset.mining import mine_dense_negatives
from embtune.dataset.types import RetrievalData
from embtune.errors import EmbtuneError
from embtune.model.loading import load_base_model
from embtune.train import train
from embtune.training.losses import build_loss
from embtune.training.trainer import column_prompts

TINY = ["model=tiny", "trainer=debug", f"paths.cache_dir={TINY_CACHE}"]


def _toy() -> RetrievalData:
    corpus = {f"d{i}": f"passage {i} about billing and churn number {i}" for i in range(12)}
    queries = {f"q{i}": f"billing churn question {i}" for i in range(4)}
    negatives = {"q0": ["d5", "d6", "d7"], "q1": ["d8", "d9", "d10"], "q2": ["d11", "d4", "d5"], "q3": ["d6"]}
    qrels = {"train": {"q0": {"d0": 1}, "q1": {"d1": 1, "d2": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}}}
    return RetrievalData("toy", corpus, queries, qrels, negatives)


def _fmt(n: int):  # noqa: ANN202
    return OmegaConf.merge(
        OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "data_format" / "multi_negatives.yaml"),
        {"negatives_per_pair": n},
    )


def test_multi_negative_rows_hold_n_negatives_per_pair_and_count_the_short(caplog) -> None:
    data = _toy()
    rows = build_rows(data, "train", _fmt(3), data.negatives)
    assert rows.column_names == ["anchor", "positive", "negative_1", "negative_2", "negative_3"]
    # q0 once, q1 twice (two positives), q2 once; q3 has one negative of 3: left out, and the warning says so
    assert len(rows) == 4
    first = rows[0]
    assert (first["anchor"], first["positive"]) == (data.queries["q0"], data.corpus["d0"])
    assert [first[f"negative_{i}"] for i in (1, 2, 3)] == [data.corpus[d] for d in ("d5", "d6", "d7")]
    assert "1 pairs left out of multi_negatives rows" in caplog.text
    assert len(build_rows(data, "train", _fmt(1), data.negatives)) == 5  # every pair has >= 1 negative
    with pytest.raises(EmbtuneError, match="negatives_per_pair=0"):
        build_rows(data, "train", _fmt(0), data.negatives)


def test_numbered_negative_columns_get_the_document_prompt() -> None:
    prompts = OmegaConf.create({"query": "query: ", "document": "passage: "})
    columns = ["anchor", "positive", "negative_1", "negative_2"]
    assert column_prompts(_fmt(2), prompts, columns) == {
        "anchor": "query: ",
        "positive": "passage: ",
        "negative": "passage: ",
        "negative_1": "passage: ",
        "negative_2": "passage: ",
    }


def test_mnrl_trains_on_multi_negative_rows_mined_by_bm25(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg(
        *TINY,
        "data_format=multi_negatives",
        "data_format.negatives_per_pair=2",
        "mining=bm25",
        "mining.num_negatives=3",
        "evaluate_bm25=false",
        "save_model=false",
    )
    metrics = train(cfg, tmp_path / "run")
    assert metrics["train"]["steps"] == 4 and metrics["train"]["mining"]["negatives_per_query"] >= 2


def test_triplet_loss_refuses_multi_negative_rows_before_loading(tmp_path: Path) -> None:
    result = run_cli(
        "embtune.train", *TINY, "loss=triplet", "data_format=multi_negatives", f"paths.output_dir={tmp_path}"
    )
    assert result.returncode == 1
    assert "error: loss=triplet does not train on data_format=multi_negatives" in result.stderr
    assert "Traceback" not in result.stderr


def test_second_round_mining_uses_the_saved_model(compose_cfg, tmp_path: Path, caplog) -> None:  # noqa: ANN001
    cfg = compose_cfg("model=tiny", "mining=dense")
    model, _ = load_base_model(cfg.model, cfg.paths.cache_dir)
    with torch.no_grad():  # a different model than the base: its first layer shifted
        next(model.parameters()).add_(0.5)
    saved = tmp_path / "round1" / "model"
    model.save(str(saved))
    common = dict(range_max=10, num_negatives=2, relative_margin=None)
    data = _toy()
    with caplog.at_level("INFO", logger="embtune.dataset.mining"):
        second = mine_dense_negatives(data, "train", cfg.model, cfg.paths.cache_dir, model_path=str(saved), **common)
    # one closing line: what was mined, with which model, in how long, and how many queries came up short
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("dense mining")]
    found = sum(len(n) for n in second.values())
    assert (
        f"(train, {saved}): {found} negatives for {len(second)} queries" in line and "queries with fewer than 2" in line
    )
    direct = OmegaConf.create({"name_or_path": str(saved), "max_seq_length": 64, "prompts": None})
    assert second == mine_dense_negatives(data, "train", direct, cfg.paths.cache_dir, **common)
    for qid, negs in second.items():
        assert len(negs) == 2 and not set(negs) & set(data.qrels["train"][qid])
    with pytest.raises(EmbtuneError, match=r"mining.model_path=.*no such directory.*model/"):
        mine_dense_negatives(data, "train", cfg.model, cfg.paths.cache_dir, model_path=str(tmp_path / "nope"))


def test_gist_guide_can_be_another_model(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg(*TINY, "loss=gist")
    model, _ = load_base_model(cfg.model, cfg.paths.cache_dir)
    base_guided = build_loss(cfg.loss, model, cfg.paths.cache_dir).guide
    assert base_guided is not model and not any(p.requires_grad for p in base_guided.parameters())
    guide_dir = tmp_path / "guide"
    model.save(str(guide_dir))
    saved = next(model.parameters()).detach().clone()
    with torch.no_grad():
        next(model.parameters()).add_(1.0)  # the trained model moves on; the guide on disk does not
    cfg.loss.guide = str(guide_dir)
    guide = build_loss(cfg.loss, model, cfg.paths.cache_dir).guide
    assert torch.equal(next(guide.parameters()), saved) and not torch.equal(next(model.parameters()), saved)
    assert not any(p.requires_grad for p in guide.parameters())
    cfg.loss.guide = str(tmp_path / "missing")
    with pytest.raises(EmbtuneError, match="missing"):
        build_loss(cfg.loss, model, cfg.paths.cache_dir)


def test_two_rounds_mine_round_two_with_round_one_model(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    recipe = [*TINY, "data_format=triplets", "mining=bm25", "mining.num_negatives=1", "mining.relative_margin=null"]
    recipe.append(f"paths.output_dir={out}")
    result = run_script("two_round.py", *recipe)
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = sorted((out / "train" / "runs").iterdir())
    assert "-round1_tiny_default_mnrl_triplets" in first.name and "-round2_tiny_default_mnrl_triplets" in second.name
    config = OmegaConf.load(second / ".hydra" / "config.yaml")
    assert config.mining.name == "dense" and config.mining.model_path == str(first / "model")
    assert config.mining.num_negatives == 1 and (second / "metrics.json").is_file()
    mined = json.loads((second / "metrics.json").read_text())["train"]["mining"]
    assert mined["negatives_per_query"] >= 1
    assert result.stdout.strip().splitlines()[-1].startswith(f"two rounds: round 1 {first}, round 2 {second}")
    again = run_script("two_round.py", "--round1", str(tmp_path / "nope"), *recipe)
    assert again.returncode == 1 and again.stderr.strip().startswith("error: round 1 left no model to mine with")


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("ROUND1", None)
    command = [sys.executable, f"benchmarks/{name}", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
