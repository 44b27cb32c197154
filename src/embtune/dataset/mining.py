"""Hard-negative mining: for each query, documents ranked high by BM25 that are not relevant to it."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from embtune.dataset.bm25 import BM25Index
from embtune.dataset.types import RetrievalData
from embtune.errors import EmbtuneError
from embtune.run.files import write_json_atomic

log = logging.getLogger(__name__)


def mine_bm25_negatives(
    data: RetrievalData,
    split: str,
    tokenizer: str = "word",
    engine: str = "sparse",
    k1: float = 1.5,
    b: float = 0.75,
    range_min: int = 0,
    range_max: int = 50,
    num_negatives: int = 1,
    relative_margin: float | None = None,
    method: str = "lucene",
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
    started = time.perf_counter()
    index = BM25Index(
        doc_ids, (data.corpus[d] for d in doc_ids), tokenizer=tokenizer, engine=engine, k1=k1, b=b, method=method
    )
    indexed = time.perf_counter() - started
    position = {d: i for i, d in enumerate(doc_ids)}
    relevant_any_split: dict[str, set[str]] = {}
    for qrels in data.qrels.values():
        for qid, docs in qrels.items():
            relevant_any_split.setdefault(qid, set()).update(docs)

    qids = sorted(data.split(split))
    widest = range_max + max(len(relevant_any_split[q]) for q in qids)
    negatives: dict[str, list[str]] = {}
    # queries in blocks: scores of one block alive at a time, so memory does not grow with the number of queries
    with tqdm(total=len(qids), desc=f"BM25 mining ({engine})", unit="query", disable=len(qids) < 2000) as bar:
        for start, block in index.score_blocks([data.queries[q] for q in qids]):
            for qid, scores, top in zip(
                qids[start : start + len(block)], block, index.top_k_indices(block, widest), strict=True
            ):
                relevant = relevant_any_split[qid]
                candidates = [doc_ids[i] for i in top if doc_ids[i] not in relevant][range_min:range_max]
                if relative_margin is not None:
                    ceiling = (1 - relative_margin) * min(scores[position[d]] for d in relevant)
                    candidates = [d for d in candidates if scores[position[d]] <= ceiling]
                negatives[qid] = candidates[:num_negatives]
            bar.update(len(block))
    found = sum(len(v) for v in negatives.values())
    log.info(
        "BM25 mining (%s, %s): %d negatives for %d queries over %d documents in %.1f s (index %.1f s)",
        split,
        engine,
        found,
        len(negatives),
        len(doc_ids),
        time.perf_counter() - started,
        indexed,
    )
    return negatives


def mine_cached(
    data: RetrievalData, split: str, mining_cfg: DictConfig, cache_dir: Path
) -> tuple[dict[str, list[str]], dict]:
    """Mine with the configured miner, cached on disk by (data fingerprint, split, mining config).

    Returns (negatives, stats) where stats holds the time taken, the cache hit and negatives per query.
    Best effort, like the zero-shot cache: a corrupt or unreadable entry is mined again and replaced, and an
    unwritable cache dir only warns (naming the path).
    """
    from embtune.evaluation.cache import read_cache_entry, warn_unwritable

    def valid(value: object) -> bool:
        """query id -> list of doc ids, as the miners return them."""
        return isinstance(value, dict) and all(
            isinstance(v, list) and all(isinstance(d, str) for d in v) for v in value.values()
        )

    params = {k: v for k, v in OmegaConf.to_container(mining_cfg, resolve=True).items() if k != "name"}
    key_src = json.dumps({"data": data.fingerprint(), "split": split, "mining": params}, sort_keys=True)
    path = Path(cache_dir) / "mining" / f"{hashlib.sha256(key_src.encode()).hexdigest()[:24]}.json"
    started = time.perf_counter()
    negatives = read_cache_entry(path, "negatives", valid)
    hit = negatives is not None
    if negatives is None:
        negatives = instantiate(params, _recursive_=False)(data, split)
        try:
            write_json_atomic(path, {"mining": params, "split": split, "negatives": negatives})
        except OSError as e:
            warn_unwritable(path, e)
    counts = [len(v) for v in negatives.values()]
    stats = {
        "miner": mining_cfg.name,
        "seconds": round(time.perf_counter() - started, 3),
        "cache_hit": hit,
        "queries": len(counts),
        "queries_without_negatives": sum(1 for c in counts if c == 0),
        "negatives_per_query": round(sum(counts) / len(counts), 3) if counts else 0.0,
    }
    return negatives, stats


def mine_dense_negatives(
    data: RetrievalData,
    split: str,
    model: DictConfig,
    cache_dir: str,
    range_min: int = 0,
    range_max: int = 50,
    num_negatives: int = 1,
    relative_margin: float | None = 0.05,
    sampling_strategy: str = "top",
    batch_size: int = 32,
    absolute_margin: float | None = None,
    max_score: float | None = None,
    use_faiss: bool = False,
    faiss_batch_size: int = 16384,
    embeddings_cache: str | None = None,
    model_path: str | None = None,
) -> dict[str, list[str]]:
    """Query id -> negatives mined by sentence-transformers' ``mine_hard_negatives`` with an embedding model.

    The model is the training model's config (prompts included): negatives the base model confuses; with
    ``model_path`` (a saved model, e.g. a finished run's ``model/``) the negatives that model still confuses -
    the second round of ANCE-style re-mining. For large
    corpora: ``use_faiss`` (faiss-cpu index instead of a full similarity matrix), ``faiss_batch_size`` (queries
    searched at once), ``batch_size`` (encoding), ``embeddings_cache`` (a folder where sentence-transformers keeps
    the corpus embeddings between runs).
    """
    from datasets import Dataset
    from sentence_transformers import mine_hard_negatives

    from embtune.model.loading import load_base_model, model_prompts

    model = OmegaConf.create(model) if isinstance(model, dict) else model
    if model_path is not None:
        if not Path(model_path).expanduser().is_dir():
            raise EmbtuneError(
                f"mining.model_path={model_path}: no such directory. Fix: point it at a saved model, e.g. a finished "
                "run's model/ (outputs/train/runs/<run>/model)."
            )
        model = OmegaConf.merge(
            {k: v for k, v in OmegaConf.to_container(model).items() if k != "builder"}, {"name_or_path": model_path}
        )
    started = time.perf_counter()
    st_model, _ = load_base_model(model, cache_dir)
    qrels = data.split(split)
    pairs = [(data.queries[q], data.corpus[d]) for q in sorted(qrels) for d in sorted(qrels[q])]
    corpus_ids = list(data.corpus)
    text_to_id = {data.corpus[d]: d for d in reversed(corpus_ids)}
    prompts = model_prompts(model) or {}
    mined = mine_hard_negatives(
        Dataset.from_dict({"query": [p[0] for p in pairs], "positive": [p[1] for p in pairs]}),
        st_model,
        corpus=[data.corpus[d] for d in corpus_ids],
        range_min=range_min,
        range_max=range_max,
        num_negatives=num_negatives,
        relative_margin=relative_margin,
        sampling_strategy=sampling_strategy,
        query_prompt=prompts.get("query"),
        corpus_prompt=prompts.get("document"),
        output_format="labeled-pair",
        batch_size=batch_size,
        absolute_margin=absolute_margin,
        max_score=max_score,
        use_faiss=use_faiss,
        faiss_batch_size=faiss_batch_size,
        cache_folder=embeddings_cache,
        verbose=False,
    )
    query_to_id = {data.queries[q]: q for q in qrels}
    negatives: dict[str, list[str]] = {q: [] for q in qrels}
    for row in mined:
        if row["label"] != 0:
            continue
        qid, did = query_to_id[row["query"]], text_to_id[row["positive"]]
        if did not in qrels[qid] and did not in negatives[qid]:
            negatives[qid].append(did)
    negatives = {q: n[:num_negatives] for q, n in negatives.items()}
    short = sum(len(n) < num_negatives for n in negatives.values())
    log.info(
        "dense mining (%s, %s): %d negatives for %d queries over %d documents in %.1f s; %d queries with fewer than "
        "%d (range_max / relative_margin left no more)",
        split,
        model_path or model.get("name_or_path"),
        sum(len(n) for n in negatives.values()),
        len(negatives),
        len(corpus_ids),
        time.perf_counter() - started,
        short,
        num_negatives,
    )
    return negatives
