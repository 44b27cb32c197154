"""The data-preparation stage: quality filter, mining cache, the prepare CLI and its stats."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import CONF_DIR, SHARED_DATA, needs_shared_data, run_cli, write_jsonl
from datasets import load_from_disk
from omegaconf import OmegaConf

from embtune.dataset.mining import mine_cached
from embtune.dataset.quality import dropped_counts, filter_split
from embtune.dataset.sources import load_pairs
from embtune.dataset.types import RetrievalData


def _prepare(tmp_path: Path, *args: str) -> tuple[Path, dict]:
    """A finished ``embtune.prepare`` run with ``args``: its dir and stats.json."""
    result = run_cli("embtune.prepare", *args, f"paths.output_dir={tmp_path}/out")
    assert result.returncode == 0, result.stderr[-2000:]
    (out,) = (tmp_path / "out" / "prepare" / "runs").iterdir()
    return out, json.loads((out / "stats.json").read_text())


def _quality(**overrides):
    cfg = OmegaConf.load(CONF_DIR / "quality" / "default.yaml")
    return OmegaConf.merge(cfg, overrides)


def test_quality_filter_counts_every_rule(tmp_path: Path) -> None:
    rows = [
        {"query": "ok query here", "positive": "a perfectly fine passage with enough words"},
        {"query": "short", "positive": "a perfectly fine passage with enough words again"},
        {"query": "tiny positive", "positive": "too short"},
        {"query": "refund policy", "positive": "our refund policy allows returns for thirty days"},
        {"query": "OK query here", "positive": "A perfectly fine passage with enough words"},
    ]
    data = load_pairs("q", {"train": str(write_jsonl(tmp_path / "t.jsonl", rows))})
    # fixed counts (the relative defaults are tested in tests/unit/dataset/test_quality.py)
    fixed = _quality(min_query_words=2, min_positive_words=5, keyword_query_words=0, max_drop=None)
    filtered, report = filter_split(data, "train", fixed)
    assert report.pop("thresholds")["min_query_words"] == 2
    assert report == {
        "short_query": 1,
        "short_positive": 1,
        "query_in_positive": 1,
        "duplicate": 1,
        "total": 5,
        "kept": 1,
    }
    assert sum(len(d) for d in filtered.qrels["train"].values()) == 1
    _, off = filter_split(data, "train", _quality(enabled=False))
    assert off["kept"] == 5


def _toy() -> RetrievalData:
    corpus = {f"d{i}": f"passage {i} about billing and churn number {i}" for i in range(20)}
    queries = {f"q{i}": f"billing churn {i}" for i in range(5)}
    return RetrievalData("toy", corpus, queries, {"train": {f"q{i}": {f"d{i}": 1} for i in range(5)}})


def test_mining_is_cached_by_data_and_config(tmp_path: Path) -> None:
    mining = OmegaConf.load(CONF_DIR / "mining" / "bm25.yaml")
    first, s1 = mine_cached(_toy(), "train", mining, tmp_path)
    second, s2 = mine_cached(_toy(), "train", mining, tmp_path)
    assert first == second and (s1["cache_hit"], s2["cache_hit"]) == (False, True)
    assert s1["negatives_per_query"] == 1.0
    _, s3 = mine_cached(_toy(), "train", OmegaConf.merge(mining, {"num_negatives": 3}), tmp_path)
    assert s3["cache_hit"] is False and s3["negatives_per_query"] == 3.0
    assert len(list((tmp_path / "mining").glob("*.json"))) == 2


def test_prepare_cli_writes_dataset_and_stats(tmp_path: Path) -> None:
    result = run_cli(
        "embtune.prepare",
        "data_format=triplets",
        f"paths.output_dir={tmp_path}/out",
        f"paths.cache_dir={tmp_path}/cache",
        "save_format=hf",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (out,) = (tmp_path / "out" / "prepare" / "runs").iterdir()
    stats = json.loads((out / "stats.json").read_text())
    ds = load_from_disk(str(out / "dataset"))
    assert set(ds) == {"train", "dev"} and ds["train"].column_names == ["anchor", "positive", "negative"]
    assert stats["rows"] == {"train": len(ds["train"]), "dev": len(ds["dev"])}
    assert stats["queries"]["test"] == 80 and stats["quality"]["kept"] > 0
    assert '"rows"' in result.stdout


def test_prepare_cli_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "a b", "positive": "c d e f g"}\n{oops}\n')
    result = run_cli("embtune.prepare", f"dataset.source.files.train={bad}", f"paths.output_dir={tmp_path}/out")
    assert result.returncode == 1
    assert f"error: {bad}:2: not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


@needs_shared_data
def test_prepare_scifact_triplets_jsonl(tmp_path: Path) -> None:
    out, stats = _prepare(
        tmp_path,
        "dataset=scifact",
        f"paths.data_dir={SHARED_DATA}",
        "data_format=triplets",
        "mining=bm25",
        "save_format=jsonl",
        f"paths.cache_dir={tmp_path}/cache",
    )
    quality = stats["quality"]
    assert stats["queries"]["dev"] == 81 and 800 < quality["total"] < 919  # 919 train judgements, minus dev
    assert quality["kept"] == quality["total"] - sum(dropped_counts(quality).values())
    assert stats["mining"]["train"]["negatives_per_query"] == 1.0
    first = json.loads((out / "train.jsonl").read_text().splitlines()[0])
    assert set(first) == {"anchor", "positive", "negative"} and first["positive"] != first["negative"]


def test_dense_mining_with_the_tiny_model_excludes_positives(compose_cfg) -> None:
    from hydra.utils import instantiate

    from embtune.dataset.mining import mine_dense_negatives

    cfg = compose_cfg("model=tiny", "mining=dense")
    data = _toy()
    negatives = mine_dense_negatives(
        data, "train", cfg.model, cfg.paths.cache_dir, range_max=10, num_negatives=2, relative_margin=None
    )
    assert set(negatives) == set(data.qrels["train"])
    for qid, negs in negatives.items():
        assert len(negs) == 2 and not set(negs) & set(data.qrels["train"][qid])
    assert negatives == mine_dense_negatives(
        data, "train", cfg.model, cfg.paths.cache_dir, range_max=10, num_negatives=2, relative_margin=None
    )
    params = {k: v for k, v in OmegaConf.to_container(cfg.mining, resolve=True).items() if k != "name"}
    assert params["model"]["name_or_path"].endswith("embtune-tiny-bert") and callable(instantiate(params))


def test_dense_mining_with_faiss_finds_the_same_negatives(compose_cfg, tmp_path: Path) -> None:
    """The large-corpus path (faiss-cpu index, small search batches, embeddings cached) mines what exact search does."""
    from embtune.dataset.mining import mine_dense_negatives

    cfg = compose_cfg("model=tiny", "mining=dense")
    common = dict(range_max=10, num_negatives=2, relative_margin=None)
    exact = mine_dense_negatives(_toy(), "train", cfg.model, cfg.paths.cache_dir, **common)
    with_faiss = mine_dense_negatives(
        _toy(),
        "train",
        cfg.model,
        cfg.paths.cache_dir,
        use_faiss=True,
        faiss_batch_size=3,
        embeddings_cache=str(tmp_path / "emb"),
        **common,
    )
    assert with_faiss == exact


def test_prepare_cli_dense_mining_with_the_tiny_model(tmp_path: Path) -> None:
    from conftest import TINY_CACHE

    out, stats = _prepare(
        tmp_path,
        "model=tiny",
        "mining=dense",
        "mining.relative_margin=null",
        "data_format=triplets",
        "splits=[train]",
        f"paths.cache_dir={TINY_CACHE}",
    )
    assert stats["mining"]["train"]["miner"] == "dense" and stats["rows"]["train"] > 100


def test_a_positive_the_filter_drops_never_becomes_a_negative(compose_cfg, tmp_path: Path) -> None:
    from embtune.dataset.prepared import prepare_data

    rows = [
        {"query": f"billing question {i}", "positive": f"billing answer passage number {i} for you"} for i in range(12)
    ]
    rows.append({"query": "billing question 0", "positive": "see billing question 0 answered right here"})
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    cfg = compose_cfg(
        "data_format=triplets",
        "mining=bm25",
        "mining.num_negatives=20",
        "mining.range_max=30",
        f"dataset.source.files.train={train}",
        f"dataset.source.files.test={train}",
        "dataset.dev_fraction=0",
        "quality.keyword_query_words=2",  # a 3-word query copied into its positive counts as copied here
        "quality.max_drop=null",
    )
    prepared = prepare_data(cfg)
    assert prepared.stats["quality"]["query_in_positive"] == 1
    dropped = "see billing question 0 answered right here"
    assert all(r["negative"] != dropped for r in prepared.rows["train"] if r["anchor"] == "billing question 0")


def test_one_positive_per_query_makes_a_pass_over_queries(tmp_path: Path) -> None:
    """Dense relevance: a query judged 5 times trains once per pass, not 5 times (``dataset.positives_per_query``)."""
    rows = [
        {"query": f"question number {q}", "positive": f"passage {q}.{p} with enough words in it"}
        for q in range(12)
        for p in range(1 + q % 5)
    ]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    files = ["dataset=files", f"dataset.source.files.train={train}", "dataset.dev_fraction=0"]
    _, every = _prepare(tmp_path / "every", *files)
    _, one = _prepare(tmp_path / "one", *files, "++dataset.positives_per_query=1")
    assert every["rows"]["train"] == len(rows) and one["rows"]["train"] == 12
    assert one["positives_per_query"] == {"positives_before": len(rows), "positives_after": 12}
