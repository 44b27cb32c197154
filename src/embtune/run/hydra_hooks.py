"""Hydra callbacks (conf/hydra/default.yaml) that guard what Hydra itself writes around a run.

- ``CheckRunDir`` (``on_run_start`` / ``on_multirun_start``, called before Hydra creates any dir): a run_name
  that would leave ``paths.output_dir`` and a run/sweep dir that can't be created stop the command with one
  ``error: ...`` line and exit code 1, instead of a stray dir or a traceback from Hydra's ``mkdir``; then the
  dir is locked for this process (``run.lock``): a second run into it is refused in one line.
- ``RedactHydraRecord`` (``on_job_start``, called right after Hydra saved ``.hydra/config.yaml``, ``hydra.yaml``
  and ``overrides.yaml``; the sweeper saved ``multirun.yaml`` before the first job): rewrites those files with
  secret values replaced by ``<redacted>``, so that no file of a run dir holds an API key passed as an override.
  A redacted run reruns (``make rerun``) only with the secret supplied again: by environment (``WANDB_API_KEY``,
  ``HF_TOKEN``, or a config value ``${oc.env:NAME}``, which is kept as written), or as an extra override.
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from embtune.errors import EmbtuneError
from embtune.run.console_guard import guard_console
from embtune.run.files import write_text_atomic
from embtune.run.lock import lock_run_dir, release_run_dir
from embtune.run.redact import add_secrets, redact, redact_argv, redact_text

_RUN_NAME_FIX = "Fix: pick a plain name, e.g. run_name=my_experiment (no '/', '\\', '..', NUL, no leading '-' or '.')."


FINISHED_MARKERS = ("metrics.json", "advice.json")  # written last by train / eval and by advise


class CheckRunDir(Callback):
    """Refuse, before anything is created, a run_name that escapes the output tree, an unwritable output dir, and a
    run dir that already holds a finished run (a fixed hydra.run.dir or EMBTUNE_RUN_STAMP used twice).

    ``continue_unfinished`` (embtune.tune): the same command as a stopped one continues in that one's dir."""

    def __init__(self, continue_unfinished: bool = False) -> None:
        self.continue_unfinished = continue_unfinished

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir", "run dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir", "sweep dir")

    def _check(self, config: DictConfig, dir_key: str, what: str) -> None:
        try:
            run_name, target = _resolve(config, dir_key)
        except Exception:  # a broken interpolation: Hydra reports it in its own words next
            return
        names = [run_name] if run_name is not None else []
        names += _swept_run_names(config)
        for name in names:
            if problem := run_name_problem(str(name)):
                raise SystemExit(f"error: {EmbtuneError(f'run_name={name} {problem}. {_RUN_NAME_FIX}')}") from None
        if target is not None and (reason := cannot_create_dir(Path(target))):
            message = f"cannot create the {what} {target}: {reason}. Fix: set paths.output_dir to a writable folder."
            raise SystemExit(f"error: {EmbtuneError(message)}") from None
        if self.continue_unfinished and dir_key == "hydra.run.dir" and target is not None:
            if (stopped := stopped_twin(Path(target), config)) is not None:
                with read_write(config.hydra), open_dict(config.hydra):
                    config.hydra.run.dir = str(stopped)
                target = str(stopped)
        resuming = bool(OmegaConf.select(config, "resume.enabled", default=False))
        if dir_key == "hydra.run.dir" and target is not None and not resuming:
            finished = [f for f in FINISHED_MARKERS if (Path(target) / f).is_file()]
            if finished:
                message = (
                    f"the run dir {target} holds a finished run ({finished[0]}); a new run never writes over it. "
                    "Fix: leave hydra.run.dir / EMBTUNE_RUN_STAMP unset (each run gets its own dir), or re-run it "
                    "with make rerun RUN=<dir>."
                )
                raise SystemExit(f"error: {EmbtuneError(message)}") from None
        if target is not None:  # one process per run / sweep dir, before anything is read or written in it
            try:
                lock_run_dir(Path(target), what)
            except EmbtuneError as e:
                raise SystemExit(f"error: {e}") from None
            if dir_key == "hydra.run.dir" and not resuming and (Path(target) / "metrics.json").is_file():
                raise SystemExit(f"error: the run dir {target} finished while this run waited to start.") from None

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """A sweep's job dir is locked too, while the job runs (a resume into it meanwhile is refused)."""
        if OmegaConf.select(config, "hydra.mode") == RunMode.MULTIRUN:
            try:
                lock_run_dir(Path(str(config.hydra.runtime.output_dir)))
            except EmbtuneError as e:
                raise SystemExit(f"error: {e}") from None

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        if OmegaConf.select(config, "hydra.mode") == RunMode.MULTIRUN:
            release_run_dir(Path(str(config.hydra.runtime.output_dir)))


def stopped_twin(target: Path, config: DictConfig) -> Path | None:
    """The newest unfinished dir beside ``target`` that the same command made (the same overrides in its record)
    and that holds a plan (it got as far as planning): what a stopped tune left to continue."""
    overrides = redact_argv([str(o) for o in OmegaConf.select(config, "hydra.overrides.task", default=None) or []])
    if not target.parent.is_dir():
        return None
    for d in sorted((d for d in target.parent.iterdir() if d.is_dir() and d != target), reverse=True):
        record = d / ".hydra" / "overrides.yaml"
        if (d / "plan.json").is_file() and not (d / "metrics.json").is_file() and record.is_file():
            try:
                if [str(o) for o in OmegaConf.load(record)] == overrides:
                    return d
            except Exception:  # noqa: BLE001 - an unreadable record is no twin
                continue
    return None


