"""Fine-tune on SciFact with a recipe, evaluate on test, append one row to a results CSV.

    python benchmarks/bench_scifact.py --data-dir ../shared/data [--out outputs/bench/scifact.csv] [overrides ...]

Default recipe: experiment=scifact_minilm. Each row: time, overrides, zero-shot / fine-tuned / BM25 nDCG@10,
train and total seconds, git commit, run dir.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

FIELDS = [
    "finished",
    "overrides",
    "bm25",
    "zero_shot",
    "fine_tuned",
    "delta",
    "train_seconds",
    "total_seconds",
    "git_commit",
    "run_dir",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--out", default="outputs/bench/scifact.csv")
    parser.add_argument("--output-dir", default="outputs/bench/runs")
    parser.add_argument("overrides", nargs="*", default=[])
    args = parser.parse_args()
    overrides = args.overrides or ["experiment=scifact_minilm"]
    started = time.perf_counter()
    cmd = [
        sys.executable,
        "-m",
        "embtune.train",
        *overrides,
        f"paths.data_dir={args.data_dir}",
        f"paths.output_dir={args.output_dir}",
    ]
    code = subprocess.call(cmd)
    if code != 0:
        return code
    run = max((Path(args.output_dir) / "train" / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    m = json.loads((run / "metrics.json").read_text())
    info = json.loads((run / "run_info.json").read_text())
    main_metric = m["main_metric"]
    row = {
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "overrides": " ".join(overrides),
        "bm25": m.get("bm25", {}).get(main_metric),
        "zero_shot": m["zero_shot"][main_metric],
        "fine_tuned": m["fine_tuned"][main_metric],
        "delta": m["delta"]["vs_zero_shot"],
        "train_seconds": m["train"]["seconds"],
        "total_seconds": round(time.perf_counter() - started, 1),
        "git_commit": info["git"]["commit"],
        "run_dir": str(run),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    new = not out.exists()
    with out.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)
    print(json.dumps(row, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
