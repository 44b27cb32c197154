"""Load a data source into one canonical shape: queries, a corpus and relevance judgements per split."""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from embtune.errors import EmbtuneError

Qrels = dict[str, dict[str, int]]  # query id -> {doc id: relevance > 0}


@dataclass
class RetrievalData:
    """Queries and documents with relevance judgements per split (``train``, ``dev``, ``test``).

    ``negatives`` holds hard negatives the source itself provides (query id -> doc ids). Sentence-pair
    similarity data (STS) has no queries or corpus: its splits are ``scored_pairs`` (text, text, score in [0, 1]).
    """

    name: str
    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, Qrels]
    negatives: dict[str, list[str]] = field(default_factory=dict)
    scored_pairs: dict[str, list[tuple[str, str, float]]] = field(default_factory=dict)

    def pairs(self, split: str) -> list[tuple[str, str, float]]:
        """The scored sentence pairs of one split; a clear error when missing or empty."""
        rows = self.scored_pairs.get(split)
        if not rows:
            have = ", ".join(self.scored_pairs) or "none (this is retrieval data: use evaluator=ir)"
            raise EmbtuneError(f"dataset '{self.name}': no scored pairs for split '{split}' (splits: {have}).")
        return rows

    def split(self, split: str) -> Qrels:
        """The judgements of one split; a clear error when the split is missing or empty."""
        qrels = self.qrels.get(split)
        if not qrels:
            have = ", ".join(f"{s} ({len(q)} queries)" for s, q in self.qrels.items()) or "none"
            raise EmbtuneError(
                f"dataset '{self.name}': split '{split}' is empty or missing (splits found: {have}). "
                "Add data for it or point the dataset config at a source that has it."
            )
        return qrels

    def fingerprint(self) -> str:
        """A sha256 over every text and judgement: equal data, equal fingerprint."""
        h = hashlib.sha256()
        for part in (self.corpus, self.queries, self.qrels, self.negatives, self.scored_pairs):
            h.update(json.dumps(part, sort_keys=True, ensure_ascii=False).encode())
        return h.hexdigest()[:16]


def _text_id(prefix: str, text: str) -> str:
    return f"{prefix}{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) from a JSONL file; a bad line raises an error naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise EmbtuneError(f"data file not found: {path}. Check the path (paths.data_dir / dataset config).")
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise EmbtuneError(
                    f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno}). Each line must be one JSON object."
                ) from None
            if not isinstance(obj, dict):
                raise EmbtuneError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}.")
            yield lineno, obj


def _require_text(obj: dict, key: str, path: Path, lineno: int) -> str:
    if key not in obj:
        raise EmbtuneError(
            f"{path}:{lineno}: missing column '{key}' (columns found: {', '.join(sorted(obj)) or 'none'}). "
            "Rename the field or map it in the dataset config."
        )
    value = obj[key]
    if not isinstance(value, str) or not value.strip():
        raise EmbtuneError(f"{path}:{lineno}: column '{key}' must be a non-empty string, got {value!r}.")
    return value


CANONICAL_FIELDS = ("query", "positive", "negative", "document", "score")


