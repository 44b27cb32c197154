"""The files users bring: sentence-transformers' column names, a mapping per split, gzipped JSONL / CSV and
Parquet, and text no reader may pass on (a lone surrogate, a NUL) or a truncated .gz stopped with one line. Each
case through the real CLI on the tiny model or the data stage alone."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from pathlib import Path

from conftest import TINY_CACHE, only_run_dir, run_cli, write_jsonl

TINY = ["model=tiny", "trainer=debug", f"paths.cache_dir={TINY_CACHE}", "evaluate_bm25=false", "save_model=false"]
TOPICS = "churn tariff roaming invoice upgrade renewal cohort billing retention outage handset coverage".split()


def _rows(names: tuple[str, ...], n: int = 24) -> list[dict]:
    """n distinct rows in the columns ``names`` (query-like, positive-like, negative-like; or two texts and a
    score / label)."""
    rows = []
    for i in range(n):
        topic, other = TOPICS[i % len(TOPICS)], TOPICS[(i + 5) % len(TOPICS)]
        texts = [f"why does {topic} matter {i}", f"{topic} explained for subscribers {i}", f"{other} notes {i}"]
        row = dict(zip(names, texts, strict=False))
        if len(names) == 3 and names[2] in ("score", "label"):
            row[names[2]] = (i % 2) if names[2] == "label" else round((i % 5) / 4, 2)
        rows.append(row)
    return rows


def _csv_text(rows: list[dict], delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _train(tmp_path: Path, *args: str) -> tuple[dict, str]:
    """A tiny-model training run on ``args``: its metrics.json and its console (stdout + stderr)."""
    out = tmp_path / "out"
    result = run_cli("embtune.train", *TINY, "dataset=files", *args, f"paths.output_dir={out}")
    console = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in result.stderr, console[-3000:]
    return json.loads((only_run_dir(out) / "metrics.json").read_text()), console


def _prepare_error(tmp_path: Path, *args: str) -> str:
    """The data stage alone, expected to stop: its one `error:` line (and no traceback)."""
    result = run_cli("embtune.prepare", "dataset=files", *args, f"paths.output_dir={tmp_path}/out")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    (line,) = [x for x in result.stderr.splitlines() if x.strip()]
    assert line.startswith("error: "), line
    return line


# --- sentence-transformers' column names, and a mapping per split -----------------------------------------------


def test_sentence_transformers_triplet_columns_train_as_they_are(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", _rows(("anchor", "positive", "negative")))
    test = write_jsonl(tmp_path / "test.jsonl", _rows(("query", "positive"), 6))  # embtune's names, its own file
    metrics, console = _train(tmp_path, f"dataset.source.files.train={train}", f"dataset.source.files.test={test}")
    assert metrics["train"]["examples"] > 0 and "ndcg@10" in metrics["fine_tuned"]
    # the mapping used is said per file; a file in embtune's own names needs no line
    assert re.search(r"train\.jsonl \(train\): columns anchor -> query \(sentence-transformers' anchor", console)
    assert "test.jsonl (test): columns" not in console
    # and in the data report that metrics.json keeps
    assert set(metrics["train"]["data_checks"]["columns"]) == {"train"}
    assert metrics["train"]["data_checks"]["columns"]["train"].startswith("train.jsonl: anchor -> query")


def test_sentence_transformers_scored_pairs_train_with_cosent(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "sts.jsonl", _rows(("sentence1", "sentence2", "score")))
    metrics, console = _train(
        tmp_path,
        f"dataset.source.files.train={train}",
        "data_format=scored",
        "loss=cosent",
        "evaluator=sts",
        "dataset.dev_fraction=0.25",
    )
    assert metrics["train"]["examples"] > 0 and "spearman" in json.dumps(metrics["fine_tuned"])
    assert "columns sentence1 -> query, sentence2 -> document (sentence-transformers' sentence1" in console


def test_a_mapping_for_one_split_leaves_the_others_in_their_own_names(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", _rows(("question", "answer", "wrong")))
    test = write_jsonl(tmp_path / "test.jsonl", _rows(("query", "positive"), 6))
    metrics, console = _train(
        tmp_path,
        f"dataset.source.files.train={train}",
        f"dataset.source.files.test={test}",
        "dataset.source.columns.train.query=question",
        "dataset.source.columns.train.positive=answer",
        "dataset.source.columns.train.negative=wrong",
    )
    assert metrics["split"] == "test" and "ndcg@10" in metrics["fine_tuned"]
    assert "columns question -> query, answer -> positive, wrong -> negative (dataset.source.columns.train." in console


def test_the_flat_mapping_still_maps_every_split(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", _rows(("question", "answer")))
    test = write_jsonl(tmp_path / "test.jsonl", _rows(("query", "positive"), 6))
    files = [f"dataset.source.files.train={train}", f"dataset.source.files.test={test}"]
    line = _prepare_error(
        tmp_path, *files, "dataset.source.columns.query=question", "dataset.source.columns.positive=answer"
    )
    assert re.search(r"test\.jsonl:1: missing column 'question' .*the query by dataset\.source\.columns\.query\)", line)
    assert line.endswith("Fix: map this file's own column, dataset.source.columns.test.query=<column>.")


def test_a_file_with_both_namings_is_one_line_not_a_silent_pick(tmp_path: Path) -> None:
    rows = [{"query": f"q {i}", "anchor": f"a {i}", "positive": f"p {i}"} for i in range(4)]
    line = _prepare_error(tmp_path, f"dataset.source.files.train={write_jsonl(tmp_path / 'both.jsonl', rows)}")
    assert "both.jsonl:1: columns of two namings (query (embtune's names); anchor (sentence-transformers'" in line
    assert "dataset.source.columns.train.query=query or =anchor" in line


# --- compressed files ---------------------------------------------------------------------------------------------


def test_gzipped_jsonl_csv_and_parquet_train(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows(("anchor", "positive", "negative"))
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    (tmp_path / "b.csv.gz").write_bytes(gzip.compress(_csv_text(rows).encode()))
    (tmp_path / "c.tsv.gz").write_bytes(gzip.compress(_csv_text(rows, "\t").encode()))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet", compression="zstd")
    files = ",".join(str(tmp_path / n) for n in ("a.jsonl.gz", "b.csv.gz", "c.tsv.gz", "d.parquet"))
    out = tmp_path / "out"
    result = run_cli(
        "embtune.train", "-m", *TINY, "dataset=files", f"dataset.source.files.train={files}", f"paths.output_dir={out}"
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    runs = sorted((out / "train" / "multiruns").glob("*/*/metrics.json"))
    assert len(runs) == 4
    metrics = [json.loads(p.read_text()) for p in runs]
    # the same rows, whatever the file: the same data fingerprint, the same examples
    assert len({m["train"]["examples"] for m in metrics}) == 1 and metrics[0]["train"]["examples"] > 0
    for name in ("a.jsonl.gz", "b.csv.gz", "c.tsv.gz", "d.parquet"):
        assert f"{name} (train): columns anchor -> query" in result.stdout + result.stderr, name


def test_a_truncated_gz_is_one_line_naming_the_file(tmp_path: Path) -> None:
    text = "".join(json.dumps(r) + "\n" for r in _rows(("query", "positive"), 400)).encode()
    packed = gzip.compress(text)
    f = tmp_path / "train.jsonl.gz"
    f.write_bytes(packed[: len(packed) // 2])
    line = _prepare_error(tmp_path, f"dataset.source.files.train={f}")
    assert re.fullmatch(rf"error: {re.escape(str(f))}: the gzip file is truncated: it ends after line \d+, .*", line)


# --- the text rule: valid Unicode, no NUL, in every reader ----------------------------------------------------------


def _parquet(path: Path, positive: object) -> None:
    """A Parquet file of two rows whose second positive is ``positive`` (a str, or a pyarrow string array)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    column = positive if isinstance(positive, pa.Array) else pa.array(["ok", positive])
    pq.write_table(pa.table({"query": ["fine", "q"], "positive": column}), path)


