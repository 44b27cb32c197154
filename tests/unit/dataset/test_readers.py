"""dataset/readers.py and the column namings of sources.load_pairs, without a model: the text rule's edges, file
names and compressions, and which columns a file is read through."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from embtune.dataset.readers import read_records, text_problem
from embtune.dataset.sources import load_beir, load_pairs
from embtune.errors import EmbtuneError


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("plain", None),
        ("emoji 😀 and accents é", None),  # a surrogate pair as json writes it decodes to one character: fine
        ("a\x00b", "a NUL character (at character 2)"),
        ("cut \udcff", "a lone surrogate \\udcff (at character 5)"),
        ("\ud83d alone", "a lone surrogate \\ud83d (at character 1)"),
    ],
)
def test_text_problem(text: str, problem: str | None) -> None:
    found = text_problem(text)
    assert (found is None) if problem is None else found.startswith(problem)


def test_escaped_emoji_in_json_is_not_a_lone_surrogate(tmp_path: Path) -> None:
    f = _jsonl(tmp_path / "t.jsonl", [{"query": "why 😀", "positive": "because 😀"}])  # ensure_ascii: \ud83d\ude00
    assert "\\ud83d" in Path(f).read_text()
    assert list(load_pairs("x", {"train": f}).queries.values()) == ["why 😀"]


def test_a_nul_in_a_json_key_names_the_column(tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    f.write_text('{"que\\u0000ry": "a", "positive": "b"}\n')
    with pytest.raises(EmbtuneError, match=r"t.jsonl:1: the column name 'que\\x00ry' holds a NUL character"):
        load_pairs("x", {"train": str(f)})


def test_a_missing_file_names_its_compressed_sibling(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl.gz").write_bytes(gzip.compress(b'{"query": "a", "positive": "b"}\n'))
    with pytest.raises(EmbtuneError, match=r"data file not found: .*train.jsonl\. .*train.jsonl.gz is next to it"):
        load_pairs("x", {"train": str(tmp_path / "train.jsonl")})


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("t.jsonl", gzip.compress(b"{}\n"), r"t.jsonl: the file is gzip-compressed, but its name does not end in .gz"),
        ("t.jsonl.gz", b'{"query": "a"}\n', r"t.jsonl.gz: not a readable gzip file \(Not a gzipped file"),
        ("t.jsonl.xz", b"", r"t.jsonl.xz: .xz compression is not read .*xz -dc 't.jsonl.xz' \| gzip > t.jsonl.gz"),
        ("t.parquet.gz", b"", r"t.parquet.gz: a gzipped Parquet file"),
        ("t.txt.gz", b"", r"unknown file type '.txt.gz'"),
        ("t.parquet", b"nope", r"t.parquet: not a readable Parquet file"),
    ],
)
def test_file_names_and_compressions(tmp_path: Path, name: str, raw: bytes, message: str, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path(name).write_bytes(raw)
    with pytest.raises(EmbtuneError, match=message):
        list(read_records(name))


def test_latin1_inside_gzip_gets_a_fix_that_keeps_it_gzipped(tmp_path: Path) -> None:
    f = tmp_path / "t.csv.gz"
    f.write_bytes(gzip.compress("query,positive\nrésumé,a\n".encode("latin-1")))
    with pytest.raises(
        EmbtuneError, match=r"t.csv.gz:2: not UTF-8 text .*gzip -dc .* \| iconv .* \| gzip > fixed.csv.gz"
    ):
        load_pairs("x", {"train": str(f)})


@pytest.mark.parametrize(
    ("row", "expect"),
    [
        ({"anchor": "a", "positive": "p", "negative": "n"}, ("a", {"p"}, {"n"})),
        ({"sentence1": "a", "sentence2": "p"}, ("a", {"p"}, set())),  # an unscored pair: query and positive
        ({"sentence1": "a", "sentence2": "d", "label": 0}, ("a", set(), {"d"})),
        ({"sentence1": "a", "sentence2": "d", "score": 0.9}, ("a", {"d"}, set())),
    ],
)
def test_sentence_transformers_names(tmp_path: Path, row: dict, expect: tuple) -> None:
    data = load_pairs("x", {"train": _jsonl(tmp_path / "t.jsonl", [row])})
    ((qid, query),) = data.queries.items()
    positives = {data.corpus[d] for d in data.qrels.get("train", {}).get(qid, {})}
    assert (query, positives, {data.corpus[d] for d in data.negatives.get(qid, [])}) == expect


def test_a_later_row_in_another_naming_is_refused(tmp_path: Path) -> None:
    f = _jsonl(tmp_path / "t.jsonl", [{"query": "a", "positive": "b"}, {"anchor": "c", "positive": "d"}])
    with pytest.raises(
        EmbtuneError, match=r"t.jsonl:2: columns in sentence-transformers' anchor .*t.jsonl:1 is read in embtune's"
    ):
        load_pairs("x", {"train": f})


def test_an_explicit_mapping_settles_a_file_with_both_namings(tmp_path: Path) -> None:
    f = _jsonl(tmp_path / "t.jsonl", [{"query": "the query", "anchor": "not it", "positive": "p"}])
    data = load_pairs("x", {"train": f}, {"train": {"query": "query"}})
    assert list(data.queries.values()) == ["the query"]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"qurey": "q"}, r"dataset.source.columns.qurey: neither a field .* nor a split"),
        ({"train": {"qurey": "q"}}, r"dataset.source.columns.train.qurey: not a field"),
        ({"query": ["a"]}, r"dataset.source.columns.query=\['a'\]: give a column name"),
    ],
)
def test_bad_column_mappings(tmp_path: Path, columns: dict, message: str) -> None:
    with pytest.raises(EmbtuneError, match=message):
        load_pairs("x", {"train": _jsonl(tmp_path / "t.jsonl", [{"query": "a", "positive": "b"}])}, columns)


def test_a_beir_dir_with_both_plain_and_gzipped_corpus_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "toy"
    (root / "qrels").mkdir(parents=True)
    _jsonl(root / "corpus.jsonl", [{"_id": "d1", "text": "one"}])
    (root / "corpus.jsonl.gz").write_bytes(gzip.compress(b'{"_id": "d1", "text": "old"}\n'))
    with pytest.raises(EmbtuneError, match=r"corpus.jsonl and corpus.jsonl.gz both exist"):
        load_beir("toy", str(root), ["test"])
