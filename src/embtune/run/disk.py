"""A full disk or a file-size limit while saving: one line naming what was being written, where, how much space it
needed and had, and that nothing finished was replaced, instead of a SafetensorError / PytorchStreamWriter
traceback.

The writers of a run never replace a finished file in place: run files are written to a temp file and renamed
(``run.files``), model/ is saved to a temp dir and renamed, and a checkpoint that could not be written completely is
removed, so the run dir keeps its newest complete checkpoint to resume from.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import shutil
from collections.abc import Iterator
from pathlib import Path

from embtune.errors import EmbtuneError

_ERRNOS = {errno.ENOSPC: "no space left on the disk", errno.EFBIG: "file too large", errno.EDQUOT: "disk quota full"}
# how the libraries that do not raise OSError say the same (safetensors' Rust I/O, torch's stream writer)
_PHRASES = {
    "os error 28": "no space left on the disk",
    "no space left on device": "no space left on the disk",
    "os error 27": "file too large",
    "file too large": "file too large",
    "os error 122": "disk quota full",
    "disk quota exceeded": "disk quota full",
    # torch's zip writer: the stream failed (ENOSPC / EFBIG surface as this, without the errno)
    "file write failed": "the write failed",
    "basic_ios::clear": "the write failed",
    "inline_container.cc": "the write failed",
}
_GENERIC = "the write failed"


def disk_full_reason(error: BaseException) -> str | None:
    """Why ``error`` (or an error behind it) is a failed write for lack of room, or None when it is something else."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _ERRNOS:
            return _ERRNOS[seen.errno]
        text = str(seen).lower()
        for phrase, reason in _PHRASES.items():
            if phrase in text:
                return reason
        seen = seen.__cause__ or seen.__context__
    return None


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e3:,.0f} kB"


def room(path: Path) -> str:
    """Free space on ``path``'s disk, and this process's file-size limit where one is set (``ulimit -f``)."""
    where = Path(path)
    while not where.exists() and where != where.parent:
        where = where.parent
    parts = []
    with contextlib.suppress(OSError):
        parts.append(f"{_mb(shutil.disk_usage(where).free)} free there")
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY:
        parts.append(f"a file-size limit of {_mb(soft)} (ulimit -f)")
    return " and ".join(parts) or "free space unknown"


def out_of_room(path: Path, needed: int | None) -> str | None:
    """Whether the disk or the file-size limit explains a failed write under ``path`` when the error does not say
    so itself (torch's writer): a file there grew to the limit, or the disk has less room than the write needed."""
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    files = [path] if Path(path).is_file() else list(Path(path).rglob("*")) if Path(path).is_dir() else []
    if soft != resource.RLIM_INFINITY and any(f.is_file() and f.stat().st_size >= soft for f in files):
        return "file too large for the file-size limit"
    where = Path(path)
    while not where.exists() and where != where.parent:
        where = where.parent
    with contextlib.suppress(OSError):
        if shutil.disk_usage(where).free < max(needed or 0, 1 << 20):
            return "no space left on the disk"
    return None


class DiskFull(EmbtuneError):
    """A save that ran out of room: what, where, how much it needed and had; what was kept."""


@contextlib.contextmanager
def writing(what: str, path: Path, needed: int | None = None, kept: str = "", fix: str = "") -> Iterator[None]:
    """Turn a failed write for lack of room inside the block into one ``DiskFull`` line."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as e:
        reason = disk_full_reason(e)
        if reason == _GENERIC:  # torch's writer does not say why: only the disk or the limit can confirm it
            reason = out_of_room(path, needed)
        if reason is None:
            raise
        need = f"needs about {_mb(needed)}, " if needed else ""
        raise DiskFull(
            f"could not write {what} to {path}: {reason} ({need}{room(path)}). Nothing finished was replaced"
            f"{'; ' + kept if kept else ''}. Fix: free space or raise the limit{', then ' + fix if fix else ''}."
        ) from e


def dir_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it does not exist)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) if Path(path).is_dir() else 0


def save_dir_atomic(save: callable, target: Path) -> None:  # type: ignore[valid-type]
    """``save(tmp)`` into a temp dir beside ``target``, then rename it to ``target``: a half-saved model never sits
    where a finished one is expected. A ``target`` already there is replaced only once the new copy is complete."""
    for stale in target.parent.glob(f".{target.name}.partial-*"):  # a killed save's leftovers: a model's size
        shutil.rmtree(stale, ignore_errors=True)
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    try:
        save(tmp)
        if target.exists():
            target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        if old.exists() and not target.exists():
            old.rename(target)  # the finished copy goes back where it was
        shutil.rmtree(tmp, ignore_errors=True)
        raise