def _not_utf8_strings() -> object:
    """A pyarrow string array whose second value holds the byte 0xff, which no UTF-8 decoder takes (a broken writer
    leaves such strings; pyarrow itself refuses to build them from Python text)."""
    import pyarrow as pa

    data = b"ok" + b"pad\xffded"
    offsets = pa.py_buffer(b"".join(n.to_bytes(4, "little") for n in (0, 2, len(data))))
    return pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(data)])


BAD_TEXT = {
    # json accepts an escaped lone surrogate; UTF-8 can't write it
    "surrogate.jsonl": (
        lambda p: b'{"query": "fine", "positive": "ok"}\n{"query": "cut emoji \\udcff here", "positive": "p"}\n',
        r"surrogate\.jsonl:2: column 'query' holds a lone surrogate \\udcff \(at character 11\)",
    ),
    "nul_escaped.jsonl": (
        lambda p: b'{"query": "fine", "positive": "ok"}\n{"query": "q", "positive": "pad\\u0000ded"}\n',
        r"nul_escaped\.jsonl:2: column 'positive' holds a NUL character \(at character 4\)",
    ),
    "nul_raw.jsonl": (
        lambda p: b'{"query": "fine", "positive": "ok"}\n{"query": "q", "positive": "pad\x00ded"}\n',
        r"nul_raw\.jsonl:2: column 'positive' holds a NUL character",
    ),
    "nul.csv": (lambda p: b"query,positive\nfine,ok\nq,pad\x00ded\n", r"nul\.csv:3: column 'positive' holds a NUL"),
    "nul.tsv.gz": (
        lambda p: gzip.compress(b"query\tpositive\nfine\tok\nq\x00\tp\n"),
        r"nul\.tsv\.gz:3: column 'query' holds a NUL character",
    ),
    "nul.parquet": (lambda p: _parquet(p, "pad\x00ded"), r"nul\.parquet:2: column 'positive' holds a NUL character"),
    "not_utf8.parquet": (
        lambda p: _parquet(p, _not_utf8_strings()),
        r"not_utf8\.parquet:2: column 'positive' is not UTF-8 text",
    ),
}


