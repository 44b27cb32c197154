"""Real users' files load as written or stop with one line: encodings, quoting, ids, judgements, pair files,
scripts without spaces, leakage between splits. Each class once through the real CLI, in one sweep process."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import CONF_DIR, run_cli, write_jsonl
from omegaconf import OmegaConf

from embtune.dataset.checks import build_report, enforce
from embtune.dataset.formats import build_rows
from embtune.dataset.quality import count_words, filter_split
from embtune.dataset.sources import load_beir, load_pairs
from embtune.dataset.splits import carve_dev_split
from embtune.errors import EmbtuneError

FORMAT = {name: OmegaConf.load(CONF_DIR / "data_format" / f"{name}.yaml") for name in ("scored", "binary", "pairs")}


def _tsv(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --- pair files keep what the user wrote ---------------------------------------------------------------------


def test_scored_pairs_keep_their_grades(tmp_path: Path) -> None:
    rows = [
        {"query": "why do subscribers leave", "document": "churn drivers in telecom", "score": 0.9},
        {"query": "why do subscribers leave", "document": "attrition after price rises", "score": 0.6},
        {"query": "why do subscribers leave", "document": "network tower maintenance", "score": 0.1},
    ]
    data = load_pairs("x", {"train": str(write_jsonl(tmp_path / "s.jsonl", rows))})
    ds = build_rows(data, "train", FORMAT["scored"], data.negatives)
    assert ds["score"] == [0.9, 0.6, 0.1] and ds["sentence2"] == [r["document"] for r in rows]
    with pytest.raises(EmbtuneError, match="graded scores.*data_format=scored"):
        build_rows(data, "train", FORMAT["binary"], data.negatives)


def test_labeled_pairs_without_positives_per_text_train_as_written(tmp_path: Path) -> None:
    # paraphrase / duplicate-question exports: most texts have one label only
    rows = [{"query": f"question {i}", "document": f"other question {i}", "label": i % 2} for i in range(10)]
    f = tmp_path / "dupes.csv"
    with f.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["query", "document", "label"])
        writer.writeheader()
        writer.writerows(rows)
    data = load_pairs("x", {"train": str(f)})
    ds = build_rows(data, "train", FORMAT["binary"], data.negatives)
    assert ds["label"] == [r["label"] for r in rows] and len(ds) == 10
    assert build_rows(data, "train", FORMAT["scored"], data.negatives)["score"] == [float(i % 2) for i in range(10)]
    # the retrieval view holds the positives only
    assert sum(len(d) for d in data.qrels["train"].values()) == 5


def test_pair_rows_move_to_dev_by_query(tmp_path: Path) -> None:
    rows = [{"query": f"q{i % 6}", "document": f"d{i}", "score": (i % 3) / 2} for i in range(18)]
    data = carve_dev_split(load_pairs("x", {"train": str(write_jsonl(tmp_path / "s.jsonl", rows))}), 0.34, seed=3)
    train_q = {p[0] for p in data.pairs["train"]}
    dev_q = {p[0] for p in data.pairs["dev"]}
    assert len(dev_q) == 2 and not train_q & dev_q and len(data.pairs["train"]) + len(data.pairs["dev"]) == 18


@pytest.mark.parametrize(
    ("value", "message"),
    [(True, "a boolean"), ("NaN", "finite number"), (float("inf"), "finite number"), ("0,5", "a number")],
)
def test_scores_that_are_not_numbers_are_refused(tmp_path: Path, value, message: str) -> None:
    f = tmp_path / "s.jsonl"
    lines = [json.dumps({"query": "q", "document": "d", "score": 0.5}), json.dumps({"query": "q", "document": "e"})]
    lines[1] = lines[1][:-1] + f', "score": {json.dumps(value) if not isinstance(value, float) else "Infinity"}}}'
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(EmbtuneError, match=rf"s.jsonl:2: column 'score' must be .*{message}"):
        load_pairs("x", {"train": str(f)})


def test_row_shapes_are_not_mixed(tmp_path: Path) -> None:
    rows = [{"query": "a", "positive": "b"}, {"query": "c", "document": "d", "score": 1}]
    with pytest.raises(EmbtuneError, match=r"s.jsonl:2: a 'score' row, but .*s.jsonl:1 is a 'query\+positive' row"):
        load_pairs("x", {"train": str(write_jsonl(tmp_path / "s.jsonl", rows))})


# --- files as real exports write them ------------------------------------------------------------------------


def test_bare_quote_in_tsv_is_caught_and_quoting_none_loads_every_row(tmp_path: Path) -> None:
    rows = [["query", "positive"]] + [[f"question {i}", f"passage {i}"] for i in range(40)]
    rows[5][0] = '"quoted" start of a raw query'
    f = _tsv(tmp_path / "raw.tsv", rows)
    with pytest.raises(EmbtuneError, match=r"raw.tsv:6: a quote the TSV reader can't place.*quoting=none"):
        load_pairs("x", {"train": str(f)})
    data = load_pairs("x", {"train": str(f)}, quoting="none")
    assert len(data.queries) == 40 and '"quoted" start of a raw query' in data.queries.values()


def test_properly_quoted_csv_still_loads(tmp_path: Path) -> None:
    f = tmp_path / "q.tsv"
    with f.open("w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t")
        writer.writerow(["query", "positive"])
        writer.writerow(['"air quotes" around words', "a\tpassage with a tab"])
        writer.writerow(["plain", "line"])
    data = load_pairs("x", {"train": str(f)})
    assert set(data.queries.values()) == {'"air quotes" around words', "plain"}
    assert "a\tpassage with a tab" in data.corpus.values()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("query,positive\nrésumé,ok\n".encode("latin-1"), r"t.csv:2: not UTF-8 text \(byte 0xe9 at column 2\)"),
        ("query,positive\na,b\n".encode("utf-16"), r"t.csv:1: the file is UTF-16 text"),
        (b"query,positive\na,b,c\n", r"t.csv:2: 3 fields, but the header has 2"),
        (b"query,query\na,b\n", r"t.csv:1: the header row needs unique"),
        (b"query,positive\ra,b\r", r"t.csv: lines end in CR only"),
    ],
)
def test_broken_exports_name_file_and_line(tmp_path: Path, raw: bytes, message: str) -> None:
    f = tmp_path / "t.csv"
    f.write_bytes(raw)
    with pytest.raises(EmbtuneError, match=message):
        load_pairs("x", {"train": str(f)})


def test_excel_bom_and_crlf_load_as_plain_utf8(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_bytes("query,positive\r\nqué tal,muy bien\r\n".encode("utf-8-sig"))
    data = load_pairs("x", {"train": str(f)})
    assert list(data.queries.values()) == ["qué tal"] and list(data.corpus.values()) == ["muy bien"]


# --- ids and judgements ----------------------------------------------------------------------------------------


def _beir(tmp: Path, corpus: list[dict], qrels: str) -> Path:
    root = tmp / "toy"
    write_jsonl(root / "corpus.jsonl", corpus)
    write_jsonl(root / "queries.jsonl", [{"_id": "q1", "text": "first"}, {"_id": "q2", "text": "second"}])
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return root


def test_duplicate_id_with_other_text_is_refused(tmp_path: Path) -> None:
    corpus = [{"_id": "d1", "text": "one"}, {"_id": "d2", "text": "two"}, {"_id": "d1", "text": "unrelated"}]
    with pytest.raises(EmbtuneError, match=r"corpus.jsonl:3: _id 'd1' again, with a different text than at .*:1"):
        load_beir("toy", str(_beir(tmp_path, corpus, "q1\td1\t1\n")), ["test"])


def test_repeated_ids_and_conflicting_judgements_are_counted(tmp_path: Path) -> None:
    corpus = [{"_id": "d1", "text": "one"}, {"_id": "d2", "text": "two"}, {"_id": "d1", "text": "one"}]
    data = load_beir("toy", str(_beir(tmp_path, corpus, "q1\td1\t1\nq1\td1\t2\nq2\td2\t1\nq2\td2\t1\n")), ["test"])
    assert data.checks == {"duplicate_ids": 1, "conflicting_judgements": 1, "duplicate_judgements": 1}
    assert data.qrels["test"]["q1"] == {"d1": 2}  # the highest judgement
    assert "test.tsv:3 (first at line 2)" in data.check_examples["conflicting_judgements"]
    report = build_report(data, {"total": 2, "kept": 2}, "test", ("train",))
    enforce(report, "toy", strict=False)  # a warning
    with pytest.raises(EmbtuneError, match=r"dataset.strict=true.*1 duplicate_ids"):
        enforce(report, "toy", strict=True)


def test_eval_queries_seen_in_training_are_reported(tmp_path: Path) -> None:
    train = [{"query": f"question {i}", "positive": f"passage {i}"} for i in range(6)]
    test = [{"query": "Question  1", "positive": "passage 1"}, {"query": "new one", "positive": "other"}]
    data = load_pairs(
        "x",
        {"train": str(write_jsonl(tmp_path / "a.jsonl", train)), "test": str(write_jsonl(tmp_path / "b.jsonl", test))},
    )
    report = build_report(data, {"total": 6, "kept": 6}, "test", ("train", "dev"))
    assert (report["eval_overlap_queries"], report["eval_overlap_pairs"]) == (1, 1)


# --- scripts without spaces --------------------------------------------------------------------------------------


def test_cjk_thai_rows_are_counted_in_words_and_kept() -> None:
    assert count_words("客户为什么取消订阅") == 9 and count_words("解約した顧客") == 6 and count_words("a b") == 2


def test_quality_filter_keeps_cjk_rows_and_names_it_when_it_drops_everything(tmp_path: Path) -> None:
    rows = [{"query": f"用户为什么流失{i}", "positive": f"订阅用户流失的主要原因是价格上涨{i}"} for i in range(5)]
    data = load_pairs("x", {"train": str(write_jsonl(tmp_path / "zh.jsonl", rows))})
    cfg = OmegaConf.load(CONF_DIR / "quality" / "default.yaml")
    _, report = filter_split(data, "train", cfg)
    assert report["kept"] == 5
    with pytest.raises(EmbtuneError, match=r"quality filter dropped all 5 .*short_query: 5.*quality=none"):
        filter_split(data, "train", OmegaConf.merge(cfg, {"min_query_words": 50}))


# --- the same classes through the real CLI, one sweep process ---------------------------------------------------

CLI_CASES = {
    "latin1.csv": ("query,positive\nrésumé of churn,a passage\n".encode("latin-1"), r"latin1.csv:2: not UTF-8 text"),
    "bare_quote.tsv": (
        b'query\tpositive\nfirst query\tpassage one\n"raw quote\tpassage\nthird\tthree\nfourth\tfour\n',
        r"bare_quote.tsv:3: a quote the TSV reader can't place",
    ),
    "bool.jsonl": (b'{"query": "q", "document": "d", "score": true}\n', r"bool.jsonl:1: column 'score' .*boolean"),
    "mixed.jsonl": (
        b'{"query": "q", "positive": "p"}\n{"query": "q", "document": "d", "label": 1}\n',
        r"mixed.jsonl:2: a 'label' row",
    ),
}


def test_bad_files_through_the_cli_one_line_each(tmp_path: Path) -> None:
    for name, (raw, _) in CLI_CASES.items():
        (tmp_path / name).write_bytes(raw)
    # and one legal file that used to lose every row: Chinese, no spaces between words
    cjk = [
        {"query": f"为什么用户取消订阅{i}", "positive": f"价格上涨和服务中断是订阅用户流失的主要原因{i}"}
        for i in range(5)
    ]
    write_jsonl(tmp_path / "zh.jsonl", cjk)
    files = ",".join(str(tmp_path / n) for n in [*CLI_CASES, "zh.jsonl"])
    out = tmp_path / "out"
    result = run_cli(
        "embtune.prepare", "-m", "dataset=files", f"dataset.source.files.train={files}", f"paths.output_dir={out}"
    )
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    for name, (_, message) in CLI_CASES.items():
        assert any(__import__("re").search(message, line) for line in errors), (name, errors)
    failed = sorted((out / "prepare" / "multiruns").glob("*/*/FAILED"))
    assert len(failed) == len(CLI_CASES)
    (stats,) = (out / "prepare" / "multiruns").glob("*/*/stats.json")
    quality = json.loads(stats.read_text())["quality"]
    assert quality["kept"] == quality["total"] == 4  # 5 rows, 1 carved into dev, none dropped
    assert all(f.read_text().startswith("EmbtuneError: ") and len(f.read_text().splitlines()) == 1 for f in failed)


def test_strict_mode_stops_on_leakage_through_the_cli(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", [{"query": f"q {i}", "positive": f"p {i} words"} for i in range(6)])
    test = write_jsonl(tmp_path / "test.jsonl", [{"query": "q 1", "positive": "p 1 words"}])
    args = ["dataset=files", f"dataset.source.files.train={train}", f"dataset.source.files.test={test}", "quality=none"]
    result = run_cli("embtune.prepare", *args, "dataset.strict=true", f"paths.output_dir={tmp_path}/o")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: dataset 'files' failed its data checks") and "eval_overlap_queries" in last


def test_mining_adds_to_the_files_own_negatives(compose_cfg, tmp_path: Path) -> None:
    from embtune.dataset.prepared import prepare_data

    words = "churn attrition renewal invoice tariff roaming billing cohort retention upgrade".split()
    rows = [{"query": f"{w} question {i}", "document": f"{w} answer {i} text", "label": 1} for i, w in enumerate(words)]
    rows.append({"query": "churn question 0", "document": "labeled wrong answer about roaming", "label": 0})
    f = write_jsonl(tmp_path / "labeled.jsonl", rows)
    cfg = compose_cfg(
        "dataset=files",
        f"dataset.source.files.train={f}",
        "dataset.dev_fraction=0",
        "data_format=triplets",
        "mining=bm25",
        "mining.num_negatives=2",
        "quality=none",
    )
    prepared = prepare_data(cfg)
    rows_out = [r for r in prepared.rows["train"] if r["anchor"] == "churn question 0"]
    assert [r["negative"] for r in rows_out][0] == "labeled wrong answer about roaming"
    assert len(rows_out) == 3  # the labeled negative plus two mined ones


def test_an_evaluation_files_negatives_never_reach_a_training_query(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "a.jsonl", [{"query": "q1", "document": "d1", "label": 1}])
    test = write_jsonl(
        tmp_path / "b.jsonl",
        [{"query": "q1", "document": "test-only text", "label": 0}, {"query": "q2", "document": "t2", "label": 0}],
    )
    data = load_pairs("x", {"train": str(train), "test": str(test)})
    by_text = {data.queries[q]: [data.corpus[d] for d in n] for q, n in data.negatives.items()}
    assert by_text.get("q1", []) == [] and by_text["q2"] == ["t2"]
