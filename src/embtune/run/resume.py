"""Resume that cannot go wrong: the newest *complete* checkpoint, the same config, and never a finished run.

A fresh run records the config it trains with (``config.json`` in its run dir) before training. ``resume.enabled``
compares the current config against it: a difference outside ``resume.allow_changes`` is refused with the diff,
since the trainer would silently keep the checkpoint's optimizer state while the record claimed the new values.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from embtune.errors import EmbtuneError
from embtune.run.checkpoints import newest_complete_checkpoint
from embtune.run.failure import make_command
from embtune.run.files import write_json_atomic
from embtune.run.legacy import upgrade

log = logging.getLogger("embtune.run.resume")

CONFIG_RECORD = "config.json"


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): obj}


def config_diff(recorded: dict[str, Any], current: dict[str, Any], allowed: list[str]) -> list[str]:
    """``key: old -> new`` for every dotted key that differs, except those under an allowed prefix. A key the record
    lacks whose value now is null (an option added since, at its do-nothing default) is no change."""
    old, new = _flatten(recorded), _flatten(current)
    changes = []
    for key in sorted(set(old) | set(new)):
        if any(key == a or key.startswith(a + ".") for a in allowed):
            continue
        if key not in old and new[key] in (None, {}):
            continue
        if old.get(key, "<absent>") != new.get(key, "<absent>"):
            changes.append(f"{key}: {old.get(key, '<absent>')!r} -> {new.get(key, '<absent>')!r}")
    return changes


def record_config(run_dir: Path, config: dict[str, Any]) -> None:
    """What this run trains with, written once at its start (a resumed run keeps the original)."""
    path = run_dir / CONFIG_RECORD
    if not path.exists():
        write_json_atomic(path, config)


def check_resumable(resume_cfg: DictConfig, run_dir: Path, config: dict[str, Any]) -> list[str]:
    """Refuse a finished run or a changed config; returns the changes accepted with ``resume.force``."""
    if (run_dir / "metrics.json").is_file():
        raise EmbtuneError(
            f"{run_dir} already finished (metrics.json is there): nothing to resume, and resuming would train past "
            f"its end and overwrite its results. Fix: {make_command('rerun', run_dir)} for a new run, same config."
        )
    record = run_dir / CONFIG_RECORD
    if not record.is_file():
        log.warning(
            "resume: %s has no %s (made by an older embtune): the config can't be checked", run_dir, record.name
        )
        return []
    changes = config_diff(
        upgrade(json.loads(record.read_text(encoding="utf-8")), current=config), config, list(resume_cfg.allow_changes)
    )
    if changes and not resume_cfg.force:
        more = f" (and {len(changes) - 3} more)" if len(changes) > 3 else ""
        raise EmbtuneError(
            f"resume: the config differs from the one {run_dir} trained with: {'; '.join(changes[:3])}{more}. "
            f"The checkpoint would silently keep its old state. Fix: resume without those overrides "
            f"({make_command('resume', run_dir)}), start a new run, or set resume.force=true to resume anyway."
        )
    if changes:
        log.warning("resume.force=true: resuming with a changed config: %s", "; ".join(changes))
    return changes


class ResumeGuard(Callback):
    """Checks a resume before Hydra rewrites the run dir's .hydra/ record: a refused resume leaves the run as it was."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.get("resume") or not config.resume.enabled:
            return
        from embtune.run.tracking import resolved_config

        HydraConfig.instance().set_config(config)  # resolves ${hydra:...} in the job config
        try:
            check_resumable(config.resume, Path(str(config.hydra.run.dir)), resolved_config(config))
        except EmbtuneError as e:
            raise SystemExit(f"error: {e}") from None


def resume_checkpoint(resume_cfg: DictConfig, run_dir: Path, config: dict[str, Any]) -> tuple[str | None, list[str]]:
    """(checkpoint to resume from or None, config changes accepted with ``resume.force``).

    Refuses: a finished run (metrics.json present), a config that differs from the recorded one, a run dir
    without a complete checkpoint.
    """
    if not resume_cfg.enabled:
        return None, []
    forced = check_resumable(resume_cfg, run_dir, config)
    checkpoint = newest_complete_checkpoint(run_dir / "checkpoints")
    if checkpoint is None:
        raise EmbtuneError(
            f"resume: {run_dir / 'checkpoints'} holds no complete checkpoint (the run stopped before its first save). "
            "Fix: start the run again (make rerun RUN=<run dir>)."
        )
    log.info("resuming from %s", checkpoint)
    return str(checkpoint), forced
