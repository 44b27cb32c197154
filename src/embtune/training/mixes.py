"""The dataset_mix/ config group: several datasets in one run, as sentence-transformers' multi-dataset training.

The main dataset (dataset/, data_format/, loss/) and each source of ``dataset_mix.sources`` (its own dataset,
data_format, loss and evaluator configs) are prepared alike; training gets a DatasetDict and a loss per dataset,
``multi_dataset_batch_sampler`` = ``dataset_mix.sampler``; each source's evaluation split is measured for the
base and the fine-tuned model (metrics.json ``datasets``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from datasets import Dataset, DatasetDict
from omegaconf import DictConfig, OmegaConf, open_dict
from sentence_transformers import SentenceTransformer

from embtune.errors import EmbtuneError
from embtune.evaluation.evaluators import EvalInputs, build_evaluator
from embtune.evaluation.regression import Regression, RegressionSet, evaluate_sets
from embtune.model.loading import ResolvedModel, model_prompts
from embtune.training.losses import build_loss, check_loss_accepts_format
from embtune.training.trainer import column_prompts

SAMPLERS = ("proportional", "round_robin")


@dataclass
class MixSource:
    """One more training source: its rows, its loss config, its format (for prompts) and its evaluation."""

    name: str
    rows: Dataset
    loss_cfg: DictConfig
    data_format: DictConfig
    evaluation: RegressionSet | None


@dataclass
class Mix:
    """The run's extra sources (none: a one-dataset run, every method a no-op)."""

    sources: list[MixSource]
    sampler: str

    def train_rows(self, name: str, rows: Dataset) -> Dataset | DatasetDict:
        return DatasetDict({name: rows, **{s.name: s.rows for s in self.sources}}) if self.sources else rows

    def losses(self, name: str, loss: torch.nn.Module, model: SentenceTransformer) -> Any:
        return {name: loss, **{s.name: build_loss(s.loss_cfg, model) for s in self.sources}} if self.sources else loss

    def prompts(self, name: str, cfg: DictConfig, columns: list[str] | None = None) -> Any:
        """Per-column training prompts (``columns``: the main rows'), per dataset when there are several."""
        main = column_prompts(cfg.data_format, cfg.model.prompts, columns)
        if not self.sources or not cfg.model.prompts:
            return main
        return {
            name: main,
            **{s.name: column_prompts(s.data_format, cfg.model.prompts, s.rows.column_names) for s in self.sources},
        }

    def measure_base(self, cfg: DictConfig, model: SentenceTransformer, resolved: ResolvedModel) -> Regression:
        """The sources' evaluation figures for the base model (cached by its weights)."""
        sets = [s.evaluation for s in self.sources if s.evaluation is not None]
        return Regression(sets, str(cfg.paths.cache_dir), evaluate_sets(sets, model, cfg.paths.cache_dir, resolved))


def check_mix(cfg: DictConfig) -> None:
    """Fail before loading anything: each source's loss must accept its format; a known sampler."""
    mix = cfg.get("dataset_mix") or {}
    if mix.get("sampler", "proportional") not in SAMPLERS:
        raise EmbtuneError(f"dataset_mix.sampler={mix.get('sampler')!r}: choose {' or '.join(SAMPLERS)}.")
    for name, src in (mix.get("sources") or {}).items():
        try:
            check_loss_accepts_format(src.loss, src.data_format.name)
        except EmbtuneError as e:
            raise EmbtuneError(f"dataset_mix.sources.{name}: {e}") from None


def prepare_mix(cfg: DictConfig, main_name: str) -> Mix:
    """Prepare each source as the main dataset is prepared (quality filter, checks, rows), without mining."""
    from embtune.dataset.prepared import prepare_data  # the data stage calls this module too

    mix = cfg.get("dataset_mix") or {}
    sources = []
    for name, src in (mix.get("sources") or {}).items():
        if name == main_name:
            raise EmbtuneError(f"dataset_mix.sources.{name}: the main dataset has that name; rename the source.")
        sub = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
        with open_dict(sub):
            sub.dataset, sub.data_format = src.dataset, src.data_format
            sub.mining = {"name": "none"}
            del sub.evaluator
        prepared = prepare_data(sub, ("train",))
        split = src.get("split")
        evaluation = None
        if split and prepared.data.has_split(split):
            inputs = EvalInputs(prepared.data, str(split), model_prompts(cfg.model))
            evaluation = RegressionSet(str(name), build_evaluator(src.evaluator, inputs), src.evaluator.main_metric)
        sources.append(MixSource(str(name), prepared.rows["train"], src.loss, src.data_format, evaluation))
    return Mix(sources, str(mix.get("sampler", "proportional")))
