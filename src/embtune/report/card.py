"""The model card carries the proof: model/README.md (sentence-transformers writes one) gains the run's evaluation
table (BM25 / zero-shot / fine-tuned / delta on the test split), the regression deltas, the data (sizes,
fingerprint, quality drops), the recipe and the exact command that reproduces the run."""

from __future__ import annotations

import shlex
from typing import Any

from embtune.run.files import write_text_atomic

SECTION = "## Fine-tuned with embtune: the evidence"
ADAPTER_SHIPPED = {
    "merged": "the adapter merged into the weights (a plain model)",
    "adapter": "the adapter alone; load it with embtune.model.adapters.load_adapter_model (with peft >= 0.22, with "
    "sentence-transformers itself)",
    "both": "merged here, the adapter alone in the run's adapter/",
    "base": "the base model (fine-tuning did not beat it on dev)",
}
SYSTEMS = (("bm25", "BM25"), ("zero_shot", "zero-shot (base)"), ("fine_tuned", "fine-tuned (this model)"))


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "—" if value is None else str(value)


def card_section(
    metrics: dict[str, Any], info: dict[str, Any], recipe: dict[str, Any], command: str = "embtune.train"
) -> str:
    """The Markdown section: one table per block, then data, recipe and the command."""
    main = metrics.get("main_metric")
    keys = [main] + [k for k in ("mrr@10", "map@100", "recall@100") if k != main]
    keys = [k for k in keys if any(k in metrics.get(b, {}) for b, _ in SYSTEMS)]
    lines = [
        SECTION,
        "",
        f"Dataset `{metrics.get('dataset')}`, split `{metrics.get('split')}`; main metric `{main}`.",
        "",
    ]
    lines += ["| system | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for block, label in SYSTEMS:
        if block in metrics:
            lines.append(f"| {label} | " + " | ".join(_fmt(metrics[block].get(k)) for k in keys) + " |")
    delta = metrics.get("delta") or {}
    if delta:
        lines += [
            "",
            "Gain on the main metric: " + ", ".join(f"{k} {v:+.4f}" for k, v in delta.items() if v is not None) + ".",
        ]
    regression = metrics.get("regression") or {}
    if regression:
        lines += ["", "What fine-tuning changed elsewhere (regression sets):", ""]
        lines += ["| set | metric | base | fine-tuned | delta |", "|---|---|---|---|---|"]
        lines += [
            f"| {name} | {r['metric']} | {_fmt(r['zero_shot'])} | {_fmt(r['fine_tuned'])} | {r['delta']:+.5f} |"
            for name, r in regression.items()
        ]
    if "merge" in metrics:
        lines += [
            "",
            f"Shipped as a merge with the base: alpha {metrics['merge']['picked']} ({metrics['merge']['reason']}).",
        ]
    train = metrics.get("train") or {}
    if adapter := train.get("adapter"):
        lines += [
            "",
            f"Trained as a LoRA adapter (peft): r {adapter['r']}, alpha {adapter['alpha']}, on "
            f"{', '.join(adapter['target_modules'])}; {adapter['trainable_parameters']:,} of "
            f"{adapter['total_parameters']:,} parameters trained ({100 * adapter['trainable_share']:.2f}%). "
            f"Shipped: {ADAPTER_SHIPPED.get(adapter.get('shipped'), adapter.get('shipped'))}.",
        ]
    quality = train.get("quality") or {}
    kept = f"{quality.get('kept')} of {quality.get('total')} judgements kept by the quality filter" if quality else None
    facts = [f"{train.get('examples')} training examples" if train.get("examples") is not None else None, kept]
    facts.append(
        f"dataset fingerprint `{info.get('dataset_fingerprint')}`" if info.get("dataset_fingerprint") else None
    )
    lines += [
        "",
        "Data: " + ", ".join(f for f in facts if f) + ".",
        "",
        "Recipe: " + ", ".join(f"{k} `{v}`" for k, v in recipe.items() if v is not None) + ".",
        *(
            [
                f"Shipped: `{train.get('selected')}` (dev {_fmt(train.get('selected_dev_metric'))}); "
                f"{train.get('steps')} steps in {train.get('seconds')} s on `{train.get('device')}`."
            ]
            if train
            else []
        ),
        "",
        "Reproduce:",
        "",
        "```bash",
        reproduce_command(info, command),
        "```",
        "",
    ]
    return "\n".join(lines)


def reproduce_command(info: dict[str, Any], command: str = "embtune.train") -> str:
    """The command that makes this run again (its own overrides, a sweep job's included; secrets redacted), at the
    git commit it ran from."""
    git = info.get("git") or {}
    args = info.get("overrides")
    if args is None:
        args = [a for a in (info.get("argv") or [])[1:] if a not in ("-m", "--multirun")]
    line = " ".join([f"python -m {command}", *(shlex.quote(str(a)) for a in args)])
    commit = git.get("commit")
    return (f"git checkout {commit}  # {'dirty tree' if git.get('dirty') else 'clean tree'}\n" if commit else "") + line


def add_to_card(
    model_dir: Any,
    metrics: dict[str, Any],
    info: dict[str, Any],
    recipe: dict[str, Any],
    command: str = "embtune.train",
) -> None:
    """Append the evidence section to model_dir/README.md (replacing an earlier one, never the rest)."""
    from pathlib import Path

    card = Path(model_dir) / "README.md"
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    if SECTION in text:
        text = text[: text.index(SECTION)].rstrip() + "\n"
    write_text_atomic(card, text.rstrip("\n") + "\n\n" + card_section(metrics, info, recipe, command))
