"""quality.count_words: words in spaced scripts, single characters in scripts written without spaces."""

from __future__ import annotations

import pytest

from embtune.dataset.quality import count_words


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


# --- the filter's rules, relative to the dataset's own lengths ------------------------------------------------------

from omegaconf import OmegaConf  # noqa: E402

from embtune.dataset.quality import QualityFilter, filter_split  # noqa: E402
from embtune.dataset.types import RetrievalData  # noqa: E402
from embtune.errors import EmbtuneError  # noqa: E402

DEFAULT = OmegaConf.load("conf/quality/default.yaml")


def _data(queries: dict[str, str], docs: dict[str, str], qrels: dict[str, dict[str, int]]) -> RetrievalData:
    return RetrievalData("kw", docs, queries, {"train": qrels})


def _keyword_log(n: int = 40) -> RetrievalData:
    """A keyword-search log: 1-4 word queries, each found verbatim in its ~30-word document."""
    words = ["insulin", "dosage", "renal", "failure", "statin", "myopathy", "asthma", "steroid"]
    queries = {f"q{i}": " ".join([f"kw{i}", *(words[j % 8] for j in range(i, i + i % 4))]) for i in range(n)}
    docs = {f"d{i}": f"{queries[f'q{i}']} " + " ".join(f"context{k}" for k in range(30)) for i in range(n)}
    return _data(queries, docs, {f"q{i}": {f"d{i}": 1} for i in range(n)})


def test_keyword_queries_are_kept_by_the_default_rules() -> None:
    # the old fixed rules (2 words, query verbatim in its positive) would drop most of this log
    data = _keyword_log()
    old = OmegaConf.merge(DEFAULT, {"min_query_words": 2, "keyword_query_words": 0, "max_drop": None})
    with pytest.raises(EmbtuneError, match=r"dropped all 40 .*short_query: 10, query_in_positive: 30"):
        filter_split(data, "train", old)
    _, report = filter_split(data, "train", DEFAULT)
    assert report["kept"] == 40 and report["short_query"] == report["query_in_positive"] == 0
    assert report["thresholds"]["median_query_words"] == 2.5


def test_short_is_measured_against_the_datasets_own_queries() -> None:
    # claims of ~12 words: a 2-word query is an outlier and dropped; the same 2 words among keyword queries are not
    claim = "statins reduce the risk of myocardial infarction in patients with high cholesterol"
    queries = {f"q{i}": f"{claim} {i}" for i in range(9)} | {"q9": "statins infarction"}
    docs = {f"d{i}": " ".join(f"w{k}" for k in range(40)) + f" {i}" for i in range(10)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(10)}
    _, report = filter_split(_data(queries, docs, qrels), "train", DEFAULT)
    assert report["short_query"] == 1 and report["thresholds"]["min_query_words"] == pytest.approx(13 * 0.25)


def test_a_query_copied_into_its_positive_is_dropped_only_when_it_is_a_sentence() -> None:
    sentence = "ldl cholesterol has a causal role in cardiovascular disease"
    queries = {"q0": sentence, "q1": "ldl cholesterol", "q2": "another claim about some disease risk factor here"}
    docs = {"d0": f"we show that {sentence} in adults", "d1": "ldl cholesterol " + "x " * 20, "d2": "y " * 20}
    cfg = OmegaConf.merge(DEFAULT, {"max_drop": None})  # 1 of 3 dropped: above the default share
    _, report = filter_split(_data(queries, docs, {q: {f"d{q[1]}": 1} for q in queries}), "train", cfg)
    assert report["query_in_positive"] == 1 and report["kept"] == 2


def test_a_filter_dropping_more_than_max_drop_stops_with_one_line_naming_rule_share_and_override() -> None:
    data = _keyword_log()
    strict = OmegaConf.merge(DEFAULT, {"min_query_words": 3})  # drops the 1- and 2-word queries: half
    with pytest.raises(EmbtuneError) as err:
        filter_split(data, "train", strict)
    line = str(err.value)
    assert "\n" not in line and "50%" in line and "short_query: 20 of 40" in line
    assert "quality.max_drop=0.2" in line and "quality.min_query_words" in line and "quality=none" in line
    _, report = filter_split(data, "train", OmegaConf.merge(strict, {"max_drop": 0.6}))
    assert report["kept"] == 20


def test_the_dataclass_defaults_match_the_config() -> None:
    from dataclasses import asdict

    assert {k: v for k, v in asdict(QualityFilter()).items()} == {
        k: v for k, v in OmegaConf.to_container(DEFAULT).items() if k != "_target_"
    }
