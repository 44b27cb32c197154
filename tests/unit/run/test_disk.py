"""run.disk and run.failure without a model: a save that runs out of room is one line and replaces nothing; a run
dir never says finished and failed at once."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from embtune.run.disk import DiskFull, disk_full_reason, save_dir_atomic, writing
from embtune.run.failure import write_failed


def _full(*_: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_inside_writing_is_one_line_naming_what_where_and_the_room(tmp_path: Path) -> None:
    with pytest.raises(DiskFull) as caught, writing("the model", tmp_path / "model", 90_000_000, fix="resume it"):
        _full()
    text = str(caught.value)
    assert text.startswith(f"could not write the model to {tmp_path / 'model'}: no space left on the disk")
    assert "needs about 90 MB" in text and "free there" in text and "Nothing finished was replaced" in text
    assert text.endswith("Fix: free space or raise the limit, then resume it.") and "\n" not in text


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OSError(errno.EFBIG, "File too large"), "file too large"),
        (RuntimeError("Error while serializing: I/O error: File too large (os error 27)"), "file too large"),
        (RuntimeError("I/O error: No space left on device (os error 28)"), "no space left on the disk"),
        (ValueError("a shape mismatch"), None),
        (OSError(errno.EACCES, "Permission denied"), None),
    ],
)
def test_what_counts_as_out_of_room(error: BaseException, reason: str | None) -> None:
    assert disk_full_reason(error) == reason


def test_another_error_inside_writing_is_left_as_it_is(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="a bug"), writing("the model", tmp_path):
        raise ValueError("a bug")


def test_a_failed_save_keeps_the_finished_dir_and_leaves_no_partial_one(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "weights").write_text("finished")

    def half(tmp: Path) -> None:
        tmp.mkdir()
        (tmp / "weights").write_text("half")
        _full()

    with pytest.raises(OSError):
        save_dir_atomic(half, target)
    assert (target / "weights").read_text() == "finished" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]

    save_dir_atomic(lambda tmp: (tmp.mkdir(), (tmp / "weights").write_text("new")), target)
    assert (target / "weights").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_failed_is_never_written_beside_metrics(tmp_path: Path) -> None:
    write_failed(tmp_path, RuntimeError("before the record"))
    assert (tmp_path / "FAILED").read_text() == "RuntimeError: before the record\n"
    (tmp_path / "FAILED").unlink()
    (tmp_path / "metrics.json").write_text("{}")
    write_failed(tmp_path, RuntimeError("while pruning checkpoints"))
    assert not (tmp_path / "FAILED").exists()
