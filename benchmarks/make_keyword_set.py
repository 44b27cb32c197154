"""Build a keyword-query, dense-relevance retrieval set (BEIR layout) from SciFact's abstracts: the traits of
keyword-search logs over a specialist corpus that the SciFact recipe does not carry over to.

- queries of 1-4 keywords (--weights, default 0.25 / 0.4 / 0.25 / 0.1), each the salient terms of one seed abstract;
- a document is relevant when it holds every keyword of the query (whole words, title or text), so a document
  about a common topic answers many queries (dense relevance). With ``--annotator MODEL`` relevance is by meaning
  instead: a document is relevant when MODEL (e.g. all-mpnet-base-v2, stronger than the model being tuned) scores
  it at least ``--min-score`` against the query, whether or not it holds the words (= make data-keyword-annotated);
- judgements are incomplete, as pooled judgements are: a random ``--judged`` share (0.7) of the relevant documents
  is judged, the rest stay unjudged. BM25's top "non-relevant" documents and in-batch negatives are then often
  unjudged relevant ones (false negatives), in every split alike.

python benchmarks/make_keyword_set.py --data-dir ../shared/data --out outputs/data/keyword_scifact  (make data-keyword)
Writes corpus.jsonl, queries.jsonl, qrels/train.tsv, qrels/test.tsv and stats.json; deterministic by --seed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from collections import Counter
from pathlib import Path

TOKEN = re.compile(r"[a-z][a-z0-9\-]{3,}")


def tokens(text: str) -> set[str]:
    return set(TOKEN.findall(text.lower()))


def draw_keywords(rng: random.Random, own: list[str], k: int, index: dict[str, set[str]]) -> list[str] | None:
    """k of a seed abstract's salient terms, each next one co-occurring with the others in at least 3 documents."""
    words = [rng.choice(own)]
    together = set(index[words[0]])
    while len(words) < k:
        more = [t for t in own if t not in words and len(together & index[t]) >= 3]
        if not more:
            return None
        words.append(rng.choice(more))
        together &= index[words[-1]]
    return words


def annotator_scores(a: argparse.Namespace, docs: list[dict], texts: list[str]):  # noqa: ANN201 - a numpy array
    """Cosine of every query text to every document under the annotator model; document embeddings are cached
    (<embtune cache>/annotator/) because a stronger model on CPU is the slow part and variants share the corpus."""
    import hashlib
    import os

    import numpy as np
    from sentence_transformers import SentenceTransformer

    from embtune.model.loading import resolve_model

    cache_dir = Path(os.environ.get("EMBTUNE_CACHE_DIR", Path.home() / ".cache" / "embtune"))
    model = SentenceTransformer(str(resolve_model(a.annotator, cache_dir).path), local_files_only=True)
    model.max_seq_length = min(a.annotator_seq_len, model.max_seq_length or a.annotator_seq_len)  # its own limit
    a.annotator_seq_len = model.max_seq_length  # what it read, for stats.json
    ids = "|".join(d["_id"] for d in docs)
    key = hashlib.sha256(f"{a.annotator}|{model.max_seq_length}|{ids}".encode()).hexdigest()[:16]
    cache = cache_dir / "annotator" / f"{key}.npy"
    if cache.is_file():
        doc_emb = np.load(cache)
    else:
        corpus = [f"{d.get('title', '')} {d['text']}".strip() for d in docs]
        doc_emb = model.encode(corpus, batch_size=32, normalize_embeddings=True, show_progress_bar=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, doc_emb)
    query_emb = model.encode(texts, batch_size=128, normalize_embeddings=True, show_progress_bar=True)
    return query_emb @ doc_emb.T


