"""`python -m embtune.advise` end to end on the tiny model: the signals, a nested learning-curve pilot, the cost per
model (measured where the weights are here, estimated where not), a verdict, and advice.json / .md / .png."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_CACHE, needs_shared_data, run_cli

from embtune.advice.signals import overlap, vocabulary
from embtune.dataset.types import RetrievalData
from embtune.model.loading import load_base_model

TINY = ["model=tiny", f"paths.cache_dir={TINY_CACHE}", "trainer.args.num_train_epochs=1"]


def _advise(tmp_path: Path, *overrides: str) -> tuple[Path, object]:
    run_dir = tmp_path / "advice"
    result = run_cli("embtune.advise", *TINY, f"hydra.run.dir={run_dir}", *overrides)
    return run_dir, result


def test_advise_writes_a_verdict_with_its_evidence(tmp_path: Path) -> None:
    # as if only 100 of the embedded data's train queries were labeled: the same dev split measures it
    run_dir, result = _advise(
        tmp_path, "advice.cost.models=[tiny,minilm,e5_base]", "advice.pilot.max_steps=3", "advice.max_train_queries=100"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    advice = json.loads((run_dir / "advice.json").read_text())
    examples = advice["signals"]["examples"]
    assert examples["queries"] == 100 and examples["kept"] == 100 and examples["before_filter"] == 216
    assert advice["signals"]["dev"]["queries"] == 24  # the embedded data's dev queries, untouched by the cut
    # the pilot: nested shares of the train queries, each within the step budget
    pilot = advice["pilot"]
    assert [p["fraction"] for p in pilot] == [0.25, 0.5, 1.0] and [p["examples"] for p in pilot] == [25, 50, 100]
    assert all(1 <= p["steps"] <= 3 for p in pilot)
    forecast = advice["forecast"]
    assert forecast["gain"] == pytest.approx(forecast["pilot_dev"] - forecast["zero_shot_dev"])
    lo, hi = forecast["interval"]
    assert lo <= forecast["gain"] + 1e-9 and forecast["gain"] <= hi + 1e-9
    # cost: the configured model timed by the pilot; MiniLM (offline weights) by 3 real steps of 4 rows, scaled to
    # the batch of 16; e5 (no weights here, never downloaded) estimated from the nearest measured size, MiniLM's
    cost = {c["model"]: c for c in advice["cost"]}
    assert cost["tiny"]["how"] == "measured (pilot)"
    assert cost["minilm"]["how"] == "measured at batch 4, scaled to 16"
    assert cost["e5_base"]["how"].startswith("estimated: minilm's step x 4.8")
    assert cost["e5_base"]["seconds_per_step"] == pytest.approx(cost["minilm"]["seconds_per_step"] * 109.5 / 22.7, 1e-2)
    assert cost["minilm"]["seconds_per_step"] > cost["tiny"]["seconds_per_step"]
    assert cost["tiny"]["device"] == "cpu" and cost["tiny"]["usd"] == pytest.approx(
        cost["tiny"]["hours"] * cost["tiny"]["usd_per_hour"], abs=1e-4
    )
    # the verdict and its reasons: 100 examples fire the tutorial's "< 500" rule
    rec = advice["recommendation"]
    assert rec["verdict"] in ("fine-tune", "try first", "don't") and rec["next_step"]
    assert any("100 training examples (< 500)" in r["reason"] for r in rec["reasons"])
    assert rec["verdict"] != "fine-tune"  # too few examples never gets an unqualified yes
    md = (run_dir / "advice.md").read_text()
    assert f"**{rec['verdict'].upper()}**" in md and "| 100% | 100 |" in md and "![learning curve](advice.png)" in md
    assert (run_dir / "advice.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"ADVICE: {rec['verdict'].upper()}" in result.stdout


def test_advise_without_a_dev_split_says_how_to_get_one(tmp_path: Path) -> None:
    run_dir, result = _advise(tmp_path, "dataset.dev_fraction=0")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: advise needs a dev split")
    assert "dataset.dev_fraction=0.1" in result.stderr and "Traceback" not in result.stderr
    assert (run_dir / "FAILED").is_file() and not (run_dir / "advice.json").exists()


def _data() -> RetrievalData:
    return RetrievalData(
        name="t",
        corpus={"d1": "Subscriber attrition rose in the quarter", "d2": "Customers cancel their plans"},
        queries={"q1": "why do customers cancel", "q2": "attrition of subscribers"},
        qrels={"train": {"q1": {"d2": 1}, "q2": {"d1": 1}}},
    )


def test_overlap_is_the_share_of_query_terms_in_the_positive() -> None:
    # q1 "why do customers cancel" -> content terms {custom, cancel}, both in d2; q2 {attrit, subscrib}: both in d1
    assert overlap(_data()) == {"mean": pytest.approx(1.0), "pairs": 2}
    data = _data()
    data.qrels["train"]["q1"] = {"d1": 1}  # now q1's positive shares none of its terms
    assert overlap(data)["mean"] == pytest.approx(0.5)


def test_vocabulary_counts_occurrences_the_tokenizer_splits(compose_cfg) -> None:  # noqa: ANN001
    model, _ = load_base_model(compose_cfg("model=tiny").model, TINY_CACHE)
    tok = model.tokenizer
    out = vocabulary(_data(), tok, pieces=1, top_terms=50)  # every word is >= 1 piece: all of them count
    assert out["corpus_share"] == pytest.approx(1.0) and out["query_share"] == pytest.approx(1.0)
    split = {t["word"]: t["pieces"] for t in vocabulary(_data(), tok, pieces=3, top_terms=50)["top_terms"]}
    assert all(len(tok.tokenize(w)) >= 3 and pieces == tok.tokenize(w) for w, pieces in split.items())
    words = "subscriber attrition rose in the quarter customers cancel their plans".split()
    expected = sum(len(tok.tokenize(w)) >= 3 for w in words) / len(words)
    assert vocabulary(_data(), tok, pieces=3)["corpus_share"] == pytest.approx(expected)


@needs_shared_data
def test_advise_on_sentence_pairs_says_it_needs_retrieval_data(tmp_path: Path) -> None:
    _, result = _advise(
        tmp_path, "dataset=stsb", "data_format=scored", "loss=cosent", "evaluator=sts", "paths.data_dir=../shared/data"
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: advise measures retrieval data")


def test_a_losing_pilot_advises_a_recipe_search_not_more_labels(tmp_path: Path) -> None:
    """A base that is already good on its data and a pilot that breaks it (lr 1.0): the advice names make tune with
    what the pilot cost here, and never "label more" (the curve never reaches the base)."""
    from test_selection import _lexical_data

    run_dir, result = _advise(
        tmp_path,
        *_lexical_data(tmp_path),
        "quality=none",
        "trainer.args.learning_rate=1.0",
        "advice.pilot.max_steps=6",
        "advice.cost.models=[tiny]",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    advice = json.loads((run_dir / "advice.json").read_text())
    forecast, rec = advice["forecast"], advice["recommendation"]
    assert forecast["gain"] < 0 and forecast["pilot_dev"] < forecast["zero_shot_dev"]
    assert rec["verdict"] != "fine-tune"
    assert "search a recipe that beats it with make tune" in rec["next_step"]
    assert "the pilot trained" in rec["next_step"] and "label ~" not in rec["next_step"]
