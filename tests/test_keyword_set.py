"""benchmarks/make_keyword_set.py, the builder of the keyword-query evaluation sets: relevance by the keywords or by an
annotator model's meaning, judgements a share of the relevant documents, nothing overwritten."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from embtune.model.tiny import build_tiny_model

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "make_keyword_set.py"
TOPICS = [[f"{name}{i}" for i in range(6)] for name in ("cardio", "neuro", "onco", "immuno", "renal", "hepato")]
FILLER = ["patients", "study", "results", "levels", "analysis", "increased", "showed", "effect"]


def _corpus(data_dir: Path, n: int = 90) -> list[dict]:
    """Abstracts on six topics: each title and text draws on its topic's words, so keywords co-occur."""
    rng = random.Random(1)
    docs = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        title = " ".join(rng.sample(topic, 3))
        text = " ".join(rng.choice(topic) if rng.random() < 0.5 else rng.choice(FILLER) for _ in range(30))
        docs.append({"_id": f"d{i:03d}", "title": title, "text": text})
    (data_dir / "scifact").mkdir(parents=True)
    (data_dir / "scifact" / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    return docs


def _build(data_dir: Path, out: Path, *extra: str, cache: Path) -> subprocess.CompletedProcess:
    args = ["--docs", "90", "--queries", "24", "--min-df", "3", "--max-df", "60", "--min-titles", "1"]
    args += ["--judged", "0.5"]
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--data-dir", str(data_dir), "--out", str(out), *args, *extra],
        capture_output=True, text=True, check=False, env={**os.environ, "EMBTUNE_CACHE_DIR": str(cache)},
    )  # fmt: skip


def _read(out: Path) -> tuple[dict[str, str], dict[str, set[str]]]:
    queries = {q["_id"]: q["text"] for q in map(json.loads, (out / "queries.jsonl").read_text().splitlines())}
    qrels: dict[str, set[str]] = {}
    for split in ("train", "test"):
        with (out / "qrels" / f"{split}.tsv").open() as f:
            for row in csv.DictReader(f, delimiter="\t"):
                qrels.setdefault(row["query-id"], set()).add(row["corpus-id"])
    return queries, qrels


def test_keyword_relevance_judges_a_share_of_the_documents_holding_every_keyword(tmp_path: Path) -> None:
    docs = _corpus(tmp_path / "data")
    done = _build(tmp_path / "data", tmp_path / "kw", cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    queries, qrels = _read(tmp_path / "kw")
    assert len(queries) == 24 and set(qrels) == set(queries)
    words = {d["_id"]: set(f"{d['title']} {d['text']}".split()) for d in docs}
    for qid, text in queries.items():
        holding = {d for d, ws in words.items() if set(text.split()) <= ws}
        assert qrels[qid] <= holding
        assert len(qrels[qid]) == max(2, round(0.5 * len(holding)))
    assert json.loads((tmp_path / "kw" / "stats.json").read_text())["relevance"] == "the document holds every keyword"
    again = _build(tmp_path / "data", tmp_path / "kw", cache=tmp_path / "cache")
    assert again.returncode != 0
    assert again.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'kw'} already holds a dataset; remove it or pick another --out (nothing overwritten)"
    ]


def test_annotator_relevance_is_the_models_cosine_not_the_words(tmp_path: Path) -> None:
    docs = _corpus(tmp_path / "data")
    model_dir = build_tiny_model(tmp_path / "tiny")
    model = SentenceTransformer(str(model_dir))
    emb = model.encode([f"{d['title']} {d['text']}" for d in docs], normalize_embeddings=True)
    # a threshold inside the tiny model's own score range, so some documents pass and some do not
    probe = model.encode([" ".join(TOPICS[0][:2])], normalize_embeddings=True) @ emb.T
    tau = float(np.quantile(probe, 0.8))
    done = _build(
        tmp_path / "data", tmp_path / "kw", "--annotator", str(model_dir), "--min-score", f"{tau:.6f}",
        "--annotator-seq-len", "256", "--max-relevant", "80", cache=tmp_path / "cache",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    queries, qrels = _read(tmp_path / "kw")
    assert queries and set(qrels) == set(queries)
    scores = model.encode(list(queries.values()), normalize_embeddings=True) @ emb.T
    ids = [d["_id"] for d in docs]
    for (qid, _), row in zip(queries.items(), scores, strict=True):
        relevant = {ids[i] for i in np.nonzero(row >= float(f"{tau:.6f}") - 1e-5)[0]}
        assert qrels[qid] <= relevant
        assert abs(len(qrels[qid]) - max(2, round(0.5 * len(relevant)))) <= 1  # float ties at the threshold
    stats = json.loads((tmp_path / "kw" / "stats.json").read_text())
    assert stats["relevance"].startswith(f"{model_dir} cosine >= ")
    assert "cut at 64 tokens" in stats["relevance"]  # the tiny model's own limit, not the 256 asked for
    assert list((tmp_path / "cache" / "annotator").glob("*.npy"))  # the corpus embeddings, for the next variant


@pytest.mark.parametrize("flag", [["--weights", "1,2"], ["--data-dir", "/nonexistent"]])
def test_bad_arguments_are_one_line(tmp_path: Path, flag: list[str]) -> None:
    _corpus(tmp_path / "data")
    args = [sys.executable, str(SCRIPT), "--data-dir", str(tmp_path / "data"),
            "--out", str(tmp_path / "kw"), *flag]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
