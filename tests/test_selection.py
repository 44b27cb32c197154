"""Never ship a model worse than the base: step-0 dev evaluation, the base as a candidate, early stopping, and a
dev corpus as hard as the test one. One real sweep on the tiny model: one job improves, one is forced to degrade."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from conftest import ROOT, TINY_CACHE, run_cli, write_jsonl

from embtune.dataset.sources import load_pairs
from embtune.evaluation.evaluators import subsample_corpus
from embtune.model.loading import weights_sha256
from embtune.training.selection import select


def _lexical_data(tmp: Path) -> list[str]:
    """Queries whose positive contains their words: the tiny model's base is decent and training helps fast."""
    text = (ROOT / "src" / "embtune" / "dataset" / "builtin_data" / "default" / "train.jsonl").read_text()
    words = sorted({w for w in text.lower().replace(".", " ").replace(",", " ").split() if w.isalpha() and len(w) > 3})
    rng = random.Random(0)

    def rows(n: int) -> list[dict]:
        out = []
        for _ in range(n):
            key = rng.sample(words, 3)
            positive = key + rng.sample(words, 5)
            rng.shuffle(positive)
            out.append({"query": " ".join(key), "positive": " ".join(positive)})
        return out

    train, test = write_jsonl(tmp / "train.jsonl", rows(200)), write_jsonl(tmp / "test.jsonl", rows(40))
    return ["dataset=files", f"dataset.source.files.train={train}", f"dataset.source.files.test={test}"]


def test_a_degrading_run_ships_the_base_and_an_improving_one_its_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "embtune.train",
        "-m",
        "model=tiny",
        "trainer=debug",
        f"paths.cache_dir={TINY_CACHE}",
        *_lexical_data(tmp_path),
        "quality=none",
        "evaluate_bm25=false",
        "trainer.args.max_steps=30",
        "trainer.args.eval_steps=10",
        "trainer.args.save_steps=10",
        "trainer.early_stopping.early_stopping_patience=1",
        "trainer.early_stopping.early_stopping_threshold=0.5",  # no dev gain counts: stop at the 2nd evaluation
        "trainer.keep_checkpoints=best",  # the best checkpoint's trainer_state.json stays, optimizer state goes
        "trainer.args.learning_rate=1e-3,1.0",  # sensible, and far too high
        f"paths.output_dir={out}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (out / "train" / "multiruns").iterdir()
    good, bad = sorted(p for p in sweep.iterdir() if (p / "metrics.json").is_file())
    m_good, m_bad = (json.loads((p / "metrics.json").read_text()) for p in (good, bad))

    # the improving job ships its best checkpoint, chosen on dev against the base
    s = m_good["train"]["selection"]
    assert m_good["train"]["selected"].startswith("checkpoint-") and s["tuned_dev"] > s["base_dev"]
    assert m_good["train"]["selected_dev_metric"] == s["tuned_dev"]

    # the degrading job: one console line, the base shipped, its test figures are the base's
    s = m_bad["train"]["selection"]
    assert m_bad["train"]["selected"] == "base" and s["base_better"] and s["tuned_dev"] < s["base_dev"]
    assert m_bad["train"]["selected_dev_metric"] == s["base_dev"]
    assert m_bad["fine_tuned"] == m_bad["zero_shot"] and m_bad["delta"]["vs_zero_shot"] == 0.0
    info = json.loads((bad / "run_info.json").read_text())
    assert weights_sha256(bad / "model") == info["model"]["weights_sha256"]  # model/ holds the base weights
    warnings = [line for line in result.stdout.splitlines() if "did not beat the base model on dev" in line]
    assert len(warnings) == 1 and "saving the base model as model/" in warnings[0]
    # early stopping (transformers' callback): both jobs stop at their 2nd dev evaluation, step 20 of 30
    assert m_bad["train"]["steps"] == m_good["train"]["steps"] == 20

    # the curves start at the base: step 0 of the trainer's history holds its dev figure
    (kept,) = (bad / "checkpoints").glob("checkpoint-*")
    assert not (kept / "optimizer.pt").exists() and (kept / "model.safetensors").is_file()
    state = json.loads((kept / "trainer_state.json").read_text())
    step0 = [e for e in state["log_history"] if e.get("step") == 0 and s["metric"] in e]
    assert step0 and step0[0][s["metric"]] == s["base_dev"]

    # the sweep summary marks the job whose selection was the base
    summary = (sweep / "summary.csv").read_text().splitlines()
    header = summary[0].split(",")
    selected = [row.split(",")[header.index("selected")] for row in summary[1:]]
    assert selected[1] == "base" and selected[0].startswith("checkpoint-")

    # per_query.json: the shipped model's nDCG@10 per dev query (one more dev pass) averages to the dev figure the
    # run chose by; the test split's per query too where the shipped model was evaluated on it
    good_q, bad_q = (json.loads((p / "per_query.json").read_text()) for p in (good, bad))
    assert good_q["metric"] == bad_q["metric"] == "ndcg@10"
    for q, m in ((good_q, m_good), (bad_q, m_bad)):
        assert sum(q["dev"].values()) / len(q["dev"]) == pytest.approx(m["train"]["selected_dev_metric"], abs=1e-6)
    assert sum(good_q["test"].values()) / len(good_q["test"]) == pytest.approx(m_good["fine_tuned"]["ndcg@10"])
    # no dev pass is made twice: the base's (none when both its figures and its per-query values are cached), one
    # per evaluation in training (the trainer's logged eval dicts, less the step-0 base entry), none after it
    for p in (good, bad):
        log = (p / "train.log").read_text().splitlines()
        passes = [x for x in log if "Information Retrieval Evaluation of the model on the" in x and "-dev" in x]
        in_training = sum("[trainer.logs][INFO] - {'eval_" in x for x in log) - 1
        hits = [x for x in log if "evaluation from cache:" in x]
        base_cached = any(x.endswith(".raw.json") for x in hits) and any("per_query_ndcg@10" in x for x in hits)
        assert len(passes) == in_training + (0 if base_cached else 1), p.name

    # the summary compares each job with the best on the same dev queries, with a paired-bootstrap range
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert rows[0]["dev_vs_best"] == "best"
    diff, span = rows[1]["dev_vs_best"].split(" ", 1)
    lo, hi = (float(x) for x in span.strip("[]").split(".."))
    assert float(diff) == pytest.approx(
        m_bad["train"]["selected_dev_metric"] - m_good["train"]["selected_dev_metric"], abs=1e-4
    )
    assert lo <= float(diff) <= hi
    assert "paired-bootstrap range" in (sweep / "summary.md").read_text()


