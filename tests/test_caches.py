"""Caches are best effort (a bad entry is recomputed, an unwritable cache dir only warns) and every file a run
or a cache writes gets the mode a plain open() would give (0666 less the umask), through the real CLI."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

from conftest import only_run_dir, run_cli

# one thread per process: the suite shares 2 cores, and spinning OpenMP threads slow a contended run down ~4x
ENV = {"OMP_NUM_THREADS": "1"}
TINY = ["model=tiny", "trainer=debug", "evaluate_bm25=false", "save_model=false", "mining=bm25", "data_format=triplets"]


def _train(out: Path, cache: Path) -> subprocess.CompletedProcess:
    return run_cli("embtune.train", *TINY, f"paths.output_dir={out}", f"paths.cache_dir={cache}", env=ENV)


def test_corrupt_entries_are_recomputed_and_replaced_and_files_follow_the_umask(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    previous = os.umask(0o002)  # not the usual 022: the mode must follow the umask, not a constant
    try:
        first = _train(tmp_path / "first", cache)
    finally:
        os.umask(previous)
    assert first.returncode == 0, first.stderr[-3000:]
    run = only_run_dir(tmp_path / "first")
    zero_shot = json.loads((run / "metrics.json").read_text())["zero_shot"]
    # three entries: the base model on test (zero_shot), on dev (the step-0 point) and its nDCG@10 per dev query
    # (what per_query.json takes when the base ships); corrupt the test one
    entries = sorted((cache / "eval").glob("*.json"))
    assert len(entries) == 3 and len([e for e in entries if e.name.endswith(".per_query_ndcg@10.json")]) == 1
    (eval_entry,) = [e for e in entries if json.loads(e.read_text())["metrics"] == zero_shot]
    (mining_entry,) = (cache / "mining").glob("*.json")
    for path in (run / "metrics.json", run / "run_info.json", *entries, mining_entry):
        assert stat.S_IMODE(path.stat().st_mode) == 0o664, path
    negatives = json.loads(mining_entry.read_text())["negatives"]

    eval_entry.write_bytes(eval_entry.read_bytes()[:40])  # truncated mid-write
    mining_entry.write_bytes(b"\x00\xff not json")

    second = _train(tmp_path / "second", cache)
    assert second.returncode == 0, second.stderr[-3000:]
    output = second.stdout + second.stderr
    for entry in (eval_entry, mining_entry):
        assert output.count(f"cache entry {entry} is unreadable") == 1, output[-3000:]
    assert json.loads(eval_entry.read_text())["metrics"] == zero_shot
    assert json.loads(mining_entry.read_text())["negatives"] == negatives
    again = json.loads((only_run_dir(tmp_path / "second") / "metrics.json").read_text())
    assert again["zero_shot"] == zero_shot


def test_an_unwritable_cache_dir_warns_with_the_path_and_the_run_goes_on(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    blocked = [cache / "eval", cache / "mining"]
    for path in blocked:
        path.mkdir(parents=True)
        path.chmod(0o500)
    if os.access(blocked[0], os.W_OK):  # root ignores the mode: make the cache folders regular files instead
        for path in blocked:
            path.rmdir()
            path.write_text("a file where the cache folder should be\n")
    try:
        result = _train(tmp_path / "outputs", cache)
    finally:
        for path in blocked:
            if path.is_dir():
                path.chmod(0o700)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (only_run_dir(tmp_path / "outputs") / "metrics.json").is_file()
    output = result.stdout + result.stderr
    for path in blocked:
        assert f"cannot write the cache entry {path}{os.sep}" in output, output[-3000:]
