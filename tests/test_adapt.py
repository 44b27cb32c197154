"""Adaptation from a corpus alone: pseudo-queries (extractive, and seq2seq on a tiny T5 built locally), filtered
and counted; python -m embtune.adapt on a BEIR-layout dir whose labelled train queries are ignored, its test split
measured, the guard on held-out pseudo-queries; make resume continues an adapt run as adapt."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import TINY_CACHE, make_resume, run_cli, write_jsonl

from embtune.dataset.pseudo import ExtractiveGenerator, Seq2SeqGenerator, pseudo_queries
from embtune.dataset.types import RetrievalData
from embtune.model.tiny import build_tiny_t5

TOPICS = ["churn", "invoice", "pipeline", "renewal", "onboarding", "forecast", "discount", "upsell"]


def _doc(i: int) -> str:
    a, b = TOPICS[i % 8], TOPICS[(i * 3 + 1) % 8]
    return (
        f"Report {i} on {a} metrics. The {a} rate of account {i} rose after the {b} change. "
        f"Teams review {a} and {b} numbers weekly for region {i}."
    )


def _beir(tmp: Path, n: int = 40) -> list[str]:
    root = tmp / "data" / "toy"
    write_jsonl(root / "corpus.jsonl", [{"_id": f"d{i}", "title": "", "text": _doc(i)} for i in range(n)])
    queries = [{"_id": f"q{i}", "text": f"{TOPICS[i % 8]} rate of account {i}"} for i in range(n)]
    write_jsonl(root / "queries.jsonl", queries)
    (root / "qrels").mkdir()
    header = "query-id\tcorpus-id\tscore\n"
    (root / "qrels" / "train.tsv").write_text(header + "".join(f"q{i}\td{i}\t1\n" for i in range(0, n, 2)))
    (root / "qrels" / "test.tsv").write_text(header + "".join(f"q{i}\td{i}\t1\n" for i in range(1, n, 2)))
    return [
        "dataset=beir",
        "dataset.name=toy",
        f"paths.data_dir={tmp / 'data'}",
        "++dataset.source.splits=[train,test]",
    ]


def _data() -> RetrievalData:
    corpus = {f"d{i}": _doc(i) for i in range(6)}
    corpus |= {
        "short": "Tiny.",
        "same1": "Shared lead here. Then more words follow in this one.",
        "same2": "Shared lead here. And other words come after it.",
    }
    return RetrievalData(
        name="toy",
        corpus=corpus,
        queries={"q1": "labelled train", "q2": "labelled test"},
        qrels={"train": {"q1": {"d0": 1}}, "test": {"q2": {"d1": 1}}},
    )


def test_extractive_pseudo_queries_are_filtered_counted_and_replace_the_labelled_train_queries() -> None:
    generator = ExtractiveGenerator(kinds=["sentence", "lead", "keyphrase"], per_doc=3, seed=0)
    data, report = pseudo_queries(_data(), generator, min_words=2, max_doc_share=0.5)
    assert report["labelled_train_ignored"] == 1 and "q1" not in data.queries  # labels ignored, really
    assert data.qrels["test"] == {"q2": {"d1": 1}} and data.queries["q2"] == "labelled test"  # test kept
    dropped = report["dropped"]
    assert dropped["duplicate_across_documents"] == 2  # "Shared lead here" was made for same1 and same2
    assert dropped.get("too_short", 0) >= 1  # "Tiny" has one word
    assert report["kept"] == len(data.qrels["train"]) == report["made"] - sum(dropped.values())
    for qid, docs in data.qrels["train"].items():
        (doc,) = docs
        text = data.queries[qid]
        words = set(text.lower().split())
        assert words <= set(data.corpus[doc].lower().replace(".", " ").split())  # cut from its own document
    # inverse cloze: a sentence taken out of its passage, never its lead (that is the lead kind)
    first, *rest = [s.rstrip(".") for s in _doc(0).split(". ")]
    for seed in range(5):
        (query,) = ExtractiveGenerator(kinds=["sentence"], per_doc=1, seed=seed).generate([_doc(0)])[0]
        assert query != first and any(s.startswith(query) for s in rest)


def test_a_seq2seq_generator_writes_queries_with_a_tiny_t5(tmp_path: Path) -> None:
    t5 = build_tiny_t5(tmp_path / "tiny-t5")
    generator = Seq2SeqGenerator(str(t5), per_doc=2, max_length=12, batch_size=4, seed=0)
    made = generator.generate([_doc(i) for i in range(5)])
    assert len(made) == 5 and all(len(q) == 2 and all(isinstance(x, str) for x in q) for q in made)
    assert made == Seq2SeqGenerator(str(t5), per_doc=2, max_length=12, batch_size=4, seed=0).generate(
        [_doc(i) for i in range(5)]
    )  # seeded


def test_adapt_trains_on_pseudo_queries_reports_the_labelled_test_and_resumes_as_adapt(tmp_path: Path) -> None:
    out = tmp_path / "out"
    common = [
        *_beir(tmp_path),
        "model=tiny",
        "trainer=debug",
        f"paths.cache_dir={TINY_CACHE}",
        "teacher=bm25",
        "regression=none",
        "++trainer.args.max_steps=4",
        "++trainer.args.save_steps=2",
        "++trainer.args.eval_steps=2",
        "trainer.keep_checkpoints=all",
    ]
    result = run_cli("embtune.adapt", *common, f"paths.output_dir={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "chosen on the pseudo-queries of held-out documents" in result.stdout + result.stderr
    (run,) = (out / "adapt" / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    pseudo = metrics["train"]["pseudo_queries"]
    assert pseudo["generator"] == "extractive" and pseudo["labelled_train_ignored"] == 20 and pseudo["kept"] > 20
    assert pseudo["dev"]["documents_held_out"] == 4  # 10 % of the 40 documents, whole
    assert metrics["split"] == "test" and {"bm25", "zero_shot", "teacher", "fine_tuned"} <= set(metrics)
    assert metrics["train"]["teacher"]["teacher"] == "bm25"

    (run / "metrics.json").unlink()  # stopped half-way: make resume continues it as adapt, in its dir
    shutil.rmtree(run / "checkpoints" / "checkpoint-4")
    resumed = make_resume(run)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    assert "-m embtune.adapt" in resumed.stdout
    again = json.loads((run / "metrics.json").read_text())
    made_again = {k: v for k, v in again["train"]["pseudo_queries"].items() if k != "seconds"}
    assert again["train"]["resumed_from"].endswith("checkpoint-2")
    assert made_again == {k: v for k, v in pseudo.items() if k != "seconds"}  # the same queries, made again


def test_dev_pseudo_queries_come_from_documents_no_training_query_came_from() -> None:
    generator = ExtractiveGenerator(per_doc=3, seed=0)
    data, report = pseudo_queries(_data(), generator, dev_fraction=0.5, seed=1)
    train_docs = {d for docs in data.qrels["train"].values() for d in docs}
    dev_docs = {d for docs in data.qrels["dev"].values() for d in docs}
    assert dev_docs and train_docs and not train_docs & dev_docs
    assert report["dev"] == {"documents_held_out": len(dev_docs), "queries": len(data.qrels["dev"])}
