"""Losses: sentence-transformers' own classes, built from loss/ configs, checked against the data format."""

from __future__ import annotations

import copy

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from sentence_transformers import SentenceTransformer

from embtune.errors import EmbtuneError


def check_loss_accepts_format(loss_cfg: DictConfig, format_name: str) -> None:
    """Fail before anything loads when the loss cannot learn from the chosen data format."""
    accepts = list(loss_cfg.accepts)
    if format_name not in accepts:
        raise EmbtuneError(
            f"loss={loss_cfg.name} does not train on data_format={format_name}: it accepts "
            f"{', '.join(accepts)}. Fix: pick data_format={accepts[0]} (or another loss)."
        )


def build_loss(loss_cfg: DictConfig, model: SentenceTransformer) -> torch.nn.Module:
    """Instantiate the configured loss class around ``model`` (plus a frozen guide copy when it asks for one)."""
    extra = {}
    if loss_cfg.get("guide") == "base_model":
        guide = copy.deepcopy(model).eval()
        guide.requires_grad_(False)
        extra["guide"] = guide
    return instantiate(loss_cfg.module, model=model, **extra)
