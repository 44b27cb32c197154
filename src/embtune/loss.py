"""The loss/ config group: sentence-transformers' own classes, built from loss/ configs, checked against the data
format, optionally wrapped in MatryoshkaLoss (``loss.matryoshka.dims``)."""

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
    loss = instantiate(loss_cfg.module, model=model, **extra)
    dims = matryoshka_dims(loss_cfg)
    if dims:
        from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss

        weights = loss_cfg.matryoshka.get("weights")
        loss = MatryoshkaLoss(model, loss, dims, list(weights) if weights else None)
    return loss


def matryoshka_dims(loss_cfg: DictConfig) -> list[int]:
    """``loss.matryoshka.dims`` checked: whole numbers > 0, largest first; [] when off."""
    dims = (loss_cfg.get("matryoshka") or {}).get("dims")
    if not dims:
        return []
    dims = list(dims)
    if any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims) or dims != sorted(dims, reverse=True):
        raise EmbtuneError(
            f"loss.matryoshka.dims={dims}: give whole numbers > 0, largest first, e.g. loss.matryoshka.dims=[384,128]."
        )
    return dims
