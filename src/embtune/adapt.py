"""Adapt a model to a domain from its corpus alone (no labelled queries), as in GPL: pseudo-queries from the
documents (generator/), hard negatives mined for them, a teacher's scores of each (query, positive, negative)
(teacher/), MarginMSE; then the same run as train: BM25, zero-shot and the teacher on the source's labelled test
split where it has one, the never-worse guard (on held-out pseudo-queries when there is no labelled dev), the card,
the run dir and resume. Every choice is a train option: conf/adapt.yaml only changes the defaults.

python -m embtune.adapt dataset=beir dataset.name=<set> paths.data_dir=<dir>         # = make adapt
python -m embtune.adapt experiment=scifact_minilm_lr6e5 teacher=mpnet                  # SciFact, its labels ignored
"""

from __future__ import annotations

import hydra

from embtune.config.paths import CONF_DIR
from embtune.config.trainer_args import with_trainer_args
from embtune.run.console_guard import guard_console
from embtune.train import run

main = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="adapt")(run)


def cli() -> None:
    """The command line, as train's: secrets never reach the console; trainer.args.<any field> works as typed."""
    guard_console()
    with_trainer_args(main)


if __name__ == "__main__":
    cli()
