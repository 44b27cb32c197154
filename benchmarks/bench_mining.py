"""Benchmark BM25 mining and retrieval on SciFact; writes a JSON results file.

    python benchmarks/bench_mining.py --data-dir ../shared/data --out outputs/bench/mining.json

1. Mining SciFact train (all 809 queries): the sparse engine vs rank-bm25's own get_scores, queries/s,
   speed-up, and the largest score difference between the two over every query.
2. BM25 retrieval nDCG@10 on SciFact test per tokenizer, scored by sentence-transformers' evaluator code.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from embtune.dataset.bm25 import TOKENIZERS, BM25Index
from embtune.dataset.mining import mine_bm25_negatives
from embtune.dataset.sources import load_beir
from embtune.evaluation.evaluators import EvalInputs, build_evaluator, evaluate_bm25

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--out", default="outputs/bench/mining.json")
    parser.add_argument("--tokenizer", default="word")
    args = parser.parse_args()

    data = load_beir("scifact", str(Path(args.data_dir) / "scifact"), ["train", "test"])
    results: dict = {"dataset": "scifact", "train_queries": len(data.qrels["train"]), "corpus": len(data.corpus)}

    # the same mining work per engine; index construction (tokenizing, BM25Okapi) timed apart
    timings, negatives = {}, {}
    ids = list(data.corpus)
    texts = [data.corpus[d] for d in ids]
    queries = [data.queries[q] for q in sorted(data.qrels["train"])]
    for engine in ("sparse", "rank_bm25"):
        started = time.perf_counter()
        index = BM25Index(ids, texts, tokenizer=args.tokenizer, engine=engine)
        build = time.perf_counter() - started
        started = time.perf_counter()
        index.top_k_indices(index.score_matrix(queries), 60)  # the per-query work: score every doc, rank
        query_seconds = time.perf_counter() - started
        started = time.perf_counter()
        negatives[engine] = mine_bm25_negatives(data, "train", tokenizer=args.tokenizer, engine=engine, range_max=50)
        total = time.perf_counter() - started
        timings[engine] = {
            "index_seconds": round(build, 3),
            "query_seconds": round(query_seconds, 3),
            "queries_per_s": round(len(queries) / query_seconds, 1),
            "mining_seconds_end_to_end": round(total, 3),
        }
        print(engine, timings[engine], flush=True)

    fast = BM25Index(ids, texts, tokenizer=args.tokenizer, engine="sparse")
    ref = BM25Index(ids, texts, tokenizer=args.tokenizer, engine="rank_bm25")
    max_diff = max(
        float(np.max(np.abs(fast.scores(data.queries[q]) - ref.scores(data.queries[q])))) for q in data.qrels["train"]
    )
    results["mining"] = {
        "tokenizer": args.tokenizer,
        "engines": timings,
        "query_speedup": round(timings["sparse"]["queries_per_s"] / timings["rank_bm25"]["queries_per_s"], 1),
        "end_to_end_speedup": round(
            timings["rank_bm25"]["mining_seconds_end_to_end"] / timings["sparse"]["mining_seconds_end_to_end"], 1
        ),
        "max_abs_score_diff": max_diff,
        "same_negatives": negatives["sparse"] == negatives["rank_bm25"],
    }

    evaluator = build_evaluator(OmegaConf.load(ROOT / "conf" / "evaluator" / "ir.yaml"), EvalInputs(data, "test"))
    results["retrieval_ndcg@10"] = {
        tok: round(evaluate_bm25(evaluator, tokenizer=tok)["ndcg@10"], 4) for tok in TOKENIZERS
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
