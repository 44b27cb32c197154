"""Re-run a recorded run from its Hydra record, resume an interrupted one in place, or re-evaluate it.

    python -m embtune.rerun outputs/train/runs/<run>            # a new run with the same overrides (make rerun)
    python -m embtune.rerun --resume outputs/train/runs/<run>   # continue from its newest complete checkpoint
    python -m embtune.rerun --eval outputs/train/runs/<run>     # evaluate its model again (make eval)

Extra Hydra overrides may follow the run dir (after ``--`` when they start with a dash). The run dir is passed to
Hydra quoted, so any legal path works (spaces, quotes, ``$``, ``;``). The overrides come from
<run>/.hydra/overrides.yaml; run_info.json records the git commit the run used.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf


def hydra_quote(value: str) -> str:
    """``value`` as a Hydra override value that parses back to exactly ``value``: single-quoted; in Hydra's quoted
    strings only backslashes before a quote, before ``${`` or at the end are escapes, and ``${`` would start an
    interpolation."""
    import re

    out = re.sub(r"(\\*)('|\Z)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), value)
    # backslashes right before `${` are doubled too (else one would escape the next), then `${` is escaped
    return "'" + re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", out) + "'"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue in the same dir from the last checkpoint")
    mode.add_argument("--eval", action="store_true", help="evaluate the run's model (python -m embtune.eval)")
    parser.add_argument("extra", nargs="*", help="more Hydra overrides")
    args = parser.parse_intermixed_args()
    run_dir: Path = args.run_dir
    if args.eval:
        command = [sys.executable, "-m", "embtune.eval", f"model_path={hydra_quote(str(run_dir))}", *args.extra]
        print("running:", " ".join(command[1:]), flush=True)
        return subprocess.call(command)
    record = run_dir / ".hydra" / "overrides.yaml"
    if not record.is_file():
        print(f"error: {record} not found: pass a run dir written by embtune.train", file=sys.stderr)
        return 2
    # a sweep job reruns as a single run: drop what made it a multirun
    dropped = ("resume=", "resume.", "sweep=", "hparams_search=", "hydra.run.dir=")
    overrides = [o for o in OmegaConf.to_container(OmegaConf.load(record)) if not o.startswith(dropped)]
    # secrets were redacted from the record: the run gets them from the environment (WANDB_API_KEY, HF_TOKEN, ...)
    for o in [o for o in overrides if "<redacted>" in o]:
        print(f"note: {o.split('=', 1)[0]} was redacted in the record and is left out; pass it by environment")
        overrides.remove(o)
    # code runs only when this command says so: a record (maybe someone else's run dir) never grants it, neither
    # remote code, nor a config search path of its own, nor a target outside the libraries embtune builds from
    for o in [o for o in overrides if o.lstrip("+~").startswith(("model.trust_remote_code=", "hydra.searchpath="))]:
        print(f"note: {o} is in the record and is left out; add it to this command if you trust the run")
        overrides.remove(o)
    trusted = ("embtune.", "sentence_transformers.", "transformers.", "peft.", "torch.", "hydra.utils.")
    for o in overrides:
        name, _, value = o.partition("=")
        if name.endswith("_target_") and not value.strip("'\"").startswith(trusted):
            print(f"error: {record} sets {name}={value}: code outside embtune; re-run it by hand if you trust it")
            return 2
    overrides.append("hydra.mode=RUN")
    info_file = run_dir / "run_info.json"
    if info_file.is_file():
        git = json.loads(info_file.read_text()).get("git", {})
        print(f"recorded run: git commit {git.get('commit')} (dirty: {git.get('dirty')})", flush=True)
    if args.resume:
        overrides += [f"hydra.run.dir={hydra_quote(str(run_dir))}", "resume.enabled=true"]
    command = [sys.executable, "-m", f"embtune.{recorded_entrypoint(run_dir)}", *overrides, *args.extra]
    print("running:", " ".join(command[1:]), flush=True)
    return subprocess.call(command)


def recorded_entrypoint(run_dir: Path) -> str:
    """The command that made the run (its root config, as Hydra recorded it): ``adapt`` runs resume as adapt, whose
    defaults (pseudo-queries, teacher) are not in the overrides; anything else as ``train``."""
    hydra_record = run_dir / ".hydra" / "hydra.yaml"
    if hydra_record.is_file():
        name = OmegaConf.load(hydra_record).hydra.job.get("config_name")
        if name in ("train", "adapt"):
            return str(name)
    return "train"


def cli() -> None:
    """The command line: secrets given as extra overrides never reach the console ("running: ..." echoes them)."""
    from embtune.run.console_guard import guard_console

    guard_console()
    sys.exit(main())


if __name__ == "__main__":
    cli()
