"""bm25 tokenizers: split / word / stem, and the lookup by config name."""

from __future__ import annotations

import importlib.util

import pytest

from embtune.dataset.bm25 import STOPWORDS, get_tokenizer, split_tokenizer, stem_tokenizer, word_tokenizer
from embtune.errors import EmbtuneError

HAS_STEMMER = importlib.util.find_spec("Stemmer") is not None


def test_split_lowercases_and_splits_on_any_whitespace() -> None:
    assert split_tokenizer("Hello,  World\tfoo\nBar ") == ["hello,", "world", "foo", "bar"]
    assert split_tokenizer("Don't-STOP") == ["don't-stop"]  # punctuation stays attached
    assert split_tokenizer("") == [] and split_tokenizer(" \t\n") == []


def test_word_keeps_unicode_word_characters_only() -> None:
    assert word_tokenizer("Don't stop-believing, 42x!") == ["don", "t", "stop", "believing", "42x"]
    assert word_tokenizer("Ünïcode STRASSE straße snake_case") == ["ünïcode", "strasse", "straße", "snake_case"]
    assert word_tokenizer("客户 churn 解約") == ["客户", "churn", "解約"]
    assert word_tokenizer("") == [] and word_tokenizer("... --- !!!") == []


def test_tokenizers_by_name() -> None:
    assert get_tokenizer("split") is split_tokenizer
    assert get_tokenizer("word") is word_tokenizer
    assert get_tokenizer("stem") is stem_tokenizer


@pytest.mark.parametrize("name", ["Word", "whitespace", "", "stem "])
def test_an_unknown_tokenizer_lists_the_known_ones(name: str) -> None:
    with pytest.raises(EmbtuneError, match=r"unknown BM25 tokenizer .*choose one of: split, word, stem\."):
        get_tokenizer(name)


@pytest.mark.skipif(not HAS_STEMMER, reason="PyStemmer not installed")
def test_stem_drops_stopwords_and_stems() -> None:
    assert stem_tokenizer("The runners are running quickly, and THE runner ran") == [
        "runner",
        "run",
        "quick",
        "runner",
        "ran",
    ]
    assert stem_tokenizer("the and of to") == []
    assert stem_tokenizer("") == []


@pytest.mark.skipif(not HAS_STEMMER, reason="PyStemmer not installed")
def test_stem_matches_inflections_that_word_keeps_apart() -> None:
    assert word_tokenizer("payments") != word_tokenizer("payment")
    assert stem_tokenizer("payments") == stem_tokenizer("payment") == stem_tokenizer("Payment")


def test_stopwords_are_lowercase_english_function_words() -> None:
    assert {"the", "and", "of", "is", "yourselves"} <= STOPWORDS
    assert all(w == w.lower() for w in STOPWORDS)
    assert not {"churn", "payment", "customer"} & STOPWORDS
