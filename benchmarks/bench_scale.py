"""How BM25 mining grows with the corpus: load time, mining time and peak memory per engine and size.

    python benchmarks/bench_scale.py --sizes 10000 100000 --out outputs/bench/scale.json   # = make bench-scale

The data are synthetic BEIR dirs (written once under --data-dir, seeded): a Zipf vocabulary of made-up words,
documents of ~120 words drawn from it, and one train query per 10 documents (capped at 100,000) made of 6 words
of its document, judged relevant to it. Each (size, engine) runs in a fresh process, which reports its own peak
resident memory (ru_maxrss), so the engines never share a heap. ``bm25s_retrieve`` is the bm25s library used
directly as its authors intend (tokenize, index, retrieve the top 60), the reference the issue measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

WORKER = r"""
import json, resource, sys, time
from pathlib import Path
root, engine, k, max_q = Path(sys.argv[1]), sys.argv[2], 60, int(sys.argv[3])
t0 = time.perf_counter()
if engine == "bm25s_retrieve":
    import bm25s
    corpus = [json.loads(line)["text"] for line in open(root / "corpus.jsonl")]
    qtext = {}
    for line in open(root / "queries.jsonl"):
        o = json.loads(line); qtext[o["_id"]] = o["text"]
    qids = [l.split("\t")[0] for l in list(open(root / "qrels" / "train.tsv"))[1:]][:max_q]
    loaded = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus, stopwords=None, show_progress=False), show_progress=False)
    retriever.retrieve(bm25s.tokenize([qtext[q] for q in qids], stopwords=None, show_progress=False), k=k,
                       show_progress=False, n_threads=1)
    mined = time.perf_counter()
    queries = len(qids)
else:
    from embtune.dataset.sources import load_beir
    from embtune.dataset.mining import mine_bm25_negatives
    data = load_beir(root.name, str(root), ["train"])
    data.qrels["train"] = dict(list(data.qrels["train"].items())[:max_q])
    loaded = time.perf_counter()
    negatives = mine_bm25_negatives(data, "train", engine=engine, tokenizer="word", range_max=50)
    mined = time.perf_counter()
    queries = len(negatives)
print(json.dumps({"load_s": round(loaded - t0, 2), "mine_s": round(mined - loaded, 2),
                  "total_s": round(mined - t0, 2), "queries": queries,
                  "peak_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)}))
"""


def make_corpus(root: Path, n_docs: int, seed: int = 0, vocab: int = 50_000, doc_words: int = 120) -> Path:
    """A synthetic BEIR dir: Zipf-distributed words, queries of 6 words taken from their document."""
    import numpy as np

    if (root / "qrels" / "train.tsv").is_file():
        return root
    rng = np.random.default_rng(seed)
    syllables = np.array([c + v for c in "bcdfghklmnprstvz" for v in "aeiou"])
    words = ["".join(syllables[rng.integers(0, len(syllables), 3)]) + str(i % 97) for i in range(vocab)]
    ranks = np.arange(1, vocab + 1, dtype=np.float64)
    p = 1 / ranks**1.1
    p /= p.sum()
    root.mkdir(parents=True, exist_ok=True)
    n_queries = min(100_000, max(1, n_docs // 10))
    query_docs = set(rng.choice(n_docs, n_queries, replace=False).tolist())
    (root / "qrels").mkdir(exist_ok=True)
    with (
        open(root / "corpus.jsonl", "w") as corpus,
        open(root / "queries.jsonl", "w") as queries,
        open(root / "qrels" / "train.tsv", "w") as qrels,
    ):
        qrels.write("query-id\tcorpus-id\tscore\n")
        chunk = 10_000
        for start in range(0, n_docs, chunk):
            n = min(chunk, n_docs - start)
            lengths = rng.integers(doc_words // 2, doc_words * 3 // 2, n)
            drawn = rng.choice(vocab, int(lengths.sum()), p=p)
            offsets = np.concatenate([[0], np.cumsum(lengths)])
            for i in range(n):
                doc = [words[w] for w in drawn[offsets[i] : offsets[i + 1]]]
                d = start + i
                corpus.write(json.dumps({"_id": f"d{d}", "title": "", "text": " ".join(doc)}) + "\n")
                if d in query_docs:
                    picked = rng.choice(len(doc), 6, replace=False)
                    queries.write(json.dumps({"_id": f"q{d}", "text": " ".join(doc[j] for j in picked)}) + "\n")
                    qrels.write(f"q{d}\td{d}\t1\n")
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--engines", nargs="+", default=["sparse", "bm25s", "bm25s_retrieve", "rank_bm25"])
    parser.add_argument("--rank-bm25-max", type=int, default=10_000, help="largest size rank_bm25 runs at")
    parser.add_argument("--max-queries", type=int, default=100_000, help="mine at most this many queries per size")
    parser.add_argument("--data-dir", type=Path, default=Path("outputs/bench/scale_data"))
    parser.add_argument("--out", type=Path, default=Path("outputs/bench/scale.json"))
    args = parser.parse_args()
    results: list[dict] = json.loads(args.out.read_text())["results"] if args.out.is_file() else []
    for size in args.sizes:
        started = time.perf_counter()
        root = make_corpus(args.data_dir / f"synth_{size}", size)
        print(f"data {root}: {time.perf_counter() - started:.1f} s", flush=True)
        for engine in args.engines:
            if engine == "rank_bm25" and size > args.rank_bm25_max:
                continue
            done = subprocess.run(
                [sys.executable, "-c", WORKER, str(root), engine, str(args.max_queries)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                print(f"{size} {engine}: failed\n{done.stderr[-2000:]}", file=sys.stderr, flush=True)
                continue
            row = {"docs": size, "engine": engine, **json.loads(done.stdout.strip().splitlines()[-1])}
            print(row, flush=True)
            results = [
                r for r in results if (r["docs"], r["engine"], r["queries"]) != (size, engine, row["queries"])
            ] + [row]
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"results": results}, indent=2) + "\n")
    plot(results, args.out.with_suffix(".png"))
    return 0


def plot(results: list[dict], path: Path) -> None:
    """Log-log: total seconds and peak GB against documents, one line per engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    colors = {}
    for engine in sorted({r["engine"] for r in results}):
        # the lines compare engines on the same queries: per size the run with the fewest queries; a size's larger
        # runs (e.g. 1M docs x 100k queries) are extra points labeled with their query count
        mine = [r for r in results if r["engine"] == engine]
        line = {
            d: min((r for r in mine if r["docs"] == d), key=lambda r: r["queries"]) for d in {r["docs"] for r in mine}
        }
        rows = [line[d] for d in sorted(line)]
        for ax, key in zip(axes, ("total_s", "peak_gb"), strict=True):
            drawn = ax.plot([r["docs"] for r in rows], [r[key] for r in rows], marker="o", label=engine)
            colors[engine] = drawn[0].get_color()
        for r in mine:
            if r is not line[r["docs"]]:
                for ax, key in zip(axes, ("total_s", "peak_gb"), strict=True):
                    ax.scatter([r["docs"]], [r[key]], marker="*", s=120, color=colors[engine])
                    ax.annotate(
                        f"{engine}, {r['queries'] // 1000}k queries",
                        (r["docs"], r[key]),
                        textcoords="offset points",
                        xytext=(-110, 6),
                        fontsize=8,
                    )
    for ax, label in zip(axes, ("seconds (load + index + mine)", "peak resident memory (GB)"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("documents (lines: queries = 10% of docs, 10k at 1M)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.suptitle("BM25 mining growth on synthetic BEIR corpora (2 CPU cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
