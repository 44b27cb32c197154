"""The advice on paper: advice.json (everything measured), advice.md (the verdict and its evidence) and advice.png
(the learning curve with its forecast band, zero-shot and BM25 as lines), and a console summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from embtune.advice.pilot import predict
from embtune.report.plots import figure
from embtune.run.files import write_json_atomic, write_text_atomic


def write_advice(run_dir: Path, advice: dict[str, Any]) -> None:
    """advice.png, advice.md, then advice.json last (its presence means the advice finished)."""
    plot(advice, run_dir / "advice.png")
    write_text_atomic(run_dir / "advice.md", markdown(advice))
    write_json_atomic(run_dir / "advice.json", advice)


def summary(advice: dict[str, Any]) -> str:
    """A few console lines: verdict, gain, the reasons, the next step."""
    f, r = advice["forecast"], advice["recommendation"]
    lines = [
        f"ADVICE: {r['verdict'].upper()} - {advice['dataset']} with {advice['model_choice']} "
        f"({advice['metric']} on dev)",
        f"  expected gain {f['gain']:+.3f} ({_interval(f)}); zero-shot {f['zero_shot_dev']:.3f}, "
        f"pilot {f['pilot_dev']:.3f}"
        + (
            f", BM25 {advice['signals']['dev']['bm25']:.3f}" if advice["signals"]["dev"].get("bm25") is not None else ""
        ),
    ]
    lines += [f"  {'+' if x['side'] == 'for' else '-'} {x['reason']}" for x in r["reasons"]]
    lines.append(f"  next: {r['next_step']}")
    return "\n".join(lines)


def _interval(f: dict[str, Any]) -> str:
    if not f["interval"]:
        return "no interval: the evaluator keeps no per-query figures"
    lo, hi = f["interval"]
    return f"{f['interval_share']:.0%} interval {lo:+.3f} .. {hi:+.3f}"


def markdown(advice: dict[str, Any]) -> str:
    f, r, s = advice["forecast"], advice["recommendation"], advice["signals"]
    metric = advice["metric"]
    out = [
        f"# Should I fine-tune {advice['model_choice']} on {advice['dataset']}?",
        "",
        f"Model: `{advice['model']}`; data format and loss as configured; {advice['seconds']:.0f} s to advise.",
        "",
        f"**{r['verdict'].upper()}** - expected gain on dev {f['gain']:+.4f} {metric} ({_interval(f)}).",
        "",
        f"Next step: {r['next_step']}.",
        "",
        "## Reasons",
        "",
        *[f"- {'for' if x['side'] == 'for' else 'against'}: {x['reason']}" for x in r["reasons"]],
        "",
        "## Signals",
        "",
        "| signal | value |",
        "|---|---|",
        f"| training examples (after the quality filter) | {s['examples']['kept']} "
        f"({s['examples']['queries']} queries; dropped: {s['examples']['dropped'] or 'none'}) |",
        f"| zero-shot {metric} on dev | {s['dev']['zero_shot']:.4f} |",
        f"| BM25 {metric} on dev | {_num(s['dev'].get('bm25'))} |",
        f"| words split into >= {s['vocabulary']['pieces']} pieces | corpus {s['vocabulary']['corpus_share']:.1%}, "
        f"queries {s['vocabulary']['query_share']:.1%} |",
        f"| query terms found in the positive | {s['overlap']['mean']:.0%} ({s['overlap']['pairs']} pairs) |",
        "",
        "Most frequent words the tokenizer splits: "
        + ", ".join(f"{t['word']} ({' '.join(t['pieces'])})" for t in s["vocabulary"]["top_terms"]),
        "",
        "## Learning-curve pilot",
        "",
        "| share of train | examples | steps | seconds | dev |",
        "|---|---|---|---|---|",
        *[
            f"| {p['fraction']:.0%} | {p['examples']} | {p['steps']} | {p['seconds']:.0f} | {p['dev']:.4f} |"
            for p in advice["pilot"]
        ],
        "",
        f"Fit: dev = {f['fit']['a']:.4f} + {f['fit']['b']:.4f} x log2(examples) (RMS residual "
        f"{f['fit']['residual']:.4f}); per doubling of labeled data {f['per_doubling']:+.4f}; at 2x the examples "
        f"{f['at_double']:.4f}. The full run trains {f['full_run_steps']} steps; the pilot's 100 % point "
        f"{f['pilot_steps']}.",
        "",
        "## Cost of a full run",
        "",
        "| model | s/step | steps | hours | USD | how |",
        "|---|---|---|---|---|---|",
        *[
            f"| {c['model']} | {_num(c.get('seconds_per_step'), 2)} | {c.get('steps', '-')} | "
            f"{_num(c.get('hours'), 3)} | {_num(c.get('usd'), 2)} | {c['how']} |"
            for c in advice["cost"]
        ],
        "",
        "![learning curve](advice.png)",
        "",
    ]
    return "\n".join(out)


def _num(v: float | None, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def plot(advice: dict[str, Any], path: Path) -> None:
    """Dev metric against training examples (log2 axis): pilot points, the fit extended to twice the data with the
    gain interval as a band, zero-shot and BM25 as horizontal lines."""
    import numpy as np

    f, points = advice["forecast"], advice["pilot"]
    xs = [p["examples"] for p in points]
    with figure(path, figsize=(7, 4.2), dpi=110) as (fig, ax):
        grid = np.geomspace(max(min(xs) / 1.5, 1), max(xs) * 2, 50)
        line = np.array([predict(f["fit"], x) for x in grid])
        ax.plot(grid, line, color="C0", lw=1.5, label="fit: a + b log2(examples)")
        if f["interval"]:
            lo, hi = (v - f["gain"] for v in f["interval"])  # the gain's interval, around the fit
            ax.fill_between(
                grid,
                line + lo,
                line + hi,
                color="C0",
                alpha=0.15,
                label=f"{f['interval_share']:.0%} interval (paired bootstrap)",
            )
        ax.plot(xs, [p["dev"] for p in points], "o", color="C0", label="pilot (bounded budget)")
        for x, p in zip(xs, points, strict=True):
            ax.annotate(
                f"{p['dev']:.3f}", (x, p["dev"]), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8
            )
        ax.axhline(f["zero_shot_dev"], color="C2", ls="--", label=f"zero-shot {f['zero_shot_dev']:.3f}")
        if (bm25 := advice["signals"]["dev"].get("bm25")) is not None:
            ax.axhline(bm25, color="C3", ls=":", label=f"BM25 {bm25:.3f}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("training examples (log2)")
        ax.set_ylabel(f"{advice['metric']} on dev")
        ax.set_title(f"{advice['dataset']} / {advice['model_choice']}: {advice['recommendation']['verdict']}")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
