"""One sweep-style summary over finished runs from different commands (a sweep, a single run, a two-round run):
the same summary.csv / summary.md / summary.png / curves.png a sweep writes, each run named by what varied.

    python scripts/compare_runs.py benchmarks/results/scifact_levers outputs/train/runs/<a> \\
        outputs/train/multiruns/<s>/0_<b>

The runs are linked into a scratch dir in the order given, summarised by embtune's own sweep summary, and the four
files are copied to the output dir (nothing of the runs is copied or changed).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from embtune.search.sweep_summary import write_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        sweep = Path(scratch) / args.out.name
        sweep.mkdir()
        for i, run in enumerate(args.runs):
            (sweep / f"{i}_{run.name}").symlink_to(run.resolve(), target_is_directory=True)
        rows = write_summary(sweep)
        args.out.mkdir(parents=True, exist_ok=True)
        for name in ("summary.csv", "summary.md", "summary.png", "curves.png"):
            if (sweep / name).is_file():
                shutil.copyfile(sweep / name, args.out / name)
    for r in rows:
        print(f"{r['best'] or ' '} {r['varied']}: dev {r.get('dev')}, test {r.get('fine_tuned')}")


if __name__ == "__main__":
    main()
