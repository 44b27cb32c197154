"""What ``embtune.eval`` takes from a recorded run dir (``model_path=<run>``): its model, evaluator, mining, loss and
(optionally) dataset config, read in today's shape (run/legacy.py); a record that names foreign code or asks for
remote code is refused, since a run's record never grants running code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from embtune.errors import EmbtuneError
from embtune.run.legacy import upgrade


def adopt_run_config(cfg: DictConfig) -> DictConfig:
    """With ``model_path`` a training run dir: take its model (and dataset) config from its Hydra record."""
    if not cfg.model_path:
        return cfg
    run_dir = Path(cfg.model_path)
    record = run_dir / ".hydra" / "config.yaml"
    if not record.is_file():
        return cfg
    if not (run_dir / "model").is_dir():
        raise EmbtuneError(f"{run_dir} is a run dir without a saved model/ (trained with save_model=false?).")
    run_cfg = OmegaConf.create(upgrade(OmegaConf.to_container(OmegaConf.load(record)), resolved=False))
    adopted = ["model", "evaluator", "mining", "loss", *(["dataset"] if cfg.use_run_dataset else [])]
    if foreign := foreign_targets({k: OmegaConf.to_container(run_cfg[k]) for k in adopted if k in run_cfg}):
        raise EmbtuneError(
            f"{record} names code outside embtune and the libraries it builds on ({foreign[0]}): evaluating it would "
            "run that code, and a run's record never grants that. Fix: evaluate the model dir itself "
            f"(model_path={run_dir / 'model'} model=<its base config>) after checking the record."
        )
    # remote code runs only when this command says so (model.trust_remote_code=true): a record never grants it
    asked = bool(cfg.model.get("trust_remote_code", False))
    if bool(run_cfg.model.get("trust_remote_code", False)) and not asked:
        raise EmbtuneError(
            f"{run_dir} was trained with model.trust_remote_code=true: evaluating it runs the Python code its model "
            "carries, and a run's record never grants that. Fix: if you trust who made this run, add "
            "model.trust_remote_code=true to this command."
        )
    with open_dict(cfg):
        cfg.model = run_cfg.model
        cfg.model.trust_remote_code = asked
        cfg.evaluator = run_cfg.evaluator
        cfg.mining = run_cfg.mining
        if "loss" in run_cfg:  # Matryoshka dims: per-dimension figures as the run reported them
            cfg.loss = run_cfg.loss
        if cfg.use_run_dataset:
            cfg.dataset = run_cfg.dataset
            cfg.seed = run_cfg.seed  # the same dev split carved from train (what merge=interpolate picks on)
        cfg.model_path = str(run_dir / "model")
    return cfg


# the packages embtune's own configs build objects from (conf/**/_target_)
TRUSTED_TARGETS = ("embtune.", "sentence_transformers.", "transformers.", "peft.", "torch.", "hydra.utils.")


def foreign_targets(node: Any, where: str = "") -> list[str]:
    """``key._target_: target`` of every ``_target_`` in ``node`` outside ``TRUSTED_TARGETS``."""
    found: list[str] = []
    if isinstance(node, dict):
        target = node.get("_target_")
        if target is not None and not str(target).startswith(TRUSTED_TARGETS):
            found.append(f"{where or '.'}._target_: {target}")
        for k, v in node.items():
            found += foreign_targets(v, f"{where}.{k}" if where else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += foreign_targets(v, f"{where}[{i}]")
    return found


def explicit_model() -> bool:
    """Whether the command line chose model=... (a plain model dir does not say which base it came from)."""
    return HydraConfig.initialized() and any(o.startswith("model=") for o in HydraConfig.get().overrides.task)
