"""Hard-negative mining: for each query, documents ranked high by BM25 that are not relevant to it."""

from __future__ import annotations

import logging

from tqdm.auto import tqdm

from embtune.bm25 import BM25Index
from embtune.data import RetrievalData
from embtune.errors import EmbtuneError

log = logging.getLogger(__name__)


def mine_bm25_negatives(
    data: RetrievalData,
    split: str,
    tokenizer: str = "word",
    engine: str = "sparse",
    range_min: int = 0,
    range_max: int = 50,
    num_negatives: int = 1,
    relative_margin: float | None = None,
) -> dict[str, list[str]]:
    """Query id -> up to ``num_negatives`` BM25-mined negative doc ids, best first.

    Same meanings as sentence-transformers' ``mine_hard_negatives``: every relevant doc of the query (by id,
    any split) is excluded first; of the remaining candidates ranked ``range_min`` .. ``range_max`` - 1, those
    scoring above ``(1 - relative_margin)`` x the query's weakest positive score are dropped as likely false
    negatives.
    """
    if not 0 <= range_min < range_max:
        raise EmbtuneError(f"mining: need 0 <= range_min < range_max (got {range_min}, {range_max}).")
    if num_negatives < 1:
        raise EmbtuneError(f"mining.num_negatives must be >= 1 (got {num_negatives}).")
    doc_ids = list(data.corpus)
    index = BM25Index(doc_ids, [data.corpus[d] for d in doc_ids], tokenizer=tokenizer, engine=engine)
    position = {d: i for i, d in enumerate(doc_ids)}
    relevant_any_split: dict[str, set[str]] = {}
    for qrels in data.qrels.values():
        for qid, docs in qrels.items():
            relevant_any_split.setdefault(qid, set()).update(docs)

    negatives: dict[str, list[str]] = {}
    for qid in tqdm(sorted(data.split(split)), desc=f"BM25 mining ({split})", disable=None):
        scores = index.scores(data.queries[qid])
        relevant = relevant_any_split[qid]
        ranked = [d for d, _ in index.rank(scores, range_max + len(relevant)) if d not in relevant]
        candidates = ranked[range_min:range_max]
        if relative_margin is not None:
            ceiling = (1 - relative_margin) * min(scores[position[d]] for d in relevant)
            candidates = [d for d in candidates if scores[position[d]] <= ceiling]
        negatives[qid] = candidates[:num_negatives]
    found = sum(len(v) for v in negatives.values())
    log.info("BM25 mining (%s): %d negatives for %d queries", split, found, len(negatives))
    return negatives
