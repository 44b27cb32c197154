"""The loss/ config group: sentence-transformers' own classes, built from loss/ configs, checked against the data
format, optionally wrapped in MatryoshkaLoss (``loss.matryoshka.dims``)."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
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


def build_loss(
    loss_cfg: DictConfig, model: SentenceTransformer, cache_dir: str | Path | None = None
) -> torch.nn.Module:
    """Instantiate the configured loss class around ``model``, plus its frozen guide when it asks for one:
    ``base_model`` (a copy of ``model``) or any model name / local dir (found offline-first, like model/)."""
    extra = {}
    if guide_name := loss_cfg.get("guide"):
        extra["guide"] = guide_model(str(guide_name), model, cache_dir)
    loss = instantiate(loss_cfg.module, model=model, **extra)
    dims = matryoshka_dims(loss_cfg)
    if dims:
        from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss

        weights = loss_cfg.matryoshka.get("weights")
        loss = MatryoshkaLoss(model, loss, dims, list(weights) if weights else None)
    return loss


def guide_model(name: str, model: SentenceTransformer, cache_dir: str | Path | None) -> SentenceTransformer:
    """The frozen guide of GIST-style losses: a copy of the model being trained, or another model (a larger one
    filters false negatives better, e.g. loss.guide=sentence-transformers/all-mpnet-base-v2)."""
    if name == "base_model":
        guide = copy.deepcopy(model)
    else:
        from embtune.model.loading import load_base_model

        if cache_dir is None:
            raise EmbtuneError(f"loss.guide={name}: a guide model needs paths.cache_dir to be found offline.")
        cfg = OmegaConf.create(
            {"name_or_path": name, "max_seq_length": model.max_seq_length, "prompts": None, "trust_remote_code": False}
        )
        guide, _ = load_base_model(cfg, cache_dir)
    guide.eval()
    guide.requires_grad_(False)
    return guide


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
