"""Check the evaluation pipeline against published zero-shot figures; writes a JSON results file.

    python benchmarks/check_eval.py --data-dir ../shared/data --out outputs/bench/check_eval.json

all-MiniLM-L6-v2: SciFact test nDCG@10 0.6451 (+-0.001), STS-B test Spearman (cosine) 0.8203 (+-0.01).
Exit code 1 when a figure is off. Runs through embtune.eval (same code path as `make eval`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig

from embtune.eval import evaluate

ROOT = Path(__file__).resolve().parents[1]
CHECKS = [
    # (name, overrides, metric, expected, tolerance)
    ("scifact_minilm_ndcg@10", ["dataset=scifact"], "ndcg@10", 0.6451, 0.001),
    ("stsb_minilm_spearman", ["dataset=stsb", "evaluator=sts"], "spearman", 0.8203, 0.01),
]


def run_check(overrides: list[str], out_dir: Path) -> dict:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("eval", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return evaluate(cfg, out_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--out", default="outputs/bench/check_eval.json")
    args = parser.parse_args()
    out = Path(args.out)
    results, ok = {}, True
    for name, overrides, metric, expected, tol in CHECKS:
        started = time.perf_counter()
        metrics = run_check(
            ["model=minilm", f"paths.data_dir={args.data_dir}", *overrides], out.parent / "check_eval_runs" / name
        )
        value = metrics["zero_shot"][metric]
        passed = abs(value - expected) <= tol
        ok &= passed
        results[name] = {
            "value": round(value, 4),
            "expected": expected,
            "tolerance": tol,
            "passed": passed,
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(name, results[name], flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
