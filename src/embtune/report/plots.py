"""The one plotting setup: a headless (Agg) figure that is saved atomically when its block ends and always closed,
so a reader (a sweep summary refreshed by parallel jobs, a dashboard) never sees half a PNG."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from embtune.run.files import write_bytes_atomic


@contextmanager
def figure(path: Path, figsize: tuple[float, float], dpi: int = 110) -> Iterator[tuple[Any, Any]]:
    """(fig, ax) to draw on; at the end of the block, tight layout and ``path`` written atomically. An exception in
    the block writes nothing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    try:
        yield fig, ax
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        write_bytes_atomic(Path(path), buffer.getvalue())
    finally:
        plt.close(fig)
