"""Trainer checkpoints in a run dir: which are complete (resumable), and what is kept once a run has finished.

A checkpoint of a 22M-parameter model is ~260 MB, most of it optimizer state: worth keeping while a run may be
resumed, not after it finished (``trainer.keep_checkpoints``).
"""

from __future__ import annotations

import json
import logging
import shutil
import zipfile
from pathlib import Path

from embtune.errors import EmbtuneError

log = logging.getLogger("embtune.run.checkpoints")

KEEP = ("none", "best", "all")
# written by transformers' Trainer in this order; trainer_state.json comes last, so its presence (parseable,
# at the checkpoint's own step) means everything before it was written
CHECKPOINT_FILES = ("model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json")
# a LoRA run's checkpoints hold the adapter's weights instead of the model's (model/adapter=lora)
WEIGHT_FILES = ("model.safetensors", "adapter_model.safetensors")
# what only resuming needs: dropped from a checkpoint kept as "best"
RESUME_STATE = ("optimizer.pt", "scheduler.pt", "rng_state.pth", "scaler.pt", "training_args.bin")


def checkpoint_problem(path: Path) -> str | None:
    """Why a checkpoint dir can't be resumed from (None when it is complete)."""
    missing = [f for f in CHECKPOINT_FILES[1:] if not (path / f).is_file()]
    if not any((path / f).is_file() for f in WEIGHT_FILES):
        missing.insert(0, CHECKPOINT_FILES[0])
    if missing:
        return f"missing {', '.join(missing)}"
    for name in (*WEIGHT_FILES, *CHECKPOINT_FILES[1:3], "rng_state.pth"):
        if (path / name).is_file() and (problem := file_problem(path / name)):
            return f"{name} {problem}"
    try:
        step = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))["global_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable trainer_state.json"
    if str(step) != path.name.rsplit("-", 1)[-1]:
        return f"trainer_state.json says step {step}"
    return None


def file_problem(path: Path) -> str | None:
    """Why a checkpoint file can't be loaded, judged from its own structure without loading it (None: it can):
    a safetensors file must be as long as its header says; a torch file (a zip) must end in its central directory.
    A write cut short (a kill, a full disk) fails both."""
    size = path.stat().st_size
    try:
        if path.suffix == ".safetensors":
            with path.open("rb") as f:
                header_len = int.from_bytes(f.read(8), "little")
                if size < 8 + header_len:
                    return f"is truncated ({size} bytes; its header alone needs {8 + header_len})"
                header = json.loads(f.read(header_len))
            end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
            if size != 8 + header_len + end:
                return f"is truncated ({size} of {8 + header_len + end} bytes)"
        elif not zipfile.is_zipfile(path):
            return f"is truncated or not a torch file ({size} bytes, no zip directory at its end)"
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        return f"is unreadable ({type(e).__name__})"
    return None


def _step(path: Path) -> int:
    tail = path.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def newest_complete_checkpoint(checkpoints_dir: Path, quiet: bool = False) -> Path | None:
    """The highest-step complete checkpoint; partial ones (a run stopped while writing them) are named and skipped
    (``quiet``: skipped without a word, for a size estimate)."""
    for path in sorted(checkpoints_dir.glob("checkpoint-*"), key=_step, reverse=True):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        if not quiet:
            log.warning("skipping partial checkpoint %s (%s): the run stopped while writing it", path, problem)
    return None


def check_keep(keep: str) -> None:
    """Fail before anything loads on a value prune_checkpoints would only refuse at the end of training."""
    if keep not in KEEP:
        raise EmbtuneError(f"trainer.keep_checkpoints={keep!r}: choose one of {', '.join(KEEP)}.")


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def prune_checkpoints(checkpoints_dir: Path, keep: str, best: str | None) -> dict[str, int]:
    """After a finished run: ``none`` removes every checkpoint (model/ holds the model shipped), ``best`` keeps
    the best checkpoint's weights without its optimizer state, ``all`` keeps everything. Returns bytes before/after.
    """
    check_keep(keep)
    if not checkpoints_dir.is_dir():
        return {"bytes_before": 0, "bytes_after": 0}
    before = dir_size(checkpoints_dir)
    if keep != "all":
        best_name = Path(best).name if best and keep == "best" else None
        for path in checkpoints_dir.iterdir():
            if path.is_dir() and path.name == best_name:
                for name in RESUME_STATE:
                    (path / name).unlink(missing_ok=True)
            elif path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        if keep == "none":
            shutil.rmtree(checkpoints_dir, ignore_errors=True)
    after = dir_size(checkpoints_dir) if checkpoints_dir.is_dir() else 0
    log.info("checkpoints (%s): %.0f MB -> %.0f MB", keep, before / 1e6, after / 1e6)
    return {"bytes_before": before, "bytes_after": after}
