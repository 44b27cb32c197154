"""Paired comparison of finished runs on one split, query by query (from each run's per_query.json): each run
against the first, mean difference with its paired-bootstrap range. For reading results after the choice is made;
choose on dev (the sweep summary's dev_vs_best), never on test.

    python scripts/paired_compare.py --split test --out benchmarks/results/x.json <run a> <run b> [<run c> ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from embtune.evaluation import per_query


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--split", default="test")
    parser.add_argument("--metric", default="ndcg@10")
    parser.add_argument("--interval", type=float, default=0.9)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    scores = {run: per_query.load(run, args.split, args.metric) for run in args.runs}
    missing = [str(run) for run, s in scores.items() if not s]
    if missing:
        raise SystemExit(f"error: no {args.split} {args.metric} per query in {', '.join(missing)} (per_query.json).")
    first, base = args.runs[0], scores[args.runs[0]]
    rows = []
    for run in args.runs[1:]:
        shared = sorted(set(scores[run]) & set(base))
        diff = sum(scores[run][q] - base[q] for q in shared) / len(shared)
        lo, hi = per_query.paired_interval(scores[run], base, args.bootstrap, args.interval, seed=0) or (None, None)
        rows.append({"run": run.name, "vs": first.name, "queries": len(shared), "diff": diff, "range": [lo, hi]})
        print(f"{run.name} - {first.name}: {diff:+.4f} [{lo:+.4f}..{hi:+.4f}] over {len(shared)} {args.split} queries")
    if args.out:
        report = {"split": args.split, "metric": args.metric, "interval": args.interval, "comparisons": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
