"""The advisor's forecast next to what a full run then measured: one row per (advice dir, run dir) pair.

    python benchmarks/advice_calibration.py --out benchmarks/results/advice_calibration.json \\
        default=outputs/advise/runs/<advice>:outputs/train/runs/<run>  scifact=<advice>:<run>  cut300=<advice>

A pair without a run dir reports the advice alone. "hit" says whether the full run's gain (dev, and test) fell
inside the advice's interval; a miss is reported as a miss.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def row(label: str, advice_dir: Path, run_dir: Path | None) -> dict[str, Any]:
    advice = json.loads((advice_dir / "advice.json").read_text())
    f, rec = advice["forecast"], advice["recommendation"]
    lo, hi = f["interval"] or (f["gain"], f["gain"])
    configured = next((c for c in advice["cost"] if c["model"] == advice["model_choice"]), {})
    out: dict[str, Any] = {
        "label": label,
        "advice_dir": str(advice_dir),
        "verdict": rec["verdict"],
        "next_step": rec["next_step"],
        "examples": advice["signals"]["examples"]["kept"],
        "zero_shot_dev": f["zero_shot_dev"],
        "bm25_dev": advice["signals"]["dev"].get("bm25"),
        "forecast_gain_dev": f["gain"],
        "forecast_interval": [lo, hi],
        "per_doubling": f["per_doubling"],
        "forecast_train_hours": configured.get("hours"),
        "advice_seconds": advice["seconds"],
    }
    if run_dir is None:
        return out
    m = json.loads((run_dir / "metrics.json").read_text())
    selection, main = m["train"]["selection"], m["main_metric"]
    dev_gain = m["train"]["selected_dev_metric"] - selection["base_dev"]
    test_gain = m["fine_tuned"][main] - m["zero_shot"][main]
    return out | {
        "run_dir": str(run_dir),
        "actual_gain_dev": dev_gain,
        "actual_gain_test": test_gain,
        "actual_test": m["fine_tuned"][main],
        "hit_dev": lo <= dev_gain <= hi,
        "hit_test": lo <= test_gain <= hi,
        "actual_train_hours": m["train"]["seconds"] / 3600,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="+", help="label=advice_dir[:run_dir]")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = []
    for spec in args.pairs:
        label, _, dirs = spec.partition("=")
        advice_dir, _, run_dir = dirs.partition(":")
        rows.append(row(label, Path(advice_dir), Path(run_dir) if run_dir else None))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    for r in rows:
        actual = (
            f"; actual dev {r['actual_gain_dev']:+.3f} ({'hit' if r['hit_dev'] else 'MISS'}), test "
            f"{r['actual_gain_test']:+.3f} ({'hit' if r['hit_test'] else 'MISS'})"
            if "run_dir" in r
            else ""
        )
        lo, hi = r["forecast_interval"]
        print(f"{r['label']}: {r['verdict']}, forecast {r['forecast_gain_dev']:+.3f} [{lo:+.3f}, {hi:+.3f}]{actual}")


if __name__ == "__main__":
    main()
