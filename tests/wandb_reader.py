"""Read a W&B offline run file (``run-*.wandb``) back into its records, for tests.

The file is a LevelDB-log-format stream: a 7-byte header, then 32 KiB blocks of chunks (crc32, length,
type: 1 full, 2 first, 3 middle, 4 last), each whole record a ``wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024
HEADER = 7


def records(path: Path) -> Iterator[wandb_internal_pb2.Record]:
    data = path.read_bytes()
    pos, pending = HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if kind == 0 and length == 0:
            pos += left
            continue
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind in (1, 2):
            pending = chunk
        else:
            pending += chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record
            pending = b""


def read_run(path: Path) -> dict[str, Any]:
    """group, name, config, history rows, summary and the recorded command-line args of one offline run file."""
    run: dict[str, Any] = {"config": {}, "history": [], "summary": {}, "args": []}
    for r in records(path):
        kind = r.WhichOneof("record_type")
        if kind == "run":
            run["group"], run["name"], run["id"] = r.run.run_group, r.run.display_name, r.run.run_id
            for item in r.run.config.update:
                run["config"][item.key] = json.loads(item.value_json)
        elif kind == "config":
            for item in r.config.update:
                run["config"][item.key] = json.loads(item.value_json)
        elif kind == "history":
            run["history"].append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item})
        elif kind == "summary":
            for item in r.summary.update:
                run["summary"][item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "environment" and r.environment.args:  # run metadata (wandb-metadata.json once synced)
            run["args"] = list(r.environment.args)
        elif kind == "exit":
            run["exit_code"] = r.exit.exit_code
    return run
