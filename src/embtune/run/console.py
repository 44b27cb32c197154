"""The console shows embtune's own lines and every warning and error; the libraries' INFO lines (an IR evaluation
alone logs ~15 Accuracy@k / Precision@k / Recall@k lines) go to the run dir's log file only. ``verbose=true``
shows everything, as before."""

from __future__ import annotations

import logging


class QuietConsole(logging.Filter):
    """A console-handler filter (conf/hydra/default.yaml): embtune's records, and any record at WARNING or above."""

    def __init__(self, verbose: bool = False, own: str = "embtune") -> None:
        super().__init__()
        self.verbose, self.own = bool(verbose), own

    def filter(self, record: logging.LogRecord) -> bool:
        return self.verbose or record.levelno >= logging.WARNING or record.name.split(".")[0] in (self.own, "__main__")


from transformers import ProgressCallback  # noqa: E402

trainer_log = logging.getLogger("trainer.logs")  # not under transformers (its loggers do not propagate)


class QuietProgress(ProgressCallback):
    """The trainer's progress bar without its printed log dicts (loss every logging_steps, each dev evaluation's
    dozen figures): those go to the run dir's log file, the curves (curves.json) and any logger (W&B)."""

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
        if state.is_world_process_zero and logs:
            trainer_log.info("%s", {k: v for k, v in logs.items() if k != "total_flos"})