def test_margin_and_keep_base_flag() -> None:
    assert select(0.5, "checkpoint-4", 0.52, "m", margin=0.05, keep_base=True).selected == "base"
    assert select(0.5, "checkpoint-4", 0.56, "m", margin=0.05, keep_base=True).selected == "checkpoint-4"
    kept = select(0.5, "checkpoint-4", 0.4, "m", margin=0.0, keep_base=False)
    assert kept.selected == "checkpoint-4" and kept.base_better and kept.selected_dev == 0.4
    assert select(None, "final", None, None, 0.0, True).selected == "final"  # no dev split: nothing to compare


def test_dev_corpus_sample_is_filled_with_bm25_hard_distractors(tmp_path: Path) -> None:
    rows = [{"query": f"renewal invoice {i}", "positive": f"renewal invoice answer {i} billing"} for i in range(5)]
    rows += [{"query": f"unrelated topic {i}", "positive": f"weather forecast number {i}"} for i in range(40)]
    data = load_pairs("x", {"train": str(write_jsonl(tmp_path / "t.jsonl", rows))})
    dev = {q: d for q, d in data.qrels["train"].items() if data.queries[q].startswith("renewal invoice 0")}
    hard = subsample_corpus(data, dev, size=5, seed=0, fill="bm25")
    easy = subsample_corpus(data, dev, size=5, seed=0, fill="random")
    assert len(hard) == len(easy) == 5
    relevant = next(iter(next(iter(dev.values()))))
    assert relevant in hard and relevant in easy
    assert sum("renewal invoice" in t for t in hard.values()) == 5  # every distractor is a confusable one
    assert sum("renewal invoice" in t for t in easy.values()) < 5
