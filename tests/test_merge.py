"""What fine-tuning broke (regression sets) and taking some of it back (weight interpolation with the base), through
the real CLI on the tiny model; the model card carries both."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY_CACHE, only_run_dir, run_cli
from sentence_transformers import SentenceTransformer
from test_selection import _lexical_data

from embtune.errors import EmbtuneError
from embtune.evaluation.regression import regression_sets
from embtune.model.loading import weights_sha256
from embtune.model.tiny import build_tiny_model
from embtune.training.merge import interpolate


def _sts_dir(tmp: Path) -> Path:
    """A small STS-style set (sentence1, sentence2, score 0-5): the regression set of these runs."""
    rng = random.Random(1)
    words = "time plan price account service team market order product data report staff".split()
    rows = ["sentence1\tsentence2\tscore"]
    for _ in range(60):
        a = rng.sample(words, 4)
        b = a[:2] + rng.sample(words, 2) if rng.random() < 0.5 else rng.sample(words, 4)
        rows.append(f"{' '.join(a)}\t{' '.join(b)}\t{5 * len(set(a) & set(b)) / 4:.2f}")
    root = tmp / "sts"
    root.mkdir()
    (root / "test.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def test_interpolate_mixes_every_float_weight_and_refuses_different_models(tmp_path: Path) -> None:
    a = SentenceTransformer(str(build_tiny_model(tmp_path / "a", seed=0)))
    b = SentenceTransformer(str(build_tiny_model(tmp_path / "b", seed=1)))
    mixed = interpolate(a, b, 0.25)
    sa, sb, sm = a.state_dict(), b.state_dict(), mixed.state_dict()
    floats = [k for k, v in sb.items() if v.is_floating_point()]
    assert floats and any(not torch.equal(sa[k], sb[k]) for k in floats)
    for k in floats:
        torch.testing.assert_close(sm[k], 0.75 * sa[k] + 0.25 * sb[k])
    assert all(
        torch.equal(x, y) for x, y in zip(interpolate(a, b, 0.0).state_dict().values(), sa.values(), strict=True)
    )
    small = SentenceTransformer(str(build_tiny_model(tmp_path / "c", seed=0, hidden_size=32)))
    with pytest.raises((EmbtuneError, RuntimeError)):
        interpolate(a, small, 0.5)


def test_a_required_regression_set_that_is_absent_is_one_clear_error(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg("model=tiny", f"paths.data_dir={tmp_path}/nowhere")
    assert regression_sets(cfg) == []  # not required: skipped (with a warning)
    cfg = compose_cfg("model=tiny", f"paths.data_dir={tmp_path}/nowhere", "regression.stsb.required=true")
    with pytest.raises(EmbtuneError, match=r"regression set 'stsb': dataset dir not found: .*nowhere/stsb"):
        regression_sets(cfg)


def test_regression_merge_and_card_of_a_real_run_then_make_merge_on_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    sts = _sts_dir(tmp_path)
    common = [f"paths.cache_dir={TINY_CACHE}", f"regression.stsb.dataset.source.path={sts}"]
    result = run_cli(
        "embtune.train",
        "model=tiny",
        "trainer=debug",
        *common,
        *_lexical_data(tmp_path),
        "quality=none",
        "trainer.args.max_steps=20",
        "trainer.args.learning_rate=1e-3",
        "merge=interpolate",
        "merge.alphas=[0.0,0.5,1.0]",
        f"paths.output_dir={out}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = only_run_dir(out)
    m = json.loads((run / "metrics.json").read_text())
    reg = m["regression"]["stsb"]
    assert reg["metric"] == "spearman" and reg["delta"] == pytest.approx(reg["fine_tuned"] - reg["zero_shot"])
    alphas = {r["alpha"]: r for r in m["merge"]["alphas"]}
    assert sorted(alphas) == [0.0, 0.5, 1.0]
    assert alphas[0.0]["regression"]["stsb"] == pytest.approx(reg["zero_shot"], abs=1e-9)  # alpha 0 is the base
    assert alphas[0.0]["regression_drop"] == 0.0
    picked = alphas[m["merge"]["picked"]]
    assert picked["dev"] == max(r["dev"] for r in alphas.values())  # best_dev
    assert reg["fine_tuned"] == pytest.approx(picked["regression"]["stsb"], abs=1e-9)  # the mix shipped
    assert m["train"]["selected_dev_metric"] == picked["dev"]
    assert (run / "merge.png").stat().st_size > 1000
    card = (run / "model" / "README.md").read_text()
    assert "## Fine-tuned with embtune: the evidence" in card
    assert f"{m['fine_tuned']['ndcg@10']:.4f}" in card and f"{m['zero_shot']['ndcg@10']:.4f}" in card
    assert "| stsb | spearman |" in card and "python -m embtune.train" in card and "merge=interpolate" in card

    # make merge RUN=<run> on the finished run: a new dir with the pick; the run's own model/ untouched
    before = weights_sha256(run / "model")
    again = subprocess.run(
        [
            sys.executable,
            "scripts/rerun.py",
            "--eval",
            str(run),
            "--",
            "merge=interpolate",
            "merge.alphas=[0.0,1.0]",
            *common,
            f"paths.output_dir={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    (merged,) = (out / "eval" / "runs").iterdir()
    mm = json.loads((merged / "metrics.json").read_text())
    assert [r["alpha"] for r in mm["merge"]["alphas"]] == [0.0, 1.0] and (merged / "model").is_dir()
    assert mm["regression"]["stsb"]["zero_shot"] == pytest.approx(reg["zero_shot"], abs=1e-9)
    assert weights_sha256(run / "model") == before
    merged_card = (merged / "model" / "README.md").read_text()
    assert "## Fine-tuned with embtune: the evidence" in merged_card and "python -m embtune.eval" in merged_card
    assert f"alpha `{mm['merge']['picked']}`" in merged_card


def test_push_without_the_hub_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "README.md").write_text("card")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    push = [sys.executable, "scripts/push.py", str(tmp_path / "run")]
    done = subprocess.run([*push, "me/model"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("error: upload to me/model failed (") and "Traceback" not in done.stderr
    bad = subprocess.run([*push, "no-slash"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "REPO='no-slash'" in bad.stderr


def test_merge_choices_fail_before_anything_loads(compose_cfg, tmp_path: Path) -> None:
    from hydra.utils import instantiate

    from embtune.dataset.prepared import load_data
    from embtune.errors import user_error
    from embtune.evaluation.baselines import build_evaluation
    from embtune.training.choices import check_choices

    for bad, match in (
        ("merge.pick=foo", "merge.pick='foo'"),
        ("merge.alphas=[0.0,2.0]", r"merge.alphas=\[0.0, 2.0\]"),
    ):
        with pytest.raises(EmbtuneError, match=match):
            check_choices(compose_cfg("model=tiny", "merge=interpolate", bad))
    cfg = compose_cfg("model=tiny", "merge=interpolate", "dataset.dev_fraction=0")
    with pytest.raises(EmbtuneError, match="merge.alphas needs a dev split"):
        build_evaluation(cfg, load_data(cfg), {}, with_dev=True)
    # a key no target takes is one line naming the node (here the quality filter), not a traceback
    with pytest.raises(Exception) as caught:
        instantiate(compose_cfg("model=tiny", "+quality.foo=1").quality)
    line = str(user_error(caught.value))
    assert line.startswith("config quality: ") and "unexpected keyword argument 'foo'" in line


def test_eval_merge_without_a_run_is_one_clear_line(tmp_path: Path) -> None:
    result = run_cli(
        "embtune.eval",
        "model=tiny",
        "merge=interpolate",
        f"paths.cache_dir={TINY_CACHE}",
        f"paths.output_dir={tmp_path}",
    )
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1].startswith(
        "error: merge=interpolate mixes a fine-tuned model with its base"
    ), result.stderr[-2000:]
