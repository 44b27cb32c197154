"""Two rounds of hard-negative mining (ANCE-style): train a recipe, then train it again from the base model on the
negatives the round-1 model still confuses (mining=dense with mining.model_path=<round 1>/model).

    python benchmarks/two_round.py experiment=scifact_minilm                 # both rounds (make train-2round)
    python benchmarks/two_round.py --round1 outputs/train/runs/<run> experiment=scifact_minilm   # round 2 only

Round 2 keeps every override of round 1 (the recipe: data, format, loss, trainer, the mining range and count) and
only swaps the miner. Each round is a normal run dir; the last line names both.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from embtune.rerun import hydra_quote


def train(overrides: list[str], stamp: str, output_dir: Path) -> Path | None:
    """One `python -m embtune.train` run under EMBTUNE_RUN_STAMP; its run dir, or None when it failed."""
    command = [sys.executable, "-m", "embtune.train", *overrides]
    print("running:", " ".join(command[1:]), flush=True)
    if subprocess.call(command, env={**os.environ, "EMBTUNE_RUN_STAMP": stamp}) != 0:
        return None
    found = sorted((output_dir / "train" / "runs").glob(f"{stamp}_*"))
    return found[-1] if found else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--round1",
        type=Path,
        default=Path(os.environ["ROUND1"]) if os.environ.get("ROUND1") else None,
        help="a finished run to mine with, skipping round 1 (default: $ROUND1; make train-2round ROUND1=<run>)",
    )
    parser.add_argument("overrides", nargs="*", help="the recipe's Hydra overrides (both rounds)")
    args = parser.parse_intermixed_args()
    output_dir = Path(os.environ.get("EMBTUNE_OUTPUT_DIR", "outputs"))
    for o in args.overrides:
        if o.startswith("paths.output_dir="):
            output_dir = Path(o.split("=", 1)[1])
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    first = args.round1 or train(args.overrides, f"{stamp}-round1", output_dir)
    if first is None or not (first / "model").is_dir():
        where = f" ({first})" if first else ""
        print(f"error: round 1 left no model to mine with{where}. Fix: a finished run with model/.", file=sys.stderr)
        return 1
    recipe = [o for o in args.overrides if not o.startswith("mining=")]  # round 2 swaps the miner only
    second = train(
        [*recipe, "mining=dense", f"mining.model_path={hydra_quote(str(first / 'model'))}"],
        f"{stamp}-round2",
        output_dir,
    )
    if second is None:
        return 1
    print(f"two rounds: round 1 {first}, round 2 {second} (negatives mined with round 1's model)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
