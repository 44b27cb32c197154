"""Data preparation as a stage of its own: source -> dev split -> quality filter -> mining -> format rows.

    python -m embtune.prepare dataset=scifact data_format=triplets mining=bm25 paths.data_dir=../shared/data

Writes the rows (HF ``save_to_disk`` or JSONL) and ``stats.json`` into its run dir; train.py runs the
same stage in memory.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from datasets import Dataset, DatasetDict
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from embtune.data_format import build_rows, trains_as_written
from embtune.dataset.checks import build_report, enforce
from embtune.dataset.splits import carve_dev_split
from embtune.dataset.types import RetrievalData
from embtune.errors import EmbtuneError
from embtune.mining import mine_cached
from embtune.quality import filter_split
from embtune.run.failure import run_or_fail
from embtune.run.files import write_json_atomic

log = logging.getLogger("embtune.prepare")


@dataclass
class PreparedData:
    """The loaded data (all splits) and the training rows built from it, with what each step did."""

    data: RetrievalData
    rows: dict[str, Dataset]
    negatives: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # split -> query id -> doc ids
    stats: dict[str, Any] = field(default_factory=dict)


def evaluation_split(data: RetrievalData) -> str | None:
    """The split a run reports on: test; without one, dev (which also picks the checkpoint); else none."""
    return next((s for s in ("test", "dev") if data.has_split(s)), None)


def load_data(cfg: DictConfig) -> RetrievalData:
    """The dataset config's source, with a dev split carved from train when it has none."""
    return carve_dev_split(instantiate(cfg.dataset.source), cfg.dataset.dev_fraction, cfg.seed)


def prepare_data(cfg: DictConfig, splits: tuple[str, ...] = ("train",)) -> PreparedData:
    """Load the dataset and build rows in ``cfg.data_format`` for ``splits`` (quality filter on train only).

    Splits the source does not have (no dev with dataset.dev_fraction=0, no test file) are skipped, except train.
    """
    started = time.perf_counter()
    data = load_data(cfg)
    splits = tuple(s for s in splits if s == "train" or data.has_split(s))
    fmt = cfg.data_format
    stats: dict[str, Any] = {"dataset": data.name, "fingerprint": data.fingerprint(), "format": fmt.name}
    # mine before filtering: a positive the filter drops must still never come back as its query's negative
    negatives: dict[str, dict[str, list[str]]] = {}
    stats["mining"] = {}
    for split in splits:
        negatives[split] = data.negatives
        if cfg.mining.name != "none" and data.qrels.get(split) and not trains_as_written(data, split, fmt):
            mined, stats["mining"][split] = mine_cached(data, split, cfg.mining, Path(cfg.paths.cache_dir))
            # the source's own (labeled) negatives first, mined ones after: mining adds, never replaces
            negatives[split] = {
                q: data.negatives.get(q, []) + [d for d in mined.get(q, []) if d not in data.negatives.get(q, [])]
                for q in set(mined) | set(data.negatives)
            }
    data, stats["quality"] = filter_split(data, "train", cfg.quality, trains_as_written(data, "train", fmt))
    eval_split = evaluation_split(data)
    stats["data_checks"] = build_report(
        data, stats["quality"], eval_split, ("train", "dev") if eval_split == "test" else ("train",)
    )
    enforce(stats["data_checks"], data.name, bool(cfg.dataset.get("strict", False)))
    rows = {split: build_rows(data, split, fmt, negatives[split]) for split in splits}
    stats["rows"] = {split: len(r) for split, r in rows.items()}
    stats["queries"] = {split: len(q) for split, q in data.qrels.items()}
    stats["pairs"] = {split: len(p) for split, p in data.pairs.items()}
    stats["corpus"] = len(data.corpus)
    stats["seconds"] = round(time.perf_counter() - started, 3)
    log.info(
        "prepared %s: %s rows (%s) in %.1f s",
        data.name,
        ", ".join(f"{s} {n}" for s, n in stats["rows"].items()),
        fmt.name,
        stats["seconds"],
    )
    return PreparedData(data, rows, negatives, stats)


def save_prepared(prepared: PreparedData, out_dir: Path, save_format: str) -> None:
    """Write the rows (``hf``: DatasetDict.save_to_disk, ``jsonl``: one file per split) and stats.json."""
    if save_format == "hf":
        DatasetDict(prepared.rows).save_to_disk(str(out_dir / "dataset"))
    elif save_format == "jsonl":
        for split, rows in prepared.rows.items():
            rows.to_json(str(out_dir / f"{split}.jsonl"), lines=True, force_ascii=False)
    else:
        raise EmbtuneError(f"save_format={save_format!r}: choose hf or jsonl.")
    write_json_atomic(out_dir / "stats.json", prepared.stats)


@hydra.main(version_base="1.3", config_path="../../conf", config_name="prepare")
def main(cfg: DictConfig) -> None:
    """Hydra entrypoint: prepare, save, print the summary; FAILED + one-line error on bad input."""
    out_dir = Path(HydraConfig.get().runtime.output_dir)

    def job() -> PreparedData:
        prepared = prepare_data(cfg, tuple(cfg.splits))
        save_prepared(prepared, out_dir, cfg.save_format)
        return prepared

    prepared = run_or_fail(out_dir, job)
    print(json.dumps(prepared.stats, indent=2), flush=True)
    print(f"prepared data written to {out_dir}", flush=True)


if __name__ == "__main__":
    main()
