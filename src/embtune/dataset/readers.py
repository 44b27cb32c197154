"""Read users' data files record by record, refusing what would load wrong: every problem names file and line.

Real exports are messy: Latin-1 or UTF-16 text, Excel's byte-order mark, a bare ``"`` opening a quoted field
that swallows the following rows, a stray delimiter, booleans or NaN where a score belongs. Each is either read
as the user meant it or stopped with one line saying how to fix the file.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path

from embtune.errors import EmbtuneError

QUOTING = ("auto", "csv", "none")
_UTF16_32_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


def _decode_line(raw: bytes, path: Path, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise EmbtuneError(
            f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1}). "
            f"Fix: re-save the file as UTF-8, e.g. iconv -f latin1 -t utf-8 '{path}' > fixed{path.suffix}"
        ) from None


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file (a UTF-8 byte-order mark is dropped; other encodings are refused)."""
    if not path.is_file():
        raise EmbtuneError(f"data file not found: {path}. Check the path (paths.data_dir / dataset config).")
    with path.open("rb") as f:
        head = f.read(4)
        for bom, name in _UTF16_32_BOMS.items():
            if head.startswith(bom):
                raise EmbtuneError(
                    f"{path}:1: the file is {name} text (byte-order mark {bom.hex()}), not UTF-8. "
                    f"Fix: re-save it as UTF-8, e.g. iconv -f {name} -t utf-8 '{path}' > fixed{path.suffix}"
                )
        f.seek(0)
        sample = f.read(1 << 16)
        if b"\r" in sample and b"\n" not in sample:
            raise EmbtuneError(
                f"{path}: lines end in CR only (old Mac line endings). Fix: convert them to LF, e.g. "
                f"tr '\\r' '\\n' < '{path}' > fixed{path.suffix}"
            )
        f.seek(0)
        for lineno, raw in enumerate(f, start=1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            yield lineno, _decode_line(raw, path, lineno)


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) from a JSONL file; a bad line raises an error naming file and line."""
    path = Path(path)
    for lineno, line in read_lines(path):
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


def read_delimited(path: Path, delimiter: str, quoting: str = "auto") -> Iterator[tuple[int, dict]]:
    """(first line of the record, record) from a CSV / TSV file with a header row.

    ``quoting``: ``csv`` reads quotes as the csv module writes them (a field may span lines); ``none`` takes
    quotes as plain text; ``auto`` reads them as ``csv`` but refuses a record spanning several lines, which in
    data exported without quoting is a bare ``"`` swallowing the rows after it.
    """
    if quoting not in QUOTING:
        raise EmbtuneError(f"dataset.source.quoting={quoting!r}: choose one of {', '.join(QUOTING)}.")
    # read_lines numbers every line 1..N, so csv's own count of lines read (line_num) is the line number
    lines = (text for _, text in read_lines(path))

    # strict: a quote inside an unquoted field, or text after a closing quote, is an error, not silently dropped
    reader = csv.reader(
        lines, delimiter=delimiter, quoting=csv.QUOTE_NONE if quoting == "none" else csv.QUOTE_MINIMAL, strict=True
    )
    header: list[str] | None = None
    consumed = 0
    try:
        for fields in reader:
            start, end = consumed + 1, reader.line_num
            consumed = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if quoting == "auto" and end > start:
                raise EmbtuneError(
                    f"{path}:{start}-{end}: one field spans {end - start + 1} lines: a field starting with a bare "
                    '" opens a quoted field that swallows the rows after it. Fix: if the quotes are plain text, '
                    "set dataset.source.quoting=none; if multi-line fields are intended, dataset.source.quoting=csv."
                )
            if header is None:
                header = [h.strip() for h in fields]
                dupes = sorted({h for h in header if header.count(h) > 1})
                if dupes or not all(header):
                    raise EmbtuneError(
                        f"{path}:{start}: the header row needs unique, non-empty column names "
                        f"(got {header}). Fix the header line."
                    )
                continue
            if len(fields) != len(header):
                raise EmbtuneError(
                    f"{path}:{start}: {len(fields)} fields, but the header has {len(header)} ({', '.join(header)}). "
                    f"A stray {'tab' if delimiter == chr(9) else repr(delimiter)} or a missing one? Fix the line "
                    "(or quote fields that contain the delimiter)."
                )
            yield start, dict(zip(header, fields, strict=True))
    except csv.Error as e:
        start = consumed + 1
        raise EmbtuneError(
            f"{path}:{start}: a quote the {path.suffix[1:].upper()} reader can't place ({e}): "
            'a field starting with " is read as a quoted field. Fix: if the quotes are plain text, set '
            'dataset.source.quoting=none; else quote the field as CSV does ("say ""hi""").'
        ) from None


