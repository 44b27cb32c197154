"""Distillation labels: the teacher's scores of each training row's (anchor, candidate) pairs, as the loss asks
(``loss.labels``): ``margin`` (MarginMSELoss: positive minus each negative) or ``scores`` (DistillKLDivLoss: the
positive's and every negative's score). The teacher's own test figure is measured where it is a model."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from hydra.utils import instantiate
from omegaconf import DictConfig

from embtune.errors import EmbtuneError
from embtune.training.teachers import BiEncoderTeacher, BM25Teacher, Teacher, cached_scores, check_fusion

log = logging.getLogger(__name__)
LABEL_KINDS = ("margin", "scores")


def check_teacher(teacher_cfg: DictConfig, loss_cfg: DictConfig) -> None:
    """A loss that learns from scores needs a teacher, and a teacher needs such a loss: said before anything loads."""
    labels, has_teacher = loss_cfg.get("labels"), bool(teacher_cfg.get("_target_"))
    if labels is not None and labels not in LABEL_KINDS:
        raise EmbtuneError(f"loss.labels={labels}: a distillation loss learns from {' or '.join(LABEL_KINDS)}.")
    if labels and not has_teacher:
        raise EmbtuneError(
            f"loss={loss_cfg.name} learns from a teacher's scores and teacher=none. Fix: teacher=mpnet (bundled), "
            "teacher=bm25, teacher=hybrid, or teacher=bi_encoder / cross_encoder with teacher.name_or_path=<dir or id>."
        )
    check_fusion(teacher_cfg.get("fusion"), teacher_cfg.get("weight"))
    if has_teacher and not labels:
        raise EmbtuneError(
            f"teacher={teacher_cfg.name} is set and loss={loss_cfg.name} does not learn from scores. Fix: "
            "loss=margin_mse or loss=distill_kl (or teacher=none)."
        )


def build_teacher(teacher_cfg: DictConfig) -> Teacher | None:
    """The configured teacher, or None (teacher=none)."""
    return instantiate(teacher_cfg) if teacher_cfg.get("_target_") else None


def label_rows(
    rows: Dataset, teacher: Teacher, kind: str, corpus: list[str], cache_dir: str | Path
) -> tuple[Dataset, dict[str, Any]]:
    """``rows`` with a ``label`` column from the teacher (``kind``: margin | scores), and what it did."""
    started = time.perf_counter()
    candidates = [c for c in rows.column_names if c != "anchor"]
    if "anchor" not in rows.column_names or candidates[:1] != ["positive"] or len(candidates) < 2:
        raise EmbtuneError(
            f"a teacher labels (anchor, positive, negative...) rows, and these have {rows.column_names}. Fix: "
            "data_format=triplets or data_format=multi_negatives, with mining=bm25 or mining=dense."
        )
    teacher.fit(corpus)
    anchors = list(rows["anchor"])
    queries = [a for _ in candidates for a in anchors]
    docs = [d for c in candidates for d in rows[c]]
    flat, hit = cached_scores(teacher, queries, docs, cache_dir)
    scores = flat.reshape(len(candidates), len(anchors)).T  # row -> [positive, negative_1, ...]
    if kind == "margin":
        margins = scores[:, :1] - scores[:, 1:]
        labels: list[Any] = margins[:, 0].tolist() if margins.shape[1] == 1 else margins.tolist()
    else:
        labels = scores.tolist()
    stats = {
        "teacher": teacher.name,
        "labels": kind,
        "pairs": len(queries),
        "cache_hit": hit,
        "positive_above_negative": round(float(np.mean(scores[:, 0] > scores[:, 1:].max(axis=1))), 4),
        "seconds": round(time.perf_counter() - started, 2),
    }
    cached = " (cached)" if hit else ""
    log.info(
        "teacher %s: %d pairs scored%s in %.1f s; the positive scores above every negative in %.0f%% of rows",
        teacher.name, len(queries), cached, stats["seconds"], 100 * stats["positive_above_negative"],
    )  # fmt: skip
    return rows.add_column("label", labels), stats


def teacher_figures(teacher: Teacher | None, final: Any, metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The teacher's own figures on the evaluation split, beside BM25 and zero-shot: a bi-encoder retrieves with the
    run's evaluator, BM25 is the run's BM25 baseline; a cross-encoder or hybrid ranks no corpus alone here (None)."""
    if teacher is None or final is None:
        return None
    if isinstance(teacher, BiEncoderTeacher):
        from embtune.evaluation.evaluators import evaluate_model

        names = ("query_prompt", "corpus_prompt", "query_prompt_name", "corpus_prompt_name")
        prompts = {k: getattr(final, k) for k in names if hasattr(final, k)}
        for k in prompts:  # the teacher is measured as it scored the pairs: without the student's prompts
            setattr(final, k, None)
        try:
            return {"name": teacher.name, **evaluate_model(teacher.model, final)}
        finally:
            for k, v in prompts.items():
                setattr(final, k, v)
    if isinstance(teacher, BM25Teacher) and "bm25" in metrics:
        return {"name": teacher.name, **metrics["bm25"], "note": "the run's BM25 baseline (evaluator.bm25 settings)"}
    return {"name": teacher.name, "note": "not measured alone: it scores pairs, it ranks no corpus here"}
