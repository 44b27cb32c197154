"""Where advice.thresholds.jargon_share comes from: the share of word occurrences MiniLM's tokenizer splits into
>= 3 pieces on a general-domain set (STS-B sentences) and on two domain sets (the embedded data, SciFact).

    python benchmarks/bench_vocabulary.py --data-dir ../shared/data --out benchmarks/results/vocabulary_shares.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sentence_transformers import SentenceTransformer

from embtune.advice.signals import split_words, vocabulary
from embtune.config.resolvers import package_data
from embtune.dataset.sources import load_beir, load_pairs, load_sts_tsv
from embtune.model.loading import resolve_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "embtune"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    name = "sentence-transformers/all-MiniLM-L6-v2"
    tokenizer = SentenceTransformer(str(resolve_model(name, args.cache_dir).path), device="cpu").tokenizer
    rows = {}
    sts = load_sts_tsv("stsb", str(args.data_dir / "stsb"), ["train"])
    sentences = [t for r in sts.pair_rows("train") for t in r[:2]]
    general = split_words({"sentences": sentences}, tokenizer)
    rows["stsb_train"] = {
        "share": general["shares"]["sentences"],
        "top_terms": [t["word"] for t in general["top_terms"]],
    }
    default = load_pairs(
        "default", {"train": package_data("default/train.jsonl"), "test": package_data("default/test.jsonl")}
    )
    scifact = load_beir("scifact", str(args.data_dir / "scifact"), ["train", "test"])
    for key, data in (("default", default), ("scifact", scifact)):
        v = vocabulary(data, tokenizer)
        rows[key] = {
            "corpus_share": v["corpus_share"],
            "query_share": v["query_share"],
            "top_terms": [t["word"] for t in v["top_terms"]],
        }
    out = {"what": __doc__.splitlines()[0], "model": name, "pieces": 3, "sets": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    for key, r in rows.items():
        print(key, {k: round(v, 4) for k, v in r.items() if isinstance(v, float)}, r["top_terms"][:5])


if __name__ == "__main__":
    main()
