"""What the config alone can tell before any data or model loads: the choices of train's groups that cannot work
together, each named in one line with its fix."""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from embtune.dataset.samplers import check_name as check_sampler
from embtune.errors import EmbtuneError
from embtune.run.checkpoints import check_keep
from embtune.training.distill import check_teacher
from embtune.training.losses import check_loss_accepts_format, matryoshka_dims
from embtune.training.merge import check_merge
from embtune.training.mixes import check_mix


def check_choices(cfg: DictConfig) -> None:
    """What the config alone can tell: each loss accepts its format, Matryoshka dims, the mix, checkpoint keeping."""
    check_loss_accepts_format(cfg.loss, cfg.data_format.name)
    check_teacher(cfg.get("teacher") or OmegaConf.create({"name": "none"}), cfg.loss)
    check_sampler(str(cfg.loss.batch_sampler))
    check_mix(cfg)
    check_merge(cfg.merge)
    matryoshka_dims(cfg.loss)
    check_keep(cfg.trainer.keep_checkpoints)
    adapter = instantiate(cfg.model.adapter)
    adapter.check()
    if getattr(adapter, "ship", None) == "adapter" and cfg.merge.get("alphas"):
        raise EmbtuneError(
            "model.adapter.ship=adapter with merge.alphas: a mix of base and fine-tuned weights is not an adapter. "
            "Fix: model.adapter.ship=merged (or both: model/ the mix, adapter/ the adapter as trained), or merge=none."
        )
