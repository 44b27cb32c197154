"""The model/adapter config group: LoRA adapters through peft's own API (get_peft_model, PeftModel).

sentence-transformers' ``add_adapter`` goes through transformers' peft integration, which needs peft >= 0.22; peft's
own API has no such floor, so the Transformer module's inner model is wrapped in a ``PeftModel`` here. Only the
adapter weights train; checkpoints hold the adapter alone (``adapter_model.safetensors``, ``adapter_config.json``),
which is also the layout sentence-transformers loads natively once peft >= 0.22 is installed.

What ships (``model.adapter.ship``): ``merged`` (model/ is a plain model: the adapter folded into the weights),
``adapter`` (model/ holds the adapter and names its base; ``load_adapter_model`` loads it), ``both`` (model/
merged, adapter/ beside it).
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer

from embtune.errors import EmbtuneError

log = logging.getLogger("embtune.model.adapters")

SHIPS = ("merged", "adapter", "both")
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
BASE_RECORD = "embtune_adapter.json"  # the base model an adapter dir needs: its id and weights' sha256


def _transformer(model: SentenceTransformer) -> torch.nn.Module:
    """The first module (sentence-transformers' Transformer), which holds the backbone as ``.model``."""
    first = model[0]
    if not hasattr(first, "model"):
        raise EmbtuneError(
            f"model/adapter=lora: the model's first module is {type(first).__name__}, not a Transformer with a "
            "backbone to adapt. Fix: model/adapter=none for this model."
        )
    return first


def peft_model_of(model: SentenceTransformer) -> Any | None:
    """The PeftModel inside ``model`` (None for a plain model)."""
    from peft import PeftModel

    inner = getattr(model[0], "model", None)
    return inner if isinstance(inner, PeftModel) else None


def linear_names(module: torch.nn.Module) -> list[str]:
    """The distinct last names of a backbone's linear layers: what ``target_modules`` can name."""
    return sorted({name.rsplit(".", 1)[-1] for name, m in module.named_modules() if isinstance(m, torch.nn.Linear)})


@dataclass
class NoAdapter:
    """model/adapter=none: every weight trains; model/ is the fine-tuned model."""

    name: str = "none"

    def check(self) -> None:
        """Nothing to check."""

    def attach(self, model: SentenceTransformer) -> dict[str, Any] | None:
        return None

    def fold(self, model: SentenceTransformer, run_dir: Path, base: dict[str, Any], keep: bool) -> dict[str, Any]:
        return {}


@dataclass
class Lora:
    """model/adapter=lora: low-rank adapters on the attention projections named per model family (the
    backbone's ``config.model_type``); the base weights stay frozen."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: dict[str, list[str]] = field(default_factory=dict)
    ship: str = "merged"
    name: str = "lora"

    def check(self) -> None:
        """What the config alone tells: fails before anything loads."""
        if self.ship not in SHIPS:
            raise EmbtuneError(f"model.adapter.ship={self.ship!r}: choose one of {', '.join(SHIPS)}.")
        if not (isinstance(self.r, int) and self.r >= 1):
            raise EmbtuneError(f"model.adapter.r={self.r!r}: the LoRA rank must be a whole number >= 1, e.g. 8.")

    def targets(self, backbone: torch.nn.Module) -> list[str]:
        """The configured module names for the backbone's family; one line naming its linear layers otherwise."""
        family = getattr(getattr(backbone, "config", None), "model_type", None) or type(backbone).__name__
        names = self.target_modules.get(family)
        found = linear_names(backbone)
        if not names:
            raise EmbtuneError(
                f"model/adapter=lora: no target modules for model family '{family}'; its linear layers are named "
                f"{', '.join(found)}. Fix: model.adapter.target_modules.{family}=[<the attention projections>]."
            )
        missing = [n for n in names if n not in found]
        if missing:
            raise EmbtuneError(
                f"model.adapter.target_modules.{family}: {', '.join(missing)} not in the model; its linear layers are "
                f"named {', '.join(found)}."
            )
        return list(names)

    def attach(self, model: SentenceTransformer) -> dict[str, Any]:
        """Wrap the backbone in a PeftModel (only the adapter trains); returns what the card and metrics record."""
        from peft import LoraConfig, get_peft_model

        module = _transformer(model)
        targets = self.targets(module.model)
        config = LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout, target_modules=targets)
        with warnings.catch_warnings():  # peft reads a transformers attribute deprecated in v5: not the user's concern
            warnings.simplefilter("ignore", FutureWarning)
            module.model = get_peft_model(module.model, config)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        record = {
            "method": "lora",
            "r": self.r,
            "alpha": self.alpha,
            "dropout": self.dropout,
            "target_modules": targets,
            "trainable_parameters": trainable,
            "total_parameters": total,
            "trainable_share": round(trainable / total, 6),
            "ship": self.ship,
        }
        log.info(
            "LoRA r=%d alpha=%d on %s: %s of %s parameters train (%.2f%%)",
            self.r,
            self.alpha,
            ",".join(targets),
            f"{trainable:,}",
            f"{total:,}",
            100 * trainable / total,
        )
        return record

    def fold(self, model: SentenceTransformer, run_dir: Path, base: dict[str, Any], keep: bool) -> dict[str, Any]:
        """After training: save the adapter where ``ship`` wants it (``keep``: a fine-tuned model ships), then
        merge it into the weights so everything downstream (merge/, evaluation, model/) sees a plain model.
        Returns where the adapter went."""
        shipped: dict[str, Any] = {}
        if peft_model_of(model) is None:
            return shipped
        if keep and self.ship in ("adapter", "both"):
            target = run_dir / ("model" if self.ship == "adapter" else "adapter")
            save_adapter(model, target, base)
            shipped["adapter_dir"] = target.name
        merge_adapter(model)
        return shipped


