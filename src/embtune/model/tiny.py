"""A tiny BERT SentenceTransformer built locally in about a second: the model tests and smoke runs train."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from embtune.config.paths import BUILTIN_DATA_DIR

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _training_texts() -> list[str]:
    texts = []
    for file in sorted((BUILTIN_DATA_DIR / "default").glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.extend(v for v in json.loads(line).values() if isinstance(v, str))
    return texts


def build_tiny_model(path: Path, seed: int = 0, vocab_size: int = 2000, hidden_size: int = 64) -> Path:
    """Build (once) a 2-layer BERT with mean pooling at ``path``; same seed, same weights."""
    path = Path(path)
    if (path / "modules.json").is_file():
        return path
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    texts = _training_texts()
    if not texts:
        raise RuntimeError(f"no texts to learn the tiny model's vocabulary from in {BUILTIN_DATA_DIR / 'default'}")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=128,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        hf_dir = Path(tmp) / "hf"
        BertModel(config).save_pretrained(hf_dir)
        BertTokenizerFast(tokenizer_object=tok, model_max_length=128).save_pretrained(hf_dir)
        transformer = Transformer(str(hf_dir), max_seq_length=64)
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
        staged = Path(tmp) / "model"
        SentenceTransformer(modules=[transformer, pooling]).save(str(staged))
        try:
            staged.rename(path)
        except OSError:  # another process built it first
            if not (path / "modules.json").is_file():
                raise
    return path
