"""Which candidate goes on and which ships: each candidate's gain over the base on the same dev queries (paired
bootstrap), the ranking, the promotion to the next rung, and the ship rule (the range's lower end above 0)."""

from __future__ import annotations

from typing import Any

import numpy as np

from embtune.evaluation.per_query import paired_interval
from embtune.search.space import Candidate


def gain(after: dict[str, float], before: dict[str, float], interval: float, n: int, seed: int) -> dict[str, Any]:
    """Mean dev gain over the base on the queries both scored, with its paired-bootstrap range."""
    shared = sorted(set(after) & set(before))
    if not shared:
        return {"dev": None, "gain": None, "low": None, "high": None, "queries": 0}
    bounds = paired_interval(after, before, n, interval, seed)
    assert bounds is not None
    return {
        "dev": float(np.mean([after[q] for q in shared])),
        "gain": float(np.mean([after[q] - before[q] for q in shared])),
        "low": bounds[0],
        "high": bounds[1],
        "queries": len(shared),
    }


def decide(run: dict[str, Any], interval: float) -> tuple[bool, str]:
    """Ship the winner only when the lower end of its dev gain's range is above 0; the reason in one line."""
    low, high, g = run.get("low"), run.get("high"), run.get("gain")
    name, queries = run.get("candidate", "the winner"), run.get("queries", 0)
    if low is not None and low > 0:
        return True, (
            f"shipped '{name}': dev gain {g:+.4f}, {interval:.0%} range [{low:+.4f}..{high:+.4f}] over {queries} "
            "dev queries, lower bound above 0"
        )
    if low is None:
        return False, f"shipped the base: '{name}' has no dev figures to compare with the base"
    return False, (
        f"shipped the base: the best candidate '{name}' gains {g:+.4f} on dev, {interval:.0%} range "
        f"[{low:+.4f}..{high:+.4f}] over {queries} dev queries: the lower bound is not above 0, so dev cannot tell "
        "it from the base"
    )


def ranked(cands: list[Candidate]) -> list[Candidate]:
    """Candidates that finished a run, the furthest rung first, then by dev; the recipe when none did."""

    def best(c: Candidate) -> tuple[int, float]:
        return max((r["rung"], r["dev"]) for r in c.runs if r["dev"] is not None)

    done = [c for c in cands if any(r["dev"] is not None for r in c.runs)]
    return sorted(done, key=best, reverse=True) or cands[:1]


def promote(alive: list[Candidate], rung: int, size: int) -> list[Candidate]:
    """The ``size`` best of ``rung`` by dev (a failed or skipped run never advances); the recipe if none finished."""
    done = [c for c in alive if c.last and c.last["rung"] == rung and c.last["dev"] is not None]
    return sorted(done, key=lambda c: c.last["dev"], reverse=True)[:size] or alive[:1]