def annotated_queries(
    a: argparse.Namespace,
    rng: random.Random,
    docs: list[dict],
    terms: dict[str, set[str]],
    salient: set[str],
    index: dict[str, set[str]],
    weights: list[float],
) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """Keyword queries whose relevant documents are those the annotator model scores at least --min-score: relevance
    by meaning, as a domain expert judges it, so a document need not hold the words and one that holds them may not
    answer. Candidates are drawn first (3x what is asked), then scored in one pass and kept in draw order."""
    seen: set[frozenset[str]] = set()
    drawn: list[list[str]] = []
    for _ in range(50 * a.queries):
        if len(drawn) >= 3 * a.queries:
            break
        own = sorted(terms[rng.choice(docs)["_id"]] & salient)
        k = rng.choices([1, 2, 3, 4], weights=weights)[0]
        if len(own) < k or (words := draw_keywords(rng, own, k, index)) is None or frozenset(words) in seen:
            continue
        seen.add(frozenset(words))
        drawn.append(words)
    scores = annotator_scores(a, docs, [" ".join(w) for w in drawn])
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for words, row in zip(drawn, scores, strict=True):
        relevant = sorted(docs[i]["_id"] for i in (row >= a.min_score).nonzero()[0])
        if not 3 <= len(relevant) <= a.max_relevant:
            continue
        qid = f"k{len(queries)}"
        queries[qid] = " ".join(words)
        qrels[qid] = {d: 1 for d in sorted(rng.sample(relevant, max(2, round(a.judged * len(relevant)))))}
        if len(queries) == a.queries:
            break
    return queries, qrels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, help="the folder holding scifact/")
    ap.add_argument("--out", required=True)
    ap.add_argument("--docs", type=int, default=1500)
    ap.add_argument("--min-words", type=int, default=0, help="sample only abstracts of at least this many words")
    ap.add_argument("--queries", type=int, default=520)
    ap.add_argument("--test-share", type=float, default=0.2)
    ap.add_argument("--judged", type=float, default=0.7)
    ap.add_argument("--min-df", type=int, default=15)
    ap.add_argument("--max-df", type=int, default=300)
    ap.add_argument("--min-titles", type=int, default=3, help="a keyword must appear in this many titles")
    ap.add_argument("--max-relevant", type=int, default=200, help="a query answered by more documents is redrawn")
    ap.add_argument("--weights", default="0.25,0.4,0.25,0.1", help="how often a query has 1, 2, 3, 4 keywords")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--annotator",
        default=None,
        help="judge relevance by this model's meaning instead of by the keywords: a document is relevant when its "
        "cosine to the query is at least --min-score (e.g. sentence-transformers/all-mpnet-base-v2)",
    )
    ap.add_argument("--min-score", type=float, default=0.45, help="the annotator's cosine a relevant document reaches")
    ap.add_argument(
        "--annotator-seq-len", type=int, default=256, help="tokens of a document the annotator reads (<= its limit)"
    )
    a = ap.parse_args()
    started = time.perf_counter()
    out = Path(a.out)
    if (out / "corpus.jsonl").exists():
        raise SystemExit(f"error: {out} already holds a dataset; remove it or pick another --out (nothing overwritten)")
    rng = random.Random(a.seed)
    weights = [float(w) for w in a.weights.split(",")]
    if len(weights) != 4:
        raise SystemExit(f"error: --weights {a.weights!r} needs 4 comma-separated numbers (1, 2, 3, 4 keywords)")
    source = Path(a.data_dir) / "scifact" / "corpus.jsonl"
    if not source.is_file():
        raise SystemExit(f"error: {source} not found; pass --data-dir with the folder that holds scifact/")
    docs = [json.loads(line) for line in source.open(encoding="utf-8")]
    docs = [d for d in docs if len(d["text"].split()) >= a.min_words]
    docs = sorted(rng.sample(docs, min(a.docs, len(docs))), key=lambda d: d["_id"])
    terms = {d["_id"]: tokens(f"{d.get('title', '')} {d['text']}") for d in docs}
    df = Counter(t for ts in terms.values() for t in ts)
    in_titles = Counter(t for d in docs for t in tokens(d.get("title", "")))
    # domain terms, not prose: words titles use, neither rare nor everywhere
    salient = {t for t, n in df.items() if a.min_df <= n <= a.max_df and in_titles[t] >= a.min_titles}
    index: dict[str, set[str]] = {}
    for did, ts in terms.items():
        for t in ts & salient:
            index.setdefault(t, set()).add(did)

    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    seen: set[frozenset[str]] = set()
    seeds = [d["_id"] for d in docs]
    attempts = 0
    if a.annotator:
        queries, qrels = annotated_queries(a, rng, docs, terms, salient, index, weights)
    while not a.annotator and len(queries) < a.queries and attempts < 50 * a.queries:
        attempts += 1
        seed = rng.choice(seeds)
        own = sorted(terms[seed] & salient)
        k = rng.choices([1, 2, 3, 4], weights=weights)[0]
        if len(own) < k:
            continue
        if (words := draw_keywords(rng, own, k, index)) is None:
            continue
        relevant = set.intersection(*(index[w] for w in words))
        key = frozenset(words)
        if key in seen or not 3 <= len(relevant) <= a.max_relevant:
            continue
        seen.add(key)
        judged = sorted(rng.sample(sorted(relevant), max(2, round(a.judged * len(relevant)))))
        qid = f"k{len(queries)}"
        queries[qid] = " ".join(words)
        qrels[qid] = {d: 1 for d in judged}

    qids = list(queries)
    rng.shuffle(qids)
    n_test = round(a.test_share * len(qids))
    splits = {"test": sorted(qids[:n_test]), "train": sorted(qids[n_test:])}
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"_id": d["_id"], "title": d.get("title", ""), "text": d["text"]}) + "\n")
    with (out / "queries.jsonl").open("w", encoding="utf-8") as f:
        for qid in sorted(queries):
            f.write(json.dumps({"_id": qid, "text": queries[qid]}) + "\n")
    for split, ids in splits.items():
        with (out / "qrels" / f"{split}.tsv").open("w", encoding="utf-8") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            for qid in ids:
                f.writelines(f"{qid}\t{d}\t{s}\n" for d, s in qrels[qid].items())
    per_doc = Counter(d for q in splits["train"] for d in qrels[q])
    stats = {
        "documents": len(docs),
        "queries": {s: len(ids) for s, ids in splits.items()},
        "judgements": {s: sum(len(qrels[q]) for q in ids) for s, ids in splits.items()},
        "query_words": dict(sorted(Counter(len(q.split()) for q in queries.values()).items())),
        "judged_per_query_median": statistics.median(len(r) for r in qrels.values()),
        "train_queries_per_judged_document_max": max(per_doc.values()),
        "document_words_median": statistics.median(len(d["text"].split()) for d in docs),
        "judged_share_of_relevant": a.judged,
        "max_relevant": a.max_relevant,
        "keyword_weights": weights,
        "seed": a.seed,
        "relevance": (
            f"{a.annotator} cosine >= {a.min_score} (documents cut at {a.annotator_seq_len} tokens)"
            if a.annotator
            else "the document holds every keyword"
        ),
        "source": "BEIR SciFact corpus (a sample of its abstracts); queries and judgements built by this script",
    }
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(
        f"keyword set: {len(docs)} documents, {stats['queries']} queries, {stats['judgements']} judgements "
        f"(median {stats['judged_per_query_median']} per query) -> {out} in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