def read_records(path: str | Path, quoting: str = "auto") -> Iterator[tuple[int, dict]]:
    """(line number, record) from a JSONL, CSV, TSV or Parquet file (by suffix); line numbers as an editor shows."""
    path = Path(path)
    if not path.is_file():
        raise EmbtuneError(f"data file not found: {path}. Check the path (paths.data_dir / dataset config).")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        yield from read_jsonl(path)
    elif suffix in (".csv", ".tsv"):
        yield from read_delimited(path, "\t" if suffix == ".tsv" else ",", quoting)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a broken file
            raise EmbtuneError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0][:200]}).") from None
        yield from enumerate(table.to_pylist(), start=1)
    else:
        raise EmbtuneError(f"{path}: unknown file type '{suffix}'. Use .jsonl, .csv, .tsv or .parquet.")


def require_text(obj: dict, key: str, path: Path, lineno: int) -> str:
    """A non-empty string field; missing or non-text names the columns found and the fix."""
    if key not in obj:
        raise EmbtuneError(
            f"{path}:{lineno}: missing column '{key}' (columns found: {', '.join(sorted(map(str, obj))) or 'none'}). "
            "Rename the field or map it in the dataset config."
        )
    value = obj[key]
    if not isinstance(value, str) or not value.strip():
        raise EmbtuneError(f"{path}:{lineno}: column '{key}' must be a non-empty string, got {value!r}.")
    return value


def require_field(obj: dict, key: str, path: Path, lineno: int) -> object:
    if key not in obj:
        raise EmbtuneError(
            f"{path}:{lineno}: missing column '{key}' (columns found: {', '.join(sorted(map(str, obj))) or 'none'})."
        )
    return obj[key]


def require_score(obj: dict, key: str, path: Path, lineno: int, low: float = 0.0, high: float = 1.0) -> float:
    """A finite number in [low, high]: booleans, NaN, infinities and text are refused."""
    value = obj[key]
    if isinstance(value, bool):
        raise EmbtuneError(
            f"{path}:{lineno}: column '{key}' must be a number, got {json.dumps(value)} (a boolean). "
            "Fix: write the score as a number, or name the column 'label' for 0/1 labels."
        )
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise EmbtuneError(f"{path}:{lineno}: column '{key}' must be a number, got {value!r}.") from None
    if not math.isfinite(score):
        raise EmbtuneError(f"{path}:{lineno}: column '{key}' must be a finite number, got {value!r}.")
    if not low <= score <= high:
        raise EmbtuneError(
            f"{path}:{lineno}: column '{key}' = {score} is outside [{low}, {high}]. Rescale the scores "
            "(e.g. divide 0-5 STS scores by 5)."
        )
    return score


def require_label(obj: dict, key: str, path: Path, lineno: int) -> int:
    """A 0/1 label: 0, 1, "0", "1", 0.0, 1.0, true or false."""
    value = obj[key]
    text = str(value).strip().lower()
    if isinstance(value, bool) or text in ("true", "false"):
        return int(text == "true")
    try:
        label = float(text)
    except ValueError:
        label = math.nan
    if label not in (0.0, 1.0):
        raise EmbtuneError(
            f"{path}:{lineno}: column '{key}' must be a 0/1 label, got {value!r}. "
            "Fix: use 1 (relevant / duplicate) and 0, or name the column 'score' for graded scores in [0, 1]."
        )
    return int(label)
