"""One process per run dir: an exclusive lock (``flock`` on ``<dir>/.lock``) held until the process exits.

Two runs started into one dir (the same ``EMBTUNE_RUN_STAMP`` or ``hydra.run.dir``, a sweep script started twice)
would delete each other's checkpoints and leave a dir that is finished and failed at once. The second one is
refused before it loads or writes anything. The kernel drops the lock when its process dies, however it dies, so a
stale lock never blocks: the file left behind only names the last holder. Local filesystems only (``flock`` on
NFS is per host).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from embtune.errors import EmbtuneError

LOCK_FILE = ".lock"
_HELD: dict[str, int] = {}  # dir -> open fd: the lock lives as long as this process (or until release)


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096) or b"{}")
        return f"pid {info['pid']} on {info['host']}, since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def lock_run_dir(path: Path, what: str = "run dir") -> None:
    """Take ``path``'s lock for this process, or stop with one line naming the process that holds it.

    Under torchrun every rank runs in one dir: rank 0 holds the lock for all of them.
    """
    if int(os.environ.get("RANK", "0") or 0) > 0 or str(path) in _HELD:
        return
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise EmbtuneError(
            f"the {what} {path} is in use by another embtune run ({holder}); two runs in one dir would mix their "
            "checkpoints and records. Fix: wait for it to end, or leave hydra.run.dir / EMBTUNE_RUN_STAMP unset so "
            "that each run gets its own dir."
        ) from None
    stamp = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(stamp).encode() + b"\n", 0)
    _HELD[str(path)] = fd


def release_run_dir(path: Path) -> None:
    """Give the lock back before the process ends (a sweep's in-process jobs, tests)."""
    fd = _HELD.pop(str(path), None)
    if fd is not None:
        os.close(fd)


@contextlib.contextmanager
def waiting_lock(path: Path) -> Iterator[None]:
    """Hold ``path`` (a lock file) exclusively, waiting for the writer that holds it: shared caches' writers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