def read_records(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, record) from a JSONL, CSV, TSV or Parquet file (by suffix); line numbers as an editor shows."""
    path = Path(path)
    if not path.is_file():
        raise EmbtuneError(f"data file not found: {path}. Check the path (paths.data_dir / dataset config).")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        yield from read_jsonl(path)
    elif suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
            for record in reader:
                yield reader.line_num, record
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, record in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield i, record
    else:
        raise EmbtuneError(f"{path}: unknown file type '{suffix}'. Use .jsonl, .csv, .tsv or .parquet.")


def load_pairs(
    name: str,
    files: dict[str, str],
    columns: dict[str, str | None] | None = None,
    min_relevant_score: float = 0.5,
) -> RetrievalData:
    """Load pair files (one per split: JSONL / CSV / TSV / Parquet) into RetrievalData.

    Fields (renamed through ``columns``, canonical name -> file column): ``query`` with either ``positive``
    (optionally ``negative``), or ``document`` + ``score`` (scored pairs: score >= ``min_relevant_score`` is
    relevant, below it the document is a negative of the query). Every distinct passage becomes one corpus
    document (negatives too); the same query on several lines is one query with several positives.
    """
    mapping = {f: f for f in CANONICAL_FIELDS} | {k: v for k, v in (columns or {}).items() if v}
    corpus: dict[str, str] = {}
    queries: dict[str, str] = {}
    qrels: dict[str, Qrels] = {}
    negatives: dict[str, list[str]] = {}

    def add_doc(text: str) -> str:
        doc_id = _text_id("d", text)
        corpus[doc_id] = text
        return doc_id

    def add_negative(qid: str, doc_id: str) -> None:
        if doc_id not in negatives.setdefault(qid, []):
            negatives[qid].append(doc_id)

    for split, file in files.items():
        path = Path(file)
        split_qrels: Qrels = {}
        for lineno, obj in read_records(path):
            query = _require_text(obj, mapping["query"], path, lineno)
            qid = _text_id("q", query)
            queries[qid] = query
            if mapping["positive"] in obj or mapping["score"] not in obj:
                pid = add_doc(_require_text(obj, mapping["positive"], path, lineno))
                split_qrels.setdefault(qid, {})[pid] = 1
                if obj.get(mapping["negative"]) not in (None, ""):
                    add_negative(qid, add_doc(_require_text(obj, mapping["negative"], path, lineno)))
            else:
                doc_id = add_doc(_require_text(obj, mapping["document"], path, lineno))
                score = _require_score(obj, mapping["score"], path, lineno)
                if score >= min_relevant_score:
                    split_qrels.setdefault(qid, {})[doc_id] = 1
                else:
                    add_negative(qid, doc_id)
        if not split_qrels:
            raise EmbtuneError(f"{path}: split '{split}' has no rows. Add examples or remove the split.")
        qrels[split] = split_qrels
    # a passage that is a positive of a query can't also be its negative
    for qid, nids in negatives.items():
        relevant = {d for split_qrels in qrels.values() for d in split_qrels.get(qid, {})}
        negatives[qid] = [n for n in nids if n not in relevant]
    return RetrievalData(name=name, corpus=corpus, queries=queries, qrels=qrels, negatives=negatives)


def _require_score(obj: dict, key: str, path: Path, lineno: int, low: float = 0.0, high: float = 1.0) -> float:
    try:
        score = float(obj[key])
    except (TypeError, ValueError):
        raise EmbtuneError(f"{path}:{lineno}: column '{key}' must be a number, got {obj[key]!r}.") from None
    if not low <= score <= high:
        raise EmbtuneError(
            f"{path}:{lineno}: column '{key}' = {score} is outside [{low}, {high}]. Rescale the scores "
            "(e.g. divide 0-5 STS scores by 5)."
        )
    return score


def load_beir(name: str, path: str, splits: list[str]) -> RetrievalData:
    """Load a BEIR-layout dir: ``corpus.jsonl`` (title + text), ``queries.jsonl``, ``qrels/<split>.tsv``."""
    root = Path(path)
    if not root.is_dir():
        raise EmbtuneError(
            f"dataset dir not found: {root}. Set paths.data_dir to the folder that holds '{name}/' "
            f"(e.g. paths.data_dir=../shared/data) or download it from the Hugging Face Hub (BeIR/{name})."
        )
    corpus_file, queries_file = root / "corpus.jsonl", root / "queries.jsonl"
    corpus = {}
    for lineno, obj in read_jsonl(corpus_file):
        doc_id = str(_require_field(obj, "_id", corpus_file, lineno))
        corpus[doc_id] = (str(obj.get("title") or "") + " " + _require_text(obj, "text", corpus_file, lineno)).strip()
    queries = {
        str(_require_field(obj, "_id", queries_file, lineno)): _require_text(obj, "text", queries_file, lineno)
        for lineno, obj in read_jsonl(queries_file)
    }
    qrels = {split: _read_qrels(root / "qrels" / f"{split}.tsv", queries, corpus) for split in splits}
    return RetrievalData(name=name, corpus=corpus, queries=queries, qrels=qrels)


def _require_field(obj: dict, key: str, path: Path, lineno: int) -> object:
    if key not in obj:
        raise EmbtuneError(
            f"{path}:{lineno}: missing column '{key}' (columns found: {', '.join(sorted(obj)) or 'none'})."
        )
    return obj[key]


def _read_qrels(path: Path, queries: dict[str, str], corpus: dict[str, str]) -> Qrels:
    """Read a BEIR qrels TSV (header ``query-id corpus-id score``); ids must exist; score 0 = not relevant."""
    if not path.is_file():
        raise EmbtuneError(f"qrels file not found: {path}. BEIR dirs hold qrels/<split>.tsv per split.")
    qrels: Qrels = {}
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        expected = {"query-id", "corpus-id", "score"}
        if not reader.fieldnames or not expected <= set(reader.fieldnames):
            raise EmbtuneError(
                f"{path}:1: header must name query-id, corpus-id and score (found: {reader.fieldnames})."
            )
        for lineno, row in enumerate(reader, start=2):
            qid, did = row["query-id"], row["corpus-id"]
            if qid not in queries:
                raise EmbtuneError(f"{path}:{lineno}: query id '{qid}' is not in queries.jsonl.")
            if did not in corpus:
                raise EmbtuneError(f"{path}:{lineno}: corpus id '{did}' is not in corpus.jsonl.")
            try:
                score = int(row["score"])
            except (TypeError, ValueError):
                raise EmbtuneError(f"{path}:{lineno}: score {row['score']!r} is not an integer.") from None
            if score > 0:
                qrels.setdefault(qid, {})[did] = score
    if not qrels:
        raise EmbtuneError(f"{path}: no relevant (score > 0) judgements. The split would be empty.")
    return qrels


def carve_dev_split(data: RetrievalData, fraction: float, seed: int) -> RetrievalData:
    """Move a deterministic ``fraction`` of train queries into a ``dev`` split, unless the source has one."""
    if "dev" in data.qrels or "dev" in data.scored_pairs or fraction <= 0:
        return data
    train = data.split("train")
    qids = sorted(train)
    random.Random(seed).shuffle(qids)
    n_dev = max(1, round(len(qids) * fraction))
    if n_dev >= len(qids):
        raise EmbtuneError(
            f"dataset '{data.name}': dataset.dev_fraction={fraction} leaves no training queries "
            f"({len(qids)} in train). Lower it."
        )
    dev_ids = set(qids[:n_dev])
    qrels = dict(data.qrels)
    qrels["train"] = {q: d for q, d in train.items() if q not in dev_ids}
    qrels["dev"] = {q: d for q, d in train.items() if q in dev_ids}
    return replace(data, qrels=qrels)


def load_hub_beir(name: str, repo: str, qrels_repo: str, splits: list[str]) -> RetrievalData:
    """A BEIR dataset from the Hugging Face Hub (``BeIR/<name>`` + ``BeIR/<name>-qrels``) via ``datasets``."""
    from datasets import load_dataset

    try:
        corpus_rows = load_dataset(repo, "corpus", split="corpus")
        query_rows = load_dataset(repo, "queries", split="queries")
        qrels_rows = {split: load_dataset(qrels_repo, split=split) for split in splits}
    except Exception as e:  # noqa: BLE001 - offline, missing repo, auth: one message
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise EmbtuneError(
            f"could not load '{repo}' / '{qrels_repo}' from the Hugging Face Hub ({first}). Offline? Load it once "
            f"online (it is cached), or use a local copy: dataset=beir dataset.name={name} paths.data_dir=<dir>."
        ) from None
    corpus = {str(r["_id"]): (str(r.get("title") or "") + " " + r["text"]).strip() for r in corpus_rows}
    queries = {str(r["_id"]): r["text"] for r in query_rows}
    qrels: dict[str, Qrels] = {}
    for split, rows in qrels_rows.items():
        for i, r in enumerate(rows):
            qid, did = str(r["query-id"]), str(r["corpus-id"])
            if qid not in queries or did not in corpus:
                raise EmbtuneError(f"{qrels_repo} [{split}] row {i}: unknown query '{qid}' or corpus id '{did}'.")
            if int(r["score"]) > 0:
                qrels.setdefault(split, {}).setdefault(qid, {})[did] = int(r["score"])
    return RetrievalData(name=name, corpus=corpus, queries=queries, qrels=qrels)


def load_sts_tsv(name: str, path: str, splits: list[str], score_scale: float = 5.0) -> RetrievalData:
    """STS-style TSV files ``<split>.tsv`` (sentence1, sentence2, score), scores divided by ``score_scale``."""
    root = Path(path)
    if not root.is_dir():
        raise EmbtuneError(
            f"dataset dir not found: {root}. Set paths.data_dir to the folder that holds '{root.name}/' "
            "(e.g. paths.data_dir=../shared/data) or get it from the Hub (sentence-transformers/stsb)."
        )
    pairs: dict[str, list[tuple[str, str, float]]] = {}
    for split in splits:
        file = root / f"{split}.tsv"
        rows = []
        for lineno, obj in read_records(file):
            s1 = _require_text(obj, "sentence1", file, lineno)
            s2 = _require_text(obj, "sentence2", file, lineno)
            score = _require_score(obj, "score", file, lineno, 0.0, score_scale) / score_scale
            rows.append((s1, s2, score))
        if not rows:
            raise EmbtuneError(f"{file}: split '{split}' has no rows.")
        pairs[split] = rows
    return RetrievalData(name=name, corpus={}, queries={}, qrels={}, scored_pairs=pairs)
