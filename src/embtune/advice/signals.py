"""What the data alone says about fine-tuning: how many examples, which words the model does not know, how much
queries and their documents share words. Each signal is measured, never guessed; the thresholds live in advice/."""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import replace
from typing import Any

from embtune.dataset.bm25 import stem_tokenizer
from embtune.dataset.quality import dropped_counts
from embtune.dataset.types import RetrievalData

_WORD = re.compile(r"[^\W\d_]{2,}")  # letters only: numbers and codes are not vocabulary


def examples(quality: dict[str, int], data: RetrievalData) -> dict[str, Any]:
    """Training judgements the run would train on (after the quality filter and any ``max_train_queries`` cut),
    and what each quality rule dropped (the filter's own report)."""
    dropped = {k: v for k, v in dropped_counts(quality).items() if v}
    kept = sum(len(d) for d in data.split("train").values())
    return {
        "kept": kept,
        "queries": len(data.split("train")),
        "before_filter": int(quality["total"]),
        "dropped": dropped,
    }


def cut_train(data: RetrievalData, max_queries: int | None, seed: int) -> RetrievalData:
    """The data with at most ``max_queries`` train queries (a seeded sample): "what if only this many were
    labeled". Dev and test stay as they are, so the advice is measured on the same held-out queries."""
    qrels = data.split("train")
    if max_queries is None or max_queries >= len(qrels):
        return data
    keep = sorted(random.Random(seed).sample(sorted(qrels), max_queries))
    return replace(data, qrels={**data.qrels, "train": {q: qrels[q] for q in keep}})


def vocabulary(
    data: RetrievalData, tokenizer: Any, pieces: int = 3, max_docs: int = 20000, top_terms: int = 15, seed: int = 0
) -> dict[str, Any]:
    """Share of word occurrences (corpus sample, queries) the model's tokenizer splits into ``pieces`` or more, and
    the most frequent such words with their pieces: the domain terms the model has never seen whole."""
    doc_ids = sorted(data.corpus)
    if len(doc_ids) > max_docs:
        doc_ids = random.Random(seed).sample(doc_ids, max_docs)
    texts = {"corpus": [data.corpus[d] for d in doc_ids], "queries": list(data.queries.values())}
    out = split_words(texts, tokenizer, pieces, top_terms)
    return {
        "pieces": pieces,
        "corpus_share": out["shares"]["corpus"],
        "query_share": out["shares"]["queries"],
        "docs_read": len(doc_ids),
        "top_terms": out["top_terms"],
    }


def split_words(texts: dict[str, list[str]], tokenizer: Any, pieces: int = 3, top_terms: int = 15) -> dict[str, Any]:
    """Per named collection of texts, the share of word occurrences split into ``pieces`` or more; the most
    frequent such words overall. Each distinct word is tokenized once (one pass over the text plus its vocabulary)."""
    counts = {side: Counter(w for t in items for w in _WORD.findall(t.lower())) for side, items in texts.items()}
    split: dict[str, list[str]] = {}
    for word in set().union(*counts.values()):
        tokens = tokenizer.tokenize(word)
        if len(tokens) >= pieces:
            split[word] = tokens
    shares = {
        side: (sum(n for w, n in c.items() if w in split) / total if (total := sum(c.values())) else 0.0)
        for side, c in counts.items()
    }
    both = sum(counts.values(), Counter())
    frequent = sorted(split, key=lambda w: (-both[w], w))[:top_terms]
    return {"shares": shares, "top_terms": [{"word": w, "count": both[w], "pieces": split[w]} for w in frequent]}


def overlap(data: RetrievalData, split: str = "train") -> dict[str, Any]:
    """Mean share of a query's content terms (stopwords dropped, stemmed) found in its positive document, over the
    split's judgements: high overlap is where BM25 already does well."""
    shares = []
    for qid, docs in data.split(split).items():
        terms = set(stem_tokenizer(data.queries[qid]))
        if not terms:
            continue
        for did in docs:
            shares.append(len(terms & set(stem_tokenizer(data.corpus[did]))) / len(terms))
    return {"mean": sum(shares) / len(shares) if shares else 0.0, "pairs": len(shares)}
