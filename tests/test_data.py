"""Loading sources into RetrievalData, dev carving, formats, and clear errors on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CONF_DIR, SHARED_DATA, needs_shared_data, write_jsonl
from omegaconf import OmegaConf

from embtune.dataset.formats import build_rows
from embtune.dataset.sources import load_beir, load_pairs
from embtune.dataset.splits import carve_dev_split
from embtune.errors import EmbtuneError


def _fmt(name: str):
    return OmegaConf.load(CONF_DIR / "data_format" / f"{name}.yaml")


@pytest.fixture
def pairs_data(tmp_path: Path):
    rows = [{"query": f"q{i}", "positive": f"pos {i}", "negative": f"neg {i}"} for i in range(10)]
    rows.append({"query": "q0", "positive": "second pos 0"})  # same query, a second positive
    return load_pairs(
        "toy",
        {
            "train": str(write_jsonl(tmp_path / "train.jsonl", rows[:8] + rows[10:])),
            "test": str(write_jsonl(tmp_path / "test.jsonl", rows[8:10])),
        },
    )


def test_jsonl_pairs_become_queries_corpus_qrels(pairs_data) -> None:
    assert len(pairs_data.queries) == 10
    assert len(pairs_data.corpus) == 21  # 10 positives + 10 negatives + 1 extra positive
    assert sum(len(d) for d in pairs_data.qrels["train"].values()) == 9
    q0 = next(q for q, t in pairs_data.queries.items() if t == "q0")
    assert len(pairs_data.qrels["train"][q0]) == 2
    assert [pairs_data.corpus[n] for n in pairs_data.negatives[q0]] == ["neg 0"]


@pytest.mark.parametrize(
    ("fmt", "columns", "n_rows"),
    [
        ("pairs", ["anchor", "positive"], 9),
        ("triplets", ["anchor", "positive", "negative"], 9),
        ("scored", ["sentence1", "sentence2", "score"], 9 + 8),
        ("binary", ["sentence1", "sentence2", "label"], 9 + 8),
    ],
)
def test_every_format_from_one_dataset(pairs_data, fmt: str, columns: list[str], n_rows: int) -> None:
    ds = build_rows(pairs_data, "train", _fmt(fmt), pairs_data.negatives)
    assert ds.column_names == columns and len(ds) == n_rows
    if fmt == "scored":
        assert sorted(set(ds["score"])) == [0.0, 1.0]
    if fmt == "binary":
        assert sorted(set(ds["label"])) == [0, 1]


def test_formats_needing_negatives_say_how_to_get_them(pairs_data) -> None:
    with pytest.raises(EmbtuneError, match="mining=bm25"):
        build_rows(pairs_data, "train", _fmt("triplets"), {})


def test_bad_json_line_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "train.jsonl"
    f.write_text('{"query": "a", "positive": "b"}\n{"query": "c", "positive": \n')
    with pytest.raises(EmbtuneError, match=rf"{f}:2: not valid JSON"):
        load_pairs("x", {"train": str(f)})


def test_missing_column_names_it_and_the_columns_found(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "train.jsonl", [{"question": "a", "positive": "b"}])
    with pytest.raises(
        EmbtuneError, match=r"train.jsonl:1: missing column 'query' \(columns found: positive, question\)"
    ):
        load_pairs("x", {"train": str(f)})


def test_empty_split_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "test.jsonl"
    f.write_text("\n")
    with pytest.raises(EmbtuneError, match="split 'test' has no rows"):
        load_pairs("x", {"test": str(f)})


def test_dev_split_is_deterministic_and_disjoint(pairs_data) -> None:
    a = carve_dev_split(pairs_data, 0.25, seed=1)
    b = carve_dev_split(pairs_data, 0.25, seed=1)
    assert a.qrels["dev"] == b.qrels["dev"] and len(a.qrels["dev"]) == 2
    assert not set(a.qrels["dev"]) & set(a.qrels["train"])
    assert set(a.qrels["dev"]) | set(a.qrels["train"]) == set(pairs_data.qrels["train"])


def _beir(tmp_path: Path, qrels: str) -> Path:
    root = tmp_path / "toy"
    write_jsonl(root / "corpus.jsonl", [{"_id": "d1", "title": "T", "text": "one"}, {"_id": "d2", "text": "two"}])
    write_jsonl(root / "queries.jsonl", [{"_id": "q1", "text": "first"}, {"_id": "q2", "text": "second"}])
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return root


def test_beir_dir_loads_titles_and_drops_zero_scores(tmp_path: Path) -> None:
    data = load_beir("toy", str(_beir(tmp_path, "q1\td1\t1\nq2\td2\t0\nq2\td1\t2\n")), ["test"])
    assert data.corpus == {"d1": "T one", "d2": "two"}
    assert data.qrels["test"] == {"q1": {"d1": 1}, "q2": {"d1": 2}}


def test_beir_qrels_with_unknown_id_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(EmbtuneError, match=r"test.tsv:3: corpus id 'd9' is not in corpus.jsonl"):
        load_beir("toy", str(_beir(tmp_path, "q1\td1\t1\nq2\td9\t1\n")), ["test"])


def test_missing_data_dir_says_how_to_set_it(tmp_path: Path) -> None:
    with pytest.raises(EmbtuneError, match="paths.data_dir"):
        load_beir("scifact", str(tmp_path / "nope" / "scifact"), ["test"])


@needs_shared_data
def test_scifact_from_shared_data() -> None:
    data = load_beir("scifact", str(SHARED_DATA / "scifact"), ["train", "test"])
    assert (len(data.corpus), len(data.queries)) == (5183, 1109)
    assert (len(data.qrels["train"]), len(data.qrels["test"])) == (809, 300)
    assert sum(len(d) for d in data.qrels["test"].values()) == 339


def test_csv_tsv_parquet_and_column_mapping_load_alike(tmp_path: Path) -> None:
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"question": f"q {i}", "answer": f"a {i}", "wrong": f"w {i}"} for i in range(4)]
    for suffix, delim in ((".csv", ","), (".tsv", "\t")):
        with (tmp_path / f"t{suffix}").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delim)
            writer.writeheader()
            writer.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    write_jsonl(tmp_path / "t.jsonl", rows)
    columns = {"query": "question", "positive": "answer", "negative": "wrong"}
    loaded = [
        load_pairs("x", {"train": str(tmp_path / f"t{s}")}, columns) for s in (".csv", ".tsv", ".parquet", ".jsonl")
    ]
    assert all(d.fingerprint() == loaded[0].fingerprint() for d in loaded)
    assert len(loaded[0].corpus) == 8 and sum(map(len, loaded[0].negatives.values())) == 4


def test_scored_pairs_split_into_positives_and_negatives(tmp_path: Path) -> None:
    rows = [{"query": "q", "document": "good", "score": 0.9}, {"query": "q", "document": "bad", "score": 0.1}]
    data = load_pairs("x", {"train": str(write_jsonl(tmp_path / "s.jsonl", rows))})
    (qid,) = data.qrels["train"]
    assert [data.corpus[d] for d in data.qrels["train"][qid]] == ["good"]
    assert [data.corpus[d] for d in data.negatives[qid]] == ["bad"]


@pytest.mark.parametrize(("score", "message"), [("high", "must be a number"), (4.5, r"outside \[0.0, 1.0\]")])
def test_bad_scores_name_the_line(tmp_path: Path, score, message: str) -> None:
    rows = [{"query": "q", "document": "d", "score": 0.5}, {"query": "q", "document": "e", "score": score}]
    with pytest.raises(EmbtuneError, match=rf"s.jsonl:2: column 'score'.*{message}"):
        load_pairs("x", {"train": str(write_jsonl(tmp_path / "s.jsonl", rows))})


def test_hub_dataset_offline_is_a_clear_error(tmp_path: Path) -> None:
    from conftest import run_cli

    # a fresh process: datasets reads HF_DATASETS_OFFLINE when it is imported
    result = run_cli(
        "embtune.prepare", "dataset=scifact_hub", f"paths.output_dir={tmp_path}", env={"HF_DATASETS_OFFLINE": "1"}
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "could not load 'BeIR/scifact'" in last and "paths.data_dir" in last and "Traceback" not in result.stderr
