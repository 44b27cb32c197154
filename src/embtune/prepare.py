"""Data preparation as a stage of its own: source -> dev split -> quality filter -> mining -> format rows.

    python -m embtune.prepare dataset=scifact data_format=triplets mining=bm25 paths.data_dir=../shared/data

Writes the rows (HF ``save_to_disk`` or JSONL) and ``stats.json`` into its run dir; train.py runs the
same stage (dataset.prepared.prepare_data) in memory.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
from datasets import DatasetDict
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from embtune.config.paths import CONF_DIR
from embtune.dataset.prepared import PreparedData, prepare_data
from embtune.errors import EmbtuneError
from embtune.run.console_guard import guarded
from embtune.run.failure import run_or_fail
from embtune.run.files import write_json_atomic

log = logging.getLogger("embtune.prepare")


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


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="prepare")
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
    guarded(main)()
