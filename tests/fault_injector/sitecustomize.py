"""A kill in the middle of a checkpoint save, for tests/test_faults.py (on PYTHONPATH of that run only).

EMBTUNE_TEST_KILL="<checkpoint dir name>:<write number>:<fraction>": the write-th file written into that checkpoint
(weights, optimizer, scheduler, RNG state, trainer state: through the writers transformers uses) gets the first
``fraction`` of its bytes, then the process is SIGKILLed, as a power cut or an OOM killer would end it.
"""

from __future__ import annotations

import io
import os
import signal

_SPEC = os.environ.get("EMBTUNE_TEST_KILL")

if _SPEC:
    _name, _index, _fraction = _SPEC.split(":")
    _seen = [0]

    def _hit(path: object) -> bool:
        if f"{os.sep}{_name}{os.sep}" not in str(path):
            return False
        _seen[0] += 1
        return _seen[0] - 1 == int(_index)

    def _die(path: object, data: bytes) -> None:
        with open(path, "wb") as f:  # noqa: PTH123
            f.write(data[: int(len(data) * float(_fraction))])
        os.kill(os.getpid(), signal.SIGKILL)

    import safetensors.torch as _st
    import torch as _torch

    _save_file, _torch_save = _st.save_file, _torch.save

    def _patched_save_file(tensors, filename, metadata=None):  # noqa: ANN001, ANN202
        if _hit(filename):
            _die(filename, _st.save(tensors, metadata=metadata))
        return _save_file(tensors, filename, metadata=metadata)

    def _patched_torch_save(obj, f, *args, **kwargs):  # noqa: ANN001, ANN202
        if isinstance(f, (str, os.PathLike)) and _hit(f):
            buffer = io.BytesIO()
            _torch_save(obj, buffer, *args, **kwargs)
            _die(f, buffer.getvalue())
        return _torch_save(obj, f, *args, **kwargs)

    _st.save_file, _torch.save = _patched_save_file, _patched_torch_save

    from transformers import trainer_callback as _tc

    _save_state = _tc.TrainerState.save_to_json

    def _patched_save_state(self, json_path):  # noqa: ANN001, ANN202
        if _hit(json_path):
            import dataclasses
            import json

            _die(json_path, (json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n").encode())
        return _save_state(self, json_path)

    _tc.TrainerState.save_to_json = _patched_save_state