def _resolve(config: DictConfig, dir_key: str) -> tuple[Any, str | None]:
    """(run_name, run/sweep dir), resolved on a copy (``${hydra:...}`` needs HydraConfig, set here for a moment)."""
    cfg = copy.deepcopy(config)
    instance = HydraConfig.instance()
    previous = instance.cfg
    instance.set_config(cfg)
    try:
        target = OmegaConf.select(cfg, dir_key)
        run_name = OmegaConf.select(cfg, "run_name")
    finally:
        instance.cfg = previous
    # the dir Hydra makes next is the one checked and locked: `${now:}` resolves once (its cache), as for sweep jobs
    OmegaConf.copy_cache(from_config=cfg, to_config=config)
    return run_name, None if target is None else str(target)


def _swept_run_names(config: DictConfig) -> list[str]:
    """Every value a sweep gives run_name (``-m run_name=a,b``): each becomes a job's dir name."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    out: list[str] = []
    for text in OmegaConf.select(config, "hydra.overrides.task", default=None) or []:
        if not str(text).lstrip("+~").startswith("run_name="):
            continue
        try:
            (override,) = OverridesParser.create().parse_overrides([str(text)])
            if override.is_sweep_override():
                out += [str(v) for v in override.sweep_string_iterator()]
            else:
                out.append(str(override.value()))
        except Exception:  # Hydra rejects a malformed override itself
            continue
    return out


def run_name_problem(name: str) -> str | None:
    """Why ``name`` can't be a dir name inside the output tree, or None when it can."""
    if "\0" in name:
        return "contains a NUL byte"
    if ".." in name:
        return "contains '..' (the run dir would land outside paths.output_dir)"
    for sep in ("/", "\\"):
        if sep in name:
            return f"contains the path separator '{sep}' (the run dir would land in another folder)"
    if name.startswith(("-", ".")):
        return f"starts with '{name[0]}' (a hidden dir, or one that reads as a command-line option)"
    return None


def cannot_create_dir(target: Path) -> str | None:
    """Why ``target`` can't be created (checked at its nearest existing ancestor), or None when it can."""
    path = Path(os.path.abspath(target))
    existing = path
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    if existing == path:
        return None
    try:  # os.access trusts permission bits; root, read-only mounts and /proc need the real thing
        os.rmdir(tempfile.mkdtemp(prefix=".embtune-write-check-", dir=existing))
    except OSError as e:
        return f"cannot create a folder in {existing} ({e.strerror or e})"
    return None


class RedactHydraRecord(Callback):
    """Rewrite Hydra's record of a job (and of its sweep) with secret values replaced by ``<redacted>``."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        # a launcher's worker (joblib, submitit) has the job's overrides only here, not on its command line
        add_secrets([str(o) for o in OmegaConf.select(config, "hydra.overrides.task", default=None) or []])
        guard_console()
        subdir = OmegaConf.select(config, "hydra.output_subdir")
        if subdir is not None:
            record = Path(str(config.hydra.runtime.output_dir)) / str(subdir)
            redact_yaml(record / "config.yaml")
            redact_yaml(record / "hydra.yaml")
            redact_yaml(record / "overrides.yaml")
        if OmegaConf.select(config, "hydra.mode") == RunMode.MULTIRUN:
            self._redact_sweep(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._redact_sweep(config)

    @staticmethod
    def _redact_sweep(config: DictConfig) -> None:
        sweep_dir = OmegaConf.select(config, "hydra.sweep.dir")
        if sweep_dir is not None:
            redact_yaml(Path(str(sweep_dir)) / "multirun.yaml")
            redact_yaml(Path(str(sweep_dir)) / "optimization_results.yaml")  # the Optuna sweeper's, at the end


def redact_yaml(path: Path) -> None:
    """Rewrite one of Hydra's YAML records in place (atomically, only when something changes)."""
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    loaded = OmegaConf.to_container(OmegaConf.create(text), resolve=False)
    cleaned = redact_record(loaded)
    if cleaned != loaded:
        write_text_atomic(path, OmegaConf.to_yaml(OmegaConf.create(cleaned)))


def redact_record(record: Any) -> Any:
    """A Hydra record without secrets: config keys by name, override strings (and override_dirname) by value."""
    if isinstance(record, list):  # overrides.yaml
        return redact_argv([str(o) for o in record])
    cleaned = redact(record)
    hydra = cleaned.get("hydra") if isinstance(cleaned, dict) else None
    if isinstance(hydra, dict):
        overrides = hydra.get("overrides")
        if isinstance(overrides, dict):
            for key in ("task", "hydra"):
                if isinstance(overrides.get(key), list):
                    overrides[key] = redact_argv([str(o) for o in overrides[key]])
        job = hydra.get("job")
        if isinstance(job, dict) and isinstance(job.get("override_dirname"), str):
            job["override_dirname"] = redact_text(job["override_dirname"])
    return cleaned
