"""Does dev predict test? The base model and each checkpoint of a SciFact run on three evaluation sets.

    python benchmarks/bench_dev_corpus.py outputs/train/runs/<scifact run> --data-dir ../shared/data \
        --out benchmarks/results/dev_corpus_scifact.json

The run must keep its checkpoints: train it with trainer.keep_checkpoints=all.

Dev is sampled to ``dataset.dev_corpus_size`` documents (the run's setting) filled either at random or with
BM25's top-ranked distractors (``dataset.dev_corpus_fill``); test is the full corpus. For each model the script
writes the three nDCG@10 figures, so one sees which dev sample moves with test and how far above it it sits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf, open_dict

from embtune.dataset.prepared import load_data
from embtune.evaluation.evaluators import EvalInputs, build_evaluator, evaluate_model
from embtune.model.loading import ResolvedModel, load_model, model_prompts, resolve_model, weights_sha256


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/dev_corpus_scifact.json"))
    args = parser.parse_args()
    cfg = OmegaConf.load(args.run_dir / ".hydra" / "config.yaml")
    with open_dict(cfg):
        cfg.paths.data_dir = args.data_dir
    data = load_data(cfg)
    prompts = model_prompts(cfg.model)
    size = cfg.dataset.dev_corpus_size
    evaluators = {
        f"dev_{fill}_{size}": build_evaluator(
            cfg.evaluator, EvalInputs(data, "dev", prompts, None, size, cfg.seed, fill)
        )
        for fill in ("random", "bm25")
    }
    evaluators["test_full"] = build_evaluator(cfg.evaluator, EvalInputs(data, "test", prompts))
    models = {"base": resolve_model(cfg.model.name_or_path, cfg.paths.cache_dir)}
    for ckpt in sorted((args.run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])):
        models[ckpt.name] = ResolvedModel(ckpt, "local", weights_sha256(ckpt))
    results: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    for name, resolved in models.items():
        model = load_model(cfg.model, resolved)
        results[name] = {
            split: round(evaluate_model(model, ev)[cfg.evaluator.main_metric], 4) for split, ev in evaluators.items()
        }
        print(name, results[name], flush=True)
    out = {
        "run_dir": str(args.run_dir),
        "metric": cfg.evaluator.main_metric,
        "dev_queries": len(data.qrels["dev"]),
        "dev_corpus_size": size,
        "results": results,
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out} ({out['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
