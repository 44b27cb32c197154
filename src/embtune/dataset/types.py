"""The canonical data shape every source loads into: queries, corpus, judgements per split, pair rows."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from embtune.errors import EmbtuneError

Qrels = dict[str, dict[str, int]]  # query id -> {doc id: relevance > 0}
Pair = tuple[str, str, float]  # (text, text, score in [0, 1] or label 0/1) as the file holds it


@dataclass
class RetrievalData:
    """Queries and documents with relevance judgements per split (``train``, ``dev``, ``test``), and pairs.

    ``negatives`` holds hard negatives the source itself provides (query id -> doc ids). ``pairs`` holds pair
    rows as written (STS scores, graded or labeled pair files), ``pair_values`` says what their third value is
    (``score`` in [0, 1] or ``label`` 0/1); for pair files the retrieval view (qrels, negatives) is derived from
    them. ``checks`` counts what loading reconciled, ``check_examples`` names the first place of each.
    """

    name: str
    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, Qrels]
    negatives: dict[str, list[str]] = field(default_factory=dict)
    pairs: dict[str, list[Pair]] = field(default_factory=dict)
    pair_values: str | None = None
    checks: dict[str, int] = field(default_factory=dict)
    check_examples: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # split -> the column mapping its file was read through
    generated: dict = field(default_factory=dict)  # pseudo-queries (generator/): what was made and dropped

    def pair_rows(self, split: str) -> list[Pair]:
        """The pair rows of one split; a clear error when missing or empty."""
        rows = self.pairs.get(split)
        if not rows:
            have = ", ".join(f"{s} ({len(p)} pairs)" for s, p in self.pairs.items() if p)
            raise EmbtuneError(
                f"dataset '{self.name}': no pair rows for split '{split}' "
                f"({'splits with pairs: ' + have if have else 'this is retrieval data: use evaluator=ir'})."
            )
        return rows

    def has_split(self, split: str) -> bool:
        return bool(self.qrels.get(split)) or bool(self.pairs.get(split))

    def split(self, split: str) -> Qrels:
        """The judgements of one split; a clear error when the split is missing or empty."""
        qrels = self.qrels.get(split)
        if not qrels:
            if self.pairs.get(split):
                raise EmbtuneError(
                    f"dataset '{self.name}': split '{split}' holds {self.pair_values} pairs, but no query has a "
                    "relevant document in it, so there is no retrieval view (query -> documents). Fix: train with "
                    "data_format=scored or binary and evaluate with evaluator=sts (scores) or evaluator=binary "
                    "(labels)."
                )
            have = ", ".join(f"{s} ({len(q)} queries)" for s, q in self.qrels.items() if q) or "none"
            raise EmbtuneError(
                f"dataset '{self.name}': split '{split}' is empty or missing (splits found: {have}). "
                "Add data for it or point the dataset config at a source that has it."
            )
        return qrels

    def fingerprint(self) -> str:
        """A sha256 over every text and judgement: equal data, equal fingerprint. Hashed entry by entry, so a
        million-document corpus is never copied into one string."""
        h = hashlib.sha256()
        for part in (self.corpus, self.queries, self.qrels, self.negatives, self.pairs):
            h.update(b"\x1e")
            for key in sorted(part):
                h.update(json.dumps([key, part[key]], sort_keys=True, ensure_ascii=False).encode())
        return h.hexdigest()[:16]

    def count(self, check: str, where: str, n: int = 1) -> None:
        """Count one reconciled problem; the first place it happened is kept for the warning line."""
        self.checks[check] = self.checks.get(check, 0) + n
        self.check_examples.setdefault(check, where)


def text_id(prefix: str, text: str) -> str:
    """A stable id for a text (pair files have no ids): equal text, equal id."""
    return f"{prefix}{hashlib.sha1(text.encode()).hexdigest()[:12]}"
