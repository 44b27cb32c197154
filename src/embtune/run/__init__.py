"""The run-dir contract: atomic files, the record, failure and resume, checkpoints, Hydra hooks."""
