"""Data sources (dataset/ config ``source``): pair/triplet/scored files, BEIR dirs, the Hub, STS TSV.

Every loader counts what it had to reconcile (duplicate ids, repeated or conflicting judgements) in
``RetrievalData.checks``; dataset/checks.py turns the counts into the run's integrity report (and, with
``dataset.strict=true``, into errors). What cannot be reconciled (one id naming two different texts) is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from embtune.dataset.readers import (
    check_text,
    read_jsonl,
    read_records,
    require_field,
    require_label,
    require_score,
    require_text,
)
from embtune.dataset.types import Pair, Qrels, RetrievalData, text_id
from embtune.errors import EmbtuneError

log = logging.getLogger("embtune.dataset.sources")

CANONICAL_FIELDS = ("query", "positive", "negative", "document", "score", "label")
# the column names a pair file may use without any mapping: embtune's own, and sentence-transformers' standard ones
# (their datasets' and trainer's columns: anchor / positive / negative; sentence1 / sentence2 / score or label).
# Each naming is told by the columns only it has; the columns it shares (positive, negative, score, label) mean
# the same in both.
NAMINGS: dict[str, tuple[frozenset[str], dict[str, str]]] = {
    "embtune's names": (frozenset({"query", "document"}), {}),
    "sentence-transformers' anchor / positive / negative names": (frozenset({"anchor"}), {"query": "anchor"}),
    "sentence-transformers' sentence1 / sentence2 / score or label names": (
        frozenset({"sentence1", "sentence2"}),
        {"query": "sentence1", "document": "sentence2"},
    ),
}
_EMBTUNE, _ANCHOR, _SENTENCES = NAMINGS


def load_pairs(
    name: str,
    files: dict[str, str | None],
    columns: Mapping[str, object] | None = None,
    min_relevant_score: float = 0.5,
    quoting: str = "auto",
) -> RetrievalData:
    """Load pair files (one per split: JSONL / CSV / TSV, each maybe ``.gz``, or Parquet) into RetrievalData.

    Row shapes (one per dataset): ``query`` + ``positive`` (+ ``negative``): retrieval rows; ``query`` +
    ``document`` + ``score`` (in [0, 1]) or ``label`` (0/1): pair rows, kept exactly as written for the scored /
    binary formats, and also read as a retrieval view (score >= ``min_relevant_score`` or label 1: relevant; else a
    negative of the query). A split whose file is null is left out (e.g. a train-only run).

    Column names, per file: embtune's (above) or sentence-transformers' standard ones are read as they are
    (``anchor`` / ``positive`` / ``negative``; ``sentence1`` / ``sentence2`` / ``score`` or ``label``, a bare
    ``sentence1`` / ``sentence2`` pair being query and positive); a file with the columns of two namings is
    refused. Other names are mapped in ``columns`` (field -> file column): flat for every split
    (``columns.query=question``; ``query=query``, the config's default, maps nothing) or per split
    (``columns.train.query=question``, over the flat entries). A mapping other than embtune's own names is logged per
    file.
    """
    explicit = _explicit_columns(columns, files)
    data = RetrievalData(name=name, corpus={}, queries={}, qrels={})
    shape: tuple[str, str] | None = None  # (row shape, "file:line" where it was first seen)
    split_negatives: dict[str, dict[str, list[str]]] = {}  # split -> query id -> negative doc ids
    training_queries: set[str] = set()  # queries of the training-side files (every split but test)
    seen_rows: dict[tuple[str, str, str], tuple[float, str]] = {}  # (split, query, doc) -> (value, where)

    def add_doc(text: str) -> str:
        doc_id = text_id("d", text)
        data.corpus[doc_id] = text
        return doc_id

    for split, file in files.items():
        if file is None:
            continue
        path = Path(file)
        split_qrels: Qrels = data.qrels.setdefault(split, {})
        negatives = split_negatives.setdefault(split, {})
        split_pairs: list[Pair] = []
        n_rows = 0
        cols: _FileColumns | None = None
        for lineno, obj in read_records(path, quoting):
            n_rows += 1
            where = f"{path}:{lineno}"
            if cols is None:
                cols = _FileColumns(obj, explicit[split], split, where)
                if described := cols.log(path, split):
                    data.columns[split] = described
            elif obj.keys() != cols.keys:  # JSONL rows may differ: a row in another naming is refused too
                cols.check_row(obj, where)
            mapping = cols.mapping
            query = cols.text(obj, "query", path, lineno)
            qid = text_id("q", query)
            data.queries[qid] = query
            if split != "test":
                training_queries.add(qid)
            if _present(obj, mapping["positive"]):
                row_shape = "query+positive"
            elif _present(obj, mapping["label"]):
                row_shape = "label"
            elif _present(obj, mapping["score"]):
                row_shape = "score"
            else:
                cols.text(obj, "positive", path, lineno)  # names the missing column
                raise AssertionError  # unreachable: it raised
            if shape is None:
                shape = (row_shape, where)
            elif shape[0] != row_shape:
                raise EmbtuneError(
                    f"{where}: a '{row_shape}' row, but {shape[1]} is a '{shape[0]}' row. One dataset holds one row "
                    "shape: query+positive(+negative), query+document+score, or query+document+label. Fix the file "
                    "or split it into two datasets."
                )
            if row_shape == "query+positive":
                pid = add_doc(cols.text(obj, "positive", path, lineno))
                if pid in split_qrels.get(qid, {}):
                    data.count("duplicate_judgements", where)
                split_qrels.setdefault(qid, {})[pid] = 1
                if _present(obj, mapping["negative"]):
                    nid = add_doc(cols.text(obj, "negative", path, lineno))
                    if nid not in negatives.setdefault(qid, []):
                        negatives[qid].append(nid)
                continue
            document = cols.text(obj, "document", path, lineno)
            if row_shape == "label":
                value = float(require_label(obj, mapping["label"], path, lineno))
                relevant = value == 1.0
            else:
                value = require_score(obj, mapping["score"], path, lineno)
                relevant = value >= min_relevant_score
            key = (split, query, document)
            if key in seen_rows:
                first_value, first_where = seen_rows[key]
                check = "duplicate_judgements" if first_value == value else "conflicting_judgements"
                data.count(check, f"{where} (first at {first_where})")
            else:
                seen_rows[key] = (value, where)
            split_pairs.append((query, document, value))
            doc_id = add_doc(document)
            if relevant:
                split_qrels.setdefault(qid, {})[doc_id] = 1
            elif doc_id not in negatives.setdefault(qid, []):
                negatives[qid].append(doc_id)
        if not n_rows:
            raise EmbtuneError(f"{path}: split '{split}' has no rows. Add examples or remove the split.")
        if split_pairs:
            data.pairs[split] = split_pairs
            data.pair_values = shape[0] if shape else None
    # one negatives map for all splits, but a test file's negatives never reach a query that trains
    for split, by_query in split_negatives.items():
        for qid, nids in by_query.items():
            if split == "test" and qid in training_queries:
                continue
            known = data.negatives.setdefault(qid, [])
            known += [n for n in nids if n not in known]
    # a passage that is a positive of a query can't also be its negative
    for qid, nids in data.negatives.items():
        relevant = {d for split_qrels in data.qrels.values() for d in split_qrels.get(qid, {})}
        data.negatives[qid] = [n for n in nids if n not in relevant]
    data.qrels = {s: q for s, q in data.qrels.items() if q}
    return data


Explicit = dict[str, tuple[str, str]]  # field -> (file column, the config key that maps it)


def _explicit_columns(columns: Mapping[str, object] | None, files: Mapping[str, object]) -> dict[str, Explicit]:
    """split -> the user's column mapping for it: the per-split entries over the flat ones. A value null / empty,
    or a flat field named as itself (the config's default), is no mapping: the file's own naming decides. A
    per-split entry naming its field (``columns.train.query=query``) is one, settling a file with two namings. An
    unknown key is refused."""
    splits = sorted(set(files) | {"train", "dev", "test"})
    flat: Explicit = {}
    per_split: dict[str, Explicit] = {}

    def column(key: str, value: object) -> str | None:
        if value in (None, ""):
            return None
        if not isinstance(value, str | int):
            raise EmbtuneError(f"dataset.source.columns.{key}={value!r}: give a column name of the file.")
        return str(value)

    for key, value in (columns or {}).items():
        if key in CANONICAL_FIELDS:
            # a field named as itself is the config's default (conf/dataset/files.yaml): no mapping
            if (col := column(key, value)) is not None and col != key:
                flat[key] = (col, f"dataset.source.columns.{key}")
        elif key in splits and (value is None or isinstance(value, Mapping)):
            for field, sub in (value or {}).items():
                if field not in CANONICAL_FIELDS:
                    raise EmbtuneError(
                        f"dataset.source.columns.{key}.{field}: not a field. Map one of {', '.join(CANONICAL_FIELDS)}, "
                        f"e.g. dataset.source.columns.{key}.query=question."
                    )
                if (col := column(f"{key}.{field}", sub)) is not None:
                    per_split.setdefault(key, {})[field] = (col, f"dataset.source.columns.{key}.{field}")
        else:
            raise EmbtuneError(
                f"dataset.source.columns.{key}: neither a field ({', '.join(CANONICAL_FIELDS)}) nor a split "
                f"({', '.join(splits)}). Fix: e.g. dataset.source.columns.query=question (every split) or "
                "dataset.source.columns.train.query=question (one split)."
            )
    return {split: {**flat, **per_split.get(split, {})} for split in files}


def _namings(keys: Iterable[str]) -> list[str]:
    """The namings (NAMINGS) whose own columns are among ``keys``."""
    keys = set(keys)
    return [naming for naming, (marks, _) in NAMINGS.items() if marks & keys]


class _FileColumns:
    """The columns one file is read through: the user's mapping for its split, the rest by the file's naming,
    told from its first record's columns (every record of a CSV / TSV / Parquet file has the same ones)."""

    def __init__(self, first: dict, explicit: Explicit, split: str, where: str) -> None:
        self.keys, self.split, self.first_where = first.keys(), split, where
        self.claimed = {col for col, _ in explicit.values()}
        found = _namings(self.keys - self.claimed)
        if len(found) > 1:
            raise self._ambiguous(found, self.keys, where)
        self.naming = found[0] if found else _EMBTUNE
        renames = dict(NAMINGS[self.naming][1])
        scored = {explicit.get(f, (f, ""))[0] for f in ("score", "label")} & set(self.keys)
        if self.naming == _SENTENCES and not scored and "positive" not in explicit:
            renames = {"query": "sentence1", "positive": "sentence2"}  # an unscored pair: query and its positive
        self.mapping = {f: f for f in CANONICAL_FIELDS} | renames | {f: col for f, (col, _) in explicit.items()}
        self.origin = {f: self.naming for f in CANONICAL_FIELDS} | {f: key for f, (_, key) in explicit.items()}

    def _ambiguous(self, found: list[str], keys: Iterable[str], where: str) -> EmbtuneError:
        keys = set(keys)
        marks = [sorted(NAMINGS[n][0] & keys) for n in found]
        listed = "; ".join(f"{', '.join(m)} ({n})" for n, m in zip(found, marks, strict=True))
        options = " or =".join(m[0] for m in marks)
        return EmbtuneError(
            f"{where}: columns of two namings ({listed}): which column holds the query can't be told. Fix: map it, "
            f"e.g. dataset.source.columns.{self.split}.query={options}, or drop the columns you don't mean."
        )

    def check_row(self, obj: dict, where: str) -> None:
        """A record with other columns than the first: refused when they are another naming's."""
        found = _namings(obj.keys() - self.claimed)
        if len(found) > 1:
            raise self._ambiguous(found, obj.keys(), where)
        if found and found[0] != self.naming:
            raise EmbtuneError(
                f"{where}: columns in {found[0]}, but {self.first_where} is read in {self.naming}: one file holds "
                f"one naming. Fix the row, or map the columns, e.g. dataset.source.columns.{self.split}.query=<column>."
            )

    def text(self, obj: dict, field: str, path: Path, lineno: int) -> str:
        """The non-empty text of ``field``; a missing column names the mapping and how to give another."""
        key = self.mapping[field]
        if key not in obj:
            found = ", ".join(sorted(map(str, obj))) or "none"
            per_split = f"dataset.source.columns.{self.split}.{field}=<column>"
            if key != field:
                raise EmbtuneError(
                    f"{path}:{lineno}: missing column '{key}' (columns found: {found}; the {field} by "
                    f"{self.origin[field]}). Fix: map this file's own column, {per_split}."
                )
            raise EmbtuneError(
                f"{path}:{lineno}: missing column '{key}' (columns found: {found}). Name the columns as embtune does "
                "(query, positive, negative / query, document, score or label) or as sentence-transformers does "
                f"(anchor, positive, negative / sentence1, sentence2, score or label), or map yours: "
                f"dataset.source.columns.{field}=<column> (every split) or {per_split}."
            )
        return require_text(obj, key, path, lineno)

    def log(self, path: Path, split: str) -> str | None:
        """One line per file read through other names than embtune's own: which column is which field (also
        returned, for the data report)."""
        used = {f: c for f, c in self.mapping.items() if c != f and c in self.keys}
        if not used:
            return None
        origins = sorted({self.origin[f] for f in used})
        described = f"{path.name}: {', '.join(f'{c} -> {f}' for f, c in used.items())} ({'; '.join(origins)})"
        log.info("%s (%s): columns %s", path, split, described.split(": ", 1)[1])
        return described


def _present(obj: dict, key: str) -> bool:
    return obj.get(key) not in (None, "")


def unique_ids(items: Iterable[tuple[str, str, str]], what: str, data: RetrievalData) -> dict[str, str]:
    """id -> text from (place, id, text) items; an id seen again with the same text is counted, with another
    text refused (which of the two is right can't be told, and the last silently winning corrupts the split)."""
    out: dict[str, str] = {}
    first: dict[str, str] = {}
    for where, item_id, text in items:
        if item_id in out:
            if out[item_id] != text:
                raise EmbtuneError(
                    f"{where}: _id '{item_id}' again, with a different text than at {first[item_id]}. "
                    f"Fix: give every {what} its own _id."
                )
            data.count("duplicate_ids", f"{where} (first at {first[item_id]})")
            continue
        out[item_id] = text
        first[item_id] = where
    return out


def load_beir(name: str, path: str, splits: list[str], quoting: str = "auto") -> RetrievalData:
    """Load a BEIR-layout dir: ``corpus.jsonl`` (title + text), ``queries.jsonl``, ``qrels/<split>.tsv``; each may
    be gzipped instead (``corpus.jsonl.gz``, as MTEB's copies ship), found by that name when the plain one is
    absent (a dir holding both is refused: which is current can't be told)."""
    root = Path(path)
    if not root.is_dir():
        raise EmbtuneError(
            f"dataset dir not found: {root}. Set paths.data_dir to the folder that holds '{name}/' "
            f"(e.g. paths.data_dir=../shared/data) or download it from the Hugging Face Hub (BeIR/{name})."
        )
    data = RetrievalData(name=name, corpus={}, queries={}, qrels={})
    corpus_file, queries_file = _layout_file(root / "corpus.jsonl"), _layout_file(root / "queries.jsonl")
    data.corpus = unique_ids(
        (
            (
                f"{corpus_file}:{n}",
                str(require_field(obj, "_id", corpus_file, n)),
                (str(obj.get("title") or "") + " " + require_text(obj, "text", corpus_file, n)).strip(),
            )
            for n, obj in read_jsonl(corpus_file)
        ),
        "document",
        data,
    )
    data.queries = unique_ids(
        (
            (
                f"{queries_file}:{n}",
                str(require_field(obj, "_id", queries_file, n)),
                require_text(obj, "text", queries_file, n),
            )
            for n, obj in read_jsonl(queries_file)
        ),
        "query",
        data,
    )
    data.qrels = {split: _read_qrels(_layout_file(root / "qrels" / f"{split}.tsv"), data, quoting) for split in splits}
    return data


def _layout_file(path: Path) -> Path:
    """A BEIR layout file: ``path``, or ``path.gz`` when only that one is there."""
    gz = path.with_name(path.name + ".gz")
    if not gz.is_file():
        return path
    if path.is_file():
        raise EmbtuneError(
            f"{path} and {gz.name} both exist: which one holds the current data can't be told. Fix: remove one."
        )
    return gz


def _checked(rows: Iterable[dict], where: str) -> Iterable[tuple[int, dict]]:
    """(row number, row) of a Hub split, each row held to the readers' text rule (no NUL, valid Unicode)."""
    for i, row in enumerate(rows):
        check_text(row, f"{where} row {i}")
        yield i, row


def _read_qrels(path: Path, data: RetrievalData, quoting: str) -> Qrels:
    """Read a BEIR qrels TSV (header ``query-id corpus-id score``); ids must exist; score 0 = not relevant.

    The same (query, document) judged twice: equal scores are counted as a duplicate; different scores as a
    conflict, resolved to the highest judgement (and refused with dataset.strict=true).
    """
    if not path.is_file():
        raise EmbtuneError(f"qrels file not found: {path}. BEIR dirs hold qrels/<split>.tsv (or .tsv.gz) per split.")
    qrels: Qrels = {}
    judged: dict[tuple[str, str], tuple[int, int]] = {}  # (query, doc) -> (score, line)
    for lineno, row in read_records(path, quoting):
        if "query-id" not in row or "corpus-id" not in row or "score" not in row:
            raise EmbtuneError(f"{path}:1: header must name query-id, corpus-id and score (found: {list(row)}).")
        qid, did = row["query-id"], row["corpus-id"]
        if qid not in data.queries:
            raise EmbtuneError(f"{path}:{lineno}: query id '{qid}' is not in queries.jsonl.")
        if did not in data.corpus:
            raise EmbtuneError(f"{path}:{lineno}: corpus id '{did}' is not in corpus.jsonl.")
        try:
            score = int(row["score"])
        except (TypeError, ValueError):
            raise EmbtuneError(f"{path}:{lineno}: score {row['score']!r} is not an integer.") from None
        if (qid, did) in judged:
            first, first_line = judged[(qid, did)]
            check = "duplicate_judgements" if first == score else "conflicting_judgements"
            data.count(check, f"{path}:{lineno} (first at line {first_line})")
            score = max(score, first)
        judged[(qid, did)] = (score, judged.get((qid, did), (score, lineno))[1])
        if score > 0:
            qrels.setdefault(qid, {})[did] = score
    if not qrels:
        raise EmbtuneError(f"{path}: no relevant (score > 0) judgements. The split would be empty.")
    return qrels


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
    data = RetrievalData(name=name, corpus={}, queries={}, qrels={})
    corpus = data.corpus = unique_ids(
        (
            (f"{repo} [corpus] row {i}", str(r["_id"]), (str(r.get("title") or "") + " " + r["text"]).strip())
            for i, r in _checked(corpus_rows, f"{repo} [corpus]")
        ),
        "document",
        data,
    )
    queries = data.queries = unique_ids(
        ((f"{repo} [queries] row {i}", str(r["_id"]), r["text"]) for i, r in _checked(query_rows, f"{repo} [queries]")),
        "query",
        data,
    )
    qrels = data.qrels
    judged: dict[str, dict[tuple[str, str], tuple[int, str]]] = {}  # same rule as _read_qrels: highest kept, counted
    for split, rows in qrels_rows.items():
        for i, r in _checked(rows, f"{qrels_repo} [{split}]"):
            qid, did = str(r["query-id"]), str(r["corpus-id"])
            if qid not in queries or did not in corpus:
                raise EmbtuneError(f"{qrels_repo} [{split}] row {i}: unknown query '{qid}' or corpus id '{did}'.")
            score, where = int(r["score"]), f"{qrels_repo} [{split}] row {i}"
            previous = judged.setdefault(split, {}).get((qid, did))
            if previous is not None:
                data.count("duplicate_judgements" if previous[0] == score else "conflicting_judgements", where)
                score = max(score, previous[0])
            judged[split][(qid, did)] = (score, where)
            if score > 0:
                qrels.setdefault(split, {}).setdefault(qid, {})[did] = score
    return data


def load_sts_tsv(
    name: str, path: str, splits: list[str], score_scale: float = 5.0, quoting: str = "auto"
) -> RetrievalData:
    """STS-style TSV files ``<split>.tsv`` (sentence1, sentence2, score), scores divided by ``score_scale``."""
    root = Path(path)
    if not root.is_dir():
        raise EmbtuneError(
            f"dataset dir not found: {root}. Set paths.data_dir to the folder that holds '{root.name}/' "
            "(e.g. paths.data_dir=../shared/data) or get it from the Hub (sentence-transformers/stsb)."
        )
    data = RetrievalData(name=name, corpus={}, queries={}, qrels={}, pair_values="score")
    for split in splits:
        file = root / f"{split}.tsv"
        rows = []
        for lineno, obj in read_records(file, quoting):
            s1 = require_text(obj, "sentence1", file, lineno)
            s2 = require_text(obj, "sentence2", file, lineno)
            score = require_score(obj, "score", file, lineno, 0.0, score_scale) / score_scale
            rows.append((s1, s2, score))
        if not rows:
            raise EmbtuneError(f"{file}: split '{split}' has no rows.")
        data.pairs[split] = rows
    return data
