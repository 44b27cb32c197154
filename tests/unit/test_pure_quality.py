"""quality.count_words: words in spaced scripts, single characters in scripts written without spaces."""

from __future__ import annotations

import pytest

from embtune.quality import count_words


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", 0),
        (" \t\n ", 0),
        ("churn", 1),
        ("why do customers cancel", 4),
        ("  padded   with\tmixed\nwhitespace  ", 4),
        ("hello, world!", 2),  # punctuation stays on its word
        ("state-of-the-art", 1),
        ("Привет мир", 2),  # Cyrillic is spaced
        ("안녕하세요 세계", 2),  # so is Hangul
        ("مرحبا بالعالم", 2),  # and Arabic
    ],
)
def test_spaced_scripts_count_words(text: str, words: int) -> None:
    assert count_words(text) == words


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("客户为什么取消订阅", 9),  # Han
        ("解約した顧客", 6),  # kanji and hiragana
        ("カタカナー", 5),  # katakana, the long-vowel mark included
        ("สวัสดี", 6),  # Thai: each code point, combining vowels included
        ("ລາວ", 3),  # Lao
        ("ខ្មែរ", 5),  # Khmer
        ("မြန်မာ", 6),  # Myanmar
        ("豈更", 2),  # CJK compatibility ideographs
        ("㐀㐁", 2),  # CJK extension A
    ],
)
def test_unspaced_scripts_count_characters(text: str, words: int) -> None:
    assert count_words(text) == words


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("GPU显卡 drivers", 4),  # GPU + 显 + 卡 + drivers
        ("iPhone 15の解約", 5),  # iPhone, 15, の, 解, 約
        ("客户 churn 率", 4),
        ("a客b", 3),
    ],
)
def test_mixed_scripts(text: str, words: int) -> None:
    assert count_words(text) == words