def test_undecodable_text_and_nul_are_one_line_with_file_line_and_column(tmp_path: Path) -> None:
    for name, (make, _) in BAD_TEXT.items():
        made = make(tmp_path / name)
        if isinstance(made, bytes):
            (tmp_path / name).write_bytes(made)
    files = ",".join(str(tmp_path / n) for n in BAD_TEXT)
    out = tmp_path / "out"
    result = run_cli(
        "embtune.prepare", "-m", "dataset=files", f"dataset.source.files.train={files}", f"paths.output_dir={out}"
    )
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
    for name, (_, message) in BAD_TEXT.items():
        assert any(re.search(message, x) for x in errors), (name, errors)
    failed = sorted((out / "prepare" / "multiruns").glob("*/*/FAILED"))
    assert len(failed) == len(BAD_TEXT)


def test_the_text_rule_holds_in_a_beir_dir_and_a_gzipped_corpus_loads(tmp_path: Path) -> None:
    root = tmp_path / "toy"
    corpus = [{"_id": f"d{i}", "title": "T", "text": f"{TOPICS[i % 12]} passage {i}"} for i in range(12)]
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in corpus).encode()))
    write_jsonl(
        root / "queries.jsonl", [{"_id": f"q{i}", "text": f"what about {TOPICS[i % 12]} {i}"} for i in range(12)]
    )
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(12))
    for split in ("train", "test"):
        (root / "qrels" / f"{split}.tsv").write_text(qrels)
    args = ["dataset=beir", "dataset.name=toy", f"paths.data_dir={tmp_path}", "quality=none"]
    ok = run_cli("embtune.prepare", *args, f"paths.output_dir={tmp_path}/ok")
    assert ok.returncode == 0, ok.stderr[-3000:]
    (stats,) = (tmp_path / "ok" / "prepare" / "runs").glob("*/stats.json")
    assert json.loads(stats.read_text())["corpus"] == 12
    write_jsonl(root / "queries.jsonl", [{"_id": "q0", "text": "what about churn"}, {"_id": "q1", "text": "a\u0000b"}])
    bad = run_cli("embtune.prepare", *args, f"paths.output_dir={tmp_path}/bad")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr, bad.stderr[-3000:]
    assert re.search(r"queries\.jsonl:2: column 'text' holds a NUL character", bad.stderr.strip().splitlines()[-1])
