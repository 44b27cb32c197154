"""``make rerun`` / ``make resume`` / ``make eval``: the same as ``python -m embtune.rerun`` (this path is what older
commands and notes name)."""

from __future__ import annotations

from embtune.rerun import cli, hydra_quote, main

__all__ = ["cli", "hydra_quote", "main"]

if __name__ == "__main__":
    cli()
