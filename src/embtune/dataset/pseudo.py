"""The generator/ config group: pseudo-queries from a corpus alone, for adapting a model to a domain with no
labelled queries (``make adapt``). ``extractive`` needs no weights: one of a document's sentences (it stays in
the document, unlike inverse cloze), the document's lead, its key phrases (the words rarest in the corpus that it
repeats); ``seq2seq`` runs any doc2query-style model (a dir or a Hub id). Each query judges its own document.

The pseudo-queries are filtered like a quality filter, each drop counted: too short, copied verbatim (the query is
most of its document: it teaches identity, not retrieval), and duplicates across documents (one text for two
documents is no judgement). The source's labelled train and dev queries are ignored; its test split stays, so
the run still reports BM25, zero-shot and the adapted model on real judgements."""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from embtune.dataset.types import RetrievalData
from embtune.errors import EmbtuneError

log = logging.getLogger(__name__)
WORD = re.compile(r"\w+")
SENTENCE = re.compile(r"(?<=[.!?])\s+")
KINDS = ("sentence", "lead", "keyphrase")


class Generator:
    """Makes pseudo-queries for documents: ``generate(texts) -> one list of queries per text``."""

    name = "generator"

    def generate(self, texts: Sequence[str]) -> list[list[str]]:
        raise NotImplementedError


class ExtractiveGenerator(Generator):
    """Queries cut from the documents themselves, no weights: ``kinds`` of sentence / lead / keyphrase, up to
    ``per_doc`` per document, seeded."""

    def __init__(
        self,
        kinds: Sequence[str] = KINDS,
        per_doc: int = 3,
        max_words: int = 16,
        keyphrase_words: int = 3,
        seed: int = 0,
        name: str = "extractive",
    ) -> None:
        unknown = [k for k in kinds if k not in KINDS]
        if unknown or not kinds:
            raise EmbtuneError(f"generator.kinds={list(kinds)}: choose from {', '.join(KINDS)}.")
        self.kinds, self.per_doc, self.max_words = list(kinds), per_doc, max_words
        self.keyphrase_words, self.seed, self.name = keyphrase_words, seed, name

    def generate(self, texts: Sequence[str]) -> list[list[str]]:
        rng = random.Random(self.seed)
        df: Counter[str] = Counter()
        for text in texts:
            df.update(set(w.lower() for w in WORD.findall(text)))
        n = len(texts)
        out = []
        for text in texts:
            sentences = [s.strip() for s in SENTENCE.split(text) if s.strip()]
            made = []
            for kind in self.kinds:
                if kind == "sentence" and len(sentences) > 1:
                    made.append(self._clip(rng.choice(sentences[1:])))  # one of its sentences, not the lead
                elif kind == "lead" and sentences:
                    made.append(self._clip(sentences[0]))
                elif kind == "keyphrase":
                    made.append(self._keyphrase(text, df, n))
            out.append([q for q in made if q][: self.per_doc])
        return out

    def _clip(self, sentence: str) -> str:
        return " ".join(sentence.split()[: self.max_words]).rstrip(".,;:")

    def _keyphrase(self, text: str, df: Counter[str], n: int) -> str:
        """The document's words by tf x idf (corpus df), the top ``keyphrase_words`` in the order they appear."""
        words = [w.lower() for w in WORD.findall(text) if len(w) > 3 and not w.isdigit()]
        if not words:
            return ""
        tf = Counter(words)
        weight = {w: tf[w] * math.log((1 + n) / (1 + df[w])) for w in tf}
        top = set(sorted(weight, key=lambda w: (-weight[w], w))[: self.keyphrase_words])
        seen: list[str] = []
        for w in words:
            if w in top and w not in seen:
                seen.append(w)
        return " ".join(seen)


