"""scripts/paired_compare.py: runs compared query by query from their per_query.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(root: Path, name: str, test: dict[str, float]) -> Path:
    run = root / name
    run.mkdir()
    (run / "per_query.json").write_text(json.dumps({"metric": "ndcg@10", "test": test}))
    return run


def test_each_run_is_compared_with_the_first_on_shared_queries(tmp_path: Path) -> None:
    a = _run(tmp_path, "a", {"q1": 0.5, "q2": 0.4, "q3": 0.9})
    b = _run(tmp_path, "b", {"q1": 0.6, "q2": 0.5, "q3": 1.0, "q4": 0.0})  # +0.1 on every shared query
    out = tmp_path / "paired.json"
    script = str(ROOT / "scripts" / "paired_compare.py")
    done = subprocess.run([sys.executable, script, str(a), str(b), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(out.read_text())["comparisons"]
    assert row["queries"] == 3 and abs(row["diff"] - 0.1) < 1e-9 and all(abs(x - 0.1) < 1e-9 for x in row["range"])
    assert "b - a: +0.1000" in done.stdout
    old = tmp_path / "old"
    old.mkdir()  # a run from before per_query.json: one line naming it
    done = subprocess.run([sys.executable, script, str(a), str(old)], capture_output=True, text=True)
    assert (
        done.returncode == 1
        and done.stderr.strip().startswith("error: no test ndcg@10 per query in")
        and str(old) in done.stderr
    )
