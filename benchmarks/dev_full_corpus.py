"""Can a harder dev split separate runs that the sampled dev corpus could not? Each run's model/ on its dev queries
against the whole corpus (as test is scored), query by query, each run against the first with a paired-bootstrap
range. Dev only: a choice made from this never looked at test.

    python benchmarks/dev_full_corpus.py <run a> <run b> [...] --data-dir ../shared/data \
        --out benchmarks/results/scifact_2round/dev_full_corpus.json

The runs must share their dev split (same dataset, dataset.dev_fraction and seed): the first run's config builds it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf, open_dict

from embtune.dataset.prepared import load_data
from embtune.evaluation import per_query
from embtune.evaluation.evaluators import EvalInputs, build_evaluator, evaluate_model
from embtune.model.loading import ResolvedModel, load_model, model_prompts, weights_sha256


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--interval", type=float, default=0.9)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cfg = OmegaConf.load(args.runs[0] / ".hydra" / "config.yaml")
    with open_dict(cfg):
        cfg.paths.data_dir = args.data_dir
    data = load_data(cfg)
    metric = cfg.evaluator.main_metric
    dev = build_evaluator(cfg.evaluator, EvalInputs(data, "dev", model_prompts(cfg.model)))  # no sample: all docs
    started, scores, means = time.perf_counter(), {}, {}
    for run in args.runs:
        model = load_model(cfg.model, ResolvedModel(run / "model", "local", weights_sha256(run / "model")))
        means[run.name] = evaluate_model(model, dev)[metric]
        scores[run.name] = per_query.values(dev, metric)
        print(f"{run.name}: dev (full corpus) {metric} {means[run.name]:.4f}", flush=True)
    first = args.runs[0].name
    rows = []
    for run in args.runs[1:]:
        a, b = scores[run.name], scores[first]
        diff = sum(a[q] - b[q] for q in b) / len(b)
        lo, hi = per_query.paired_interval(a, b, 2000, args.interval, seed=0) or (float("nan"), float("nan"))
        rows.append({"run": run.name, "vs": first, "diff": diff, "range": [lo, hi]})
        print(f"{run.name} - {first}: {diff:+.4f} [{lo:+.4f}..{hi:+.4f}] over {len(b)} dev queries", flush=True)
    out = {
        "metric": metric,
        "dev_queries": len(data.qrels["dev"]),
        "corpus": len(data.corpus),
        "interval": args.interval,
        "dev_full_corpus": means,
        "comparisons": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"{len(args.runs)} runs on {out['dev_queries']} dev queries x {out['corpus']} documents in {out['seconds']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