class Seq2SeqGenerator(Generator):
    """Any doc2query-style sequence-to-sequence model (a dir or a Hub id): ``per_doc`` sampled queries per document."""

    def __init__(
        self,
        name_or_path: str,
        per_doc: int = 3,
        max_length: int = 64,
        max_input_length: int = 384,
        batch_size: int = 16,
        top_p: float = 0.95,
        seed: int = 0,
        name: str = "seq2seq",
    ) -> None:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(name_or_path).eval()
        except OSError as e:
            raise EmbtuneError(
                f"generator.name_or_path={name_or_path}: no sequence-to-sequence model there "
                f"({str(e).splitlines()[0]}). Fix: a local doc2query dir, or a Hub id on a machine that reaches it."
            ) from None
        self.per_doc, self.max_length, self.max_input_length = per_doc, max_length, max_input_length
        self.batch_size, self.top_p, self.seed, self.name = batch_size, top_p, seed, name

    def generate(self, texts: Sequence[str]) -> list[list[str]]:
        import torch

        torch.manual_seed(self.seed)
        out: list[list[str]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            enc = self.tokenizer(
                batch, truncation=True, max_length=self.max_input_length, padding=True, return_tensors="pt"
            )
            enc.pop("token_type_ids", None)  # BERT-style tokenizers add them; encoder-decoders take none
            with torch.no_grad():
                ids = self.model.generate(
                    **enc,
                    max_length=self.max_length,
                    do_sample=True,
                    top_p=self.top_p,
                    num_return_sequences=self.per_doc,
                )
            decoded = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
            out += [decoded[i * self.per_doc : (i + 1) * self.per_doc] for i in range(len(batch))]
        return out


def pseudo_queries(
    data: RetrievalData,
    generator: Generator,
    min_words: int = 2,
    max_doc_share: float = 0.5,
    dev_fraction: float = 0.0,
    seed: int = 0,
) -> tuple[RetrievalData, dict[str, Any]]:
    """``data`` with its labelled train/dev queries replaced by the generator's pseudo-queries (each judges its
    document), the test split kept; and the report of what was made and dropped. ``dev_fraction`` of the documents
    are held out whole: their queries are the dev split and never train, so no dev query's document was learned
    from another query of it."""
    started = time.perf_counter()
    doc_ids = sorted(data.corpus)
    made = generator.generate([data.corpus[d] for d in doc_ids])
    dropped: Counter[str] = Counter()  # each reason counted, zero counts kept out of the report
    owners: dict[str, set[str]] = {}
    kept: list[tuple[str, str]] = []
    for doc, queries in zip(doc_ids, made, strict=True):
        doc_words = len(WORD.findall(data.corpus[doc]))
        texts: dict[str, str] = {}
        for q in queries:  # a repeat within the document counts once: the first spelling, in order
            texts.setdefault(" ".join(q.split()).lower(), " ".join(q.split()))
        dropped["repeat_within_document"] += len(queries) - len(texts)
        for q in texts.values():
            words = len(WORD.findall(q))
            if words < min_words:
                dropped["too_short"] += 1
            elif doc_words and words / doc_words > max_doc_share:
                dropped["copied_verbatim"] += 1
            else:
                owners.setdefault(q.lower(), set()).add(doc)
                kept.append((q, doc))
    shared = {q for q, docs in owners.items() if len(docs) > 1}
    dropped["duplicate_across_documents"] = sum(1 for q, _ in kept if q.lower() in shared)
    kept = [(q, d) for q, d in kept if q.lower() not in shared]
    if not kept:
        raise EmbtuneError(
            f"generator={generator.name}: no pseudo-query survived the filter for dataset '{data.name}' "
            f"({dict(dropped)}). Fix: more generator.build.kinds (sentence, lead, keyphrase), or a lower "
            "generator.min_words."
        )
    test = data.qrels.get("test")
    docs_with_queries = sorted({d for _, d in kept})
    random.Random(seed).shuffle(docs_with_queries)
    n_held = (
        max(1, round(len(docs_with_queries) * dev_fraction)) if dev_fraction > 0 and len(docs_with_queries) > 1 else 0
    )
    held = set(docs_with_queries[:n_held])  # at least one document whole: never a dev carved by query
    queries = {f"pq{i}": q for i, (q, _) in enumerate(kept)}
    queries |= {q: data.queries[q] for q in (test or {})}
    judged = {split: {f"pq{i}": {d: 1} for i, (_, d) in enumerate(kept) if (d in held) == (split == "dev")}
              for split in ("train", "dev")}  # fmt: skip
    qrels = {s: q for s, q in judged.items() if q} | ({"test": test} if test else {})
    report = {
        "generator": generator.name,
        "documents": len(doc_ids),
        "made": sum(len(q) for q in made),
        "kept": len(kept),
        "dropped": {k: v for k, v in dropped.items() if v},
        "labelled_train_ignored": len(data.qrels.get("train", {})) + len(data.qrels.get("dev", {})),
        "dev": {"documents_held_out": len(held), "queries": len(qrels.get("dev", {}))},
        "seconds": round(time.perf_counter() - started, 2),
    }
    log.info(
        "pseudo-queries (%s): %d kept of %d made for %d documents, dropped %s; %d labelled train/dev queries "
        "ignored, in %.1f s",
        generator.name, len(kept), report["made"], len(doc_ids), dict(dropped), report["labelled_train_ignored"],
        report["seconds"],
    )  # fmt: skip
    out = RetrievalData(name=data.name, corpus=data.corpus, queries=queries, qrels=qrels)
    out.checks, out.check_examples = dict(data.checks), dict(data.check_examples)
    return out, report
