"""Re-run a recorded run from its Hydra record, or resume an interrupted one in place.

    python scripts/rerun.py outputs/train/runs/<run>            # a new run with the same overrides (make rerun)
    python scripts/rerun.py outputs/train/runs/<run> --resume   # continue it from its last checkpoint (make resume)

The overrides come from <run>/.hydra/overrides.yaml; run_info.json records the git commit the run used.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true", help="continue in the same dir from the last checkpoint")
    parser.add_argument("extra", nargs="*", help="more Hydra overrides")
    args = parser.parse_args()
    record = args.run_dir / ".hydra" / "overrides.yaml"
    if not record.is_file():
        print(f"error: {record} not found: pass a run dir written by embtune.train", file=sys.stderr)
        return 2
    # a sweep job reruns as a single run: drop what made it a multirun
    dropped = ("resume=", "sweep=", "hparams_search=")
    overrides = [o for o in OmegaConf.to_container(OmegaConf.load(record)) if not o.startswith(dropped)]
    overrides.append("hydra.mode=RUN")
    info_file = args.run_dir / "run_info.json"
    if info_file.is_file():
        git = json.loads(info_file.read_text()).get("git", {})
        print(f"recorded run: git commit {git.get('commit')} (dirty: {git.get('dirty')})", flush=True)
    if args.resume:
        overrides += [f"hydra.run.dir={args.run_dir}", "resume=true"]
    command = [sys.executable, "-m", "embtune.train", *overrides, *args.extra]
    print("running:", " ".join(command[1:]), flush=True)
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