def merge_adapter(model: SentenceTransformer) -> None:
    """Fold the adapter into the backbone's weights (peft's merge_and_unload): a plain model, same embeddings."""
    if (peft_model := peft_model_of(model)) is not None:
        model[0].model = peft_model.merge_and_unload()


def save_adapter(model: SentenceTransformer, path: Path, base: dict[str, Any]) -> None:
    """The adapter alone (a few hundred KB) with the sentence-transformers files around it; ``base`` (its id and
    weights' sha256) is what a loader needs to rebuild the model."""
    peft_model = peft_model_of(model)
    assert peft_model is not None
    peft_model.peft_config["default"].base_model_name_or_path = str(base["name_or_path"])
    model.save(str(path))
    (path / BASE_RECORD).write_text(json.dumps(base, indent=2) + "\n", encoding="utf-8")


def is_adapter_dir(path: Path) -> bool:
    return (path / ADAPTER_CONFIG).is_file() and (path / ADAPTER_WEIGHTS).is_file()


def load_adapter_model(path: str | Path, cache_dir: str | Path | None = None) -> SentenceTransformer:
    """A model dir written with ``ship: adapter``: its base (found offline-first, sha256 checked) with the adapter
    on top. With peft >= 0.22, ``SentenceTransformer(path)`` loads the same dir natively."""
    from peft import PeftModel

    from embtune.model.loading import resolve_model

    path = Path(path)
    if not is_adapter_dir(path):
        raise EmbtuneError(f"{path} holds no adapter ({ADAPTER_CONFIG} + {ADAPTER_WEIGHTS}); load it as a plain model.")
    base = json.loads((path / BASE_RECORD).read_text(encoding="utf-8")) if (path / BASE_RECORD).is_file() else {}
    base_id = base.get("name_or_path") or json.loads((path / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]
    resolved = resolve_model(base_id, cache_dir or Path.home() / ".cache" / "embtune")
    expected = base.get("weights_sha256")
    if expected and resolved.weights_sha256 and resolved.weights_sha256 != expected:
        raise EmbtuneError(
            f"adapter {path} was trained on base '{base_id}' with weights sha256 {expected[:12]}…, but {resolved.path} "
            f"has {resolved.weights_sha256[:12]}…. Fix: point it at the base it was trained on."
        )
    model = SentenceTransformer(str(resolved.path), local_files_only=True)
    st_config = path / "sentence_bert_config.json"
    config = json.loads(st_config.read_text()) if st_config.is_file() else {}
    if config.get("max_seq_length"):
        model.max_seq_length = int(config["max_seq_length"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model[0].model = PeftModel.from_pretrained(model[0].model, str(path))
    return model.eval()


class AdapterAwareTrainer(SentenceTransformerTrainer):
    """sentence-transformers' trainer; a checkpoint holding an adapter loads through peft's own API (the stock
    path goes through transformers' integration, which refuses peft < 0.22). Used for resume and for loading
    the best checkpoint at the end."""

    def _load_from_checkpoint(self, checkpoint_path: str, *args: Any, **kwargs: Any) -> None:
        peft_model = peft_model_of(getattr(self.model, "_orig_mod", self.model))
        if peft_model is None or not is_adapter_dir(Path(checkpoint_path)):
            super()._load_from_checkpoint(checkpoint_path, *args, **kwargs)
            return
        from peft import set_peft_model_state_dict
        from peft.utils import load_peft_weights

        result = set_peft_model_state_dict(peft_model, load_peft_weights(checkpoint_path))
        if unexpected := getattr(result, "unexpected_keys", None):
            raise EmbtuneError(f"checkpoint {checkpoint_path}: adapter weights that fit no layer ({unexpected[:3]}).")
