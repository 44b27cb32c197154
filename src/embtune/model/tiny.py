"""A tiny BERT SentenceTransformer built locally in about a second: the model tests and smoke runs train."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from embtune.config.paths import BUILTIN_DATA_DIR

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _training_texts() -> list[str]:
    texts = []
    for file in sorted((BUILTIN_DATA_DIR / "default").glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.extend(v for v in json.loads(line).values() if isinstance(v, str))
    return texts


def _tokenizer_and_config(vocab_size: int, hidden_size: int):  # noqa: ANN202 - tokenizers/transformers types
    """A WordPiece tokenizer learned from the embedded data and a 2-layer BERT config sized to it."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertTokenizerFast

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
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=128,
    )
    return BertTokenizerFast(tokenizer_object=tok, model_max_length=128), config


def build_tiny_model(path: Path, seed: int = 0, vocab_size: int = 2000, hidden_size: int = 64) -> Path:
    """Build (once) a 2-layer BERT with mean pooling at ``path``; same seed, same weights."""
    path = Path(path)
    if (path / "modules.json").is_file():
        return path
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertModel

    tokenizer, config = _tokenizer_and_config(vocab_size, hidden_size)
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        hf_dir = Path(tmp) / "hf"
        BertModel(config).save_pretrained(hf_dir)
        tokenizer.save_pretrained(hf_dir)
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


def build_tiny_cross_encoder(path: Path, seed: int = 0, vocab_size: int = 2000, hidden_size: int = 64) -> Path:
    """Build (once) a 2-layer BERT cross-encoder (one score per pair) at ``path``: teacher=cross_encoder in tests,
    where no cross-encoder weights can be downloaded. Its scores mean nothing; their plumbing is what is tested."""
    path = Path(path)
    if (path / "config.json").is_file():
        return path
    import torch
    from transformers import BertForSequenceClassification

    tokenizer, config = _tokenizer_and_config(vocab_size, hidden_size)
    config.num_labels = 1
    torch.manual_seed(seed)
    return _save_once(path, BertForSequenceClassification(config), tokenizer)


def build_tiny_t5(path: Path, seed: int = 0, vocab_size: int = 2000, d_model: int = 32) -> Path:
    """Build (once) a 1-layer T5 with the tiny WordPiece vocabulary at ``path``: generator=seq2seq in tests, where no
    doc2query weights can be downloaded. What it writes means nothing; the generation plumbing is what is tested."""
    path = Path(path)
    if (path / "config.json").is_file():
        return path
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer, _ = _tokenizer_and_config(vocab_size, 64)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=d_model,
        d_kv=16,
        d_ff=2 * d_model,
        num_layers=1,
        num_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return _save_once(path, T5ForConditionalGeneration(config), tokenizer)


def _save_once(path: Path, model: Any, tokenizer: Any) -> Path:
    """A transformers model and its tokenizer saved to a temp dir beside ``path``, then renamed into place (another
    process that built it first wins; its copy is kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        staged = Path(tmp) / "model"
        model.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
        try:
            staged.rename(path)
        except OSError:
            if not (path / "config.json").is_file():
                raise
    return path
