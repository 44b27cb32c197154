"""Read users' data files record by record, refusing what would load wrong: every problem names file and line.

Real exports are messy: Latin-1 or UTF-16 text, Excel's byte-order mark, a bare ``"`` opening a quoted field
that swallows the following rows, a stray delimiter, booleans or NaN where a score belongs. Each is either read
as the user meant it or stopped with one line saying how to fix the file.

Text rule, the same for every reader (JSONL, CSV / TSV, Parquet; pair files, BEIR corpus / queries / qrels, STS
TSVs; the Hub's BEIR rows too): every column name and every text value of a record (a JSON line's top-level
fields) must be Unicode that UTF-8 can write, and hold no NUL character. A lone surrogate (JSON's escaped
``"\\udcff"`` without its pair, which ``json`` accepts), a NUL (raw in a CSV line, raw or escaped ``"\\u0000"`` in
JSON, in a Parquet string) or a Parquet string that is not UTF-8 is refused with file:line and the column, whether
or not a loader uses that column: such text breaks hashing, tokenizers and every file written from it, and is never
silently cut or dropped.

Files are named as they are: the type comes from the suffix, ``.jsonl`` / ``.json``, ``.csv``, ``.tsv``, any of
them gzip-compressed (``train.jsonl.gz``, ``.csv.gz``, ``.tsv.gz``), and ``.parquet`` (with any codec inside). A
path is read as given, never swapped for a compressed or uncompressed sibling (a missing file's error names the
sibling it found). A truncated or corrupt ``.gz`` is one error naming the file and the last line read.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from embtune.errors import EmbtuneError

QUOTING = ("auto", "csv", "none")
_UTF16_32_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}
# other compressions a data file may come in: named, refused with the command that converts them
_OTHER_COMPRESSIONS = {".bz2": "bzip2 -dc", ".xz": "xz -dc", ".zst": "zstd -dc", ".lz4": "lz4 -dc", ".zip": "unzip -p"}
_CR_TO_LF = "tr '\\r' '\\n'"
# an escape in a JSON line that can decode to NUL or to half of a surrogate pair: only such lines need the text check
_JSON_RISKY_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _show(text: str) -> str:
    """``text`` safe to print: NUL and lone surrogates as backslash escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _fix_command(path: Path, filter_cmd: str) -> str:
    """A shell line that runs ``filter_cmd`` over the file's text into ``fixed.<suffix>`` (gzip kept gzip)."""
    if path.suffix.lower() == ".gz":
        return f"gzip -dc '{path}' | {filter_cmd} | gzip > fixed{''.join(path.suffixes[-2:])}"
    return f"{filter_cmd} < '{path}' > fixed{path.suffix}"


_NUL_WHY = "text must hold no NUL (a sign of binary data or a broken export)"
_SURROGATE_WHY = (
    "half of a UTF-16 pair is not text UTF-8 can write (in JSON: an escape like \\udcff without its pair, from text "
    "cut inside an emoji or bytes decoded with surrogateescape)"
)


def text_problem(text: str) -> str | None:
    """What breaks the text rule in ``text`` (a NUL, a lone surrogate) and why it matters; None when nothing."""
    nul = text.find("\x00")
    if nul >= 0:
        return f"a NUL character (at character {nul + 1}): {_NUL_WHY}"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            return f"a lone surrogate {_show(text[e.start])} (at character {e.start + 1}): {_SURROGATE_WHY}"
    return None


def check_text(record: dict, where: str) -> None:
    """Refuse a record whose column names or text values break the text rule (module docstring), naming the
    column; ``where`` is ``file:line`` (or ``repo [split] row n``)."""
    for key, value in record.items():
        problem = text_problem(key) if isinstance(key, str) else None
        if problem:
            raise EmbtuneError(f"{where}: the column name '{_show(key)}' holds {problem}. Fix: rename the column.")
        problem = text_problem(value) if isinstance(value, str) else None
        if problem:
            raise EmbtuneError(
                f"{where}: column '{_show(key)}' holds {problem}. Fix: remove or repair it in the file (or the tool "
                "that exported it)."
            )


def _not_found(path: Path) -> EmbtuneError:
    """A missing data file; names the compressed (or uncompressed) sibling when there is one."""
    if path.suffix.lower() == ".gz":
        siblings = [path.with_suffix("")]
    else:
        siblings = [path.with_name(path.name + s) for s in (".gz", *_OTHER_COMPRESSIONS)]
    found = next((s for s in siblings if s.is_file()), None)
    hint = (
        f" {found.name} is next to it: files are read as named, so name that one in the dataset config."
        if found
        else ""
    )
    return EmbtuneError(f"data file not found: {path}. Check the path (paths.data_dir / dataset config).{hint}")


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")


def _read_failure(path: Path, error: BaseException, last_line: int) -> EmbtuneError:
    """A file that stopped being readable part-way (truncated / corrupt gzip, an I/O error): one line."""
    after = f"after line {last_line}" if last_line else "in its first line"
    if isinstance(error, EOFError):
        return EmbtuneError(
            f"{path}: the gzip file is truncated: it ends {after}, before gzip's end-of-stream marker. Fix: copy "
            f"or download it again (gzip -t '{path}' checks a .gz file)."
        )
    if isinstance(error, gzip.BadGzipFile | zlib.error):
        first = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        return EmbtuneError(
            f"{path}: not a readable gzip file ({first}, {after}). Fix: copy or download it again (gzip -t "
            f"'{path}' checks it), or, if it is not compressed, name it without .gz."
        )
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return EmbtuneError(f"{path}: can't be read ({reason}, {after}). Fix: check the file's permissions and the disk.")


def _decode_line(raw: bytes, path: Path, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise EmbtuneError(
            f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1}). "
            f"Fix: re-save the file as UTF-8, e.g. {_fix_command(path, 'iconv -f latin1 -t utf-8')}"
        ) from None


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file, gzip-compressed when it ends in ``.gz`` (a UTF-8 byte-order mark is
    dropped; other encodings are refused)."""
    if not path.is_file():
        raise _not_found(path)
    lineno = 0
    try:
        with _open_binary(path) as f:
            head = f.read(4)
            for bom, name in _UTF16_32_BOMS.items():
                if head.startswith(bom):
                    raise EmbtuneError(
                        f"{path}:1: the file is {name} text (byte-order mark {bom.hex()}), not UTF-8. "
                        f"Fix: re-save it as UTF-8, e.g. {_fix_command(path, f'iconv -f {name} -t utf-8')}"
                    )
            if head.startswith(b"\x1f\x8b") and path.suffix.lower() != ".gz":
                raise EmbtuneError(
                    f"{path}: the file is gzip-compressed, but its name does not end in .gz (the suffix says how a "
                    f"file is read). Fix: rename it to {path.name}.gz"
                )
            f.seek(0)
            sample = f.readline(1 << 16)  # a first line (or 64 KiB) without LF: no line ends in LF
            if b"\r" in sample and b"\n" not in sample:
                raise EmbtuneError(
                    f"{path}: lines end in CR only (old Mac line endings). Fix: convert them to LF, e.g. "
                    + _fix_command(path, _CR_TO_LF)
                )
            f.seek(0)
            for lineno, raw in enumerate(f, start=1):  # noqa: B007 - lineno is read after the loop on failure
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                yield lineno, _decode_line(raw, path, lineno)
    except (EOFError, OSError, zlib.error) as e:
        raise _read_failure(path, e, lineno) from None


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) from a JSONL file (``.gz`` too); a bad line raises an error naming file and
    line, and so does text breaking the text rule (module docstring)."""
    path = Path(path)
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        if "\x00" in line:
            _refuse_raw_nul(line, where)
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise EmbtuneError(
                f"{where}: not valid JSON ({e.msg} at column {e.colno}). Each line must be one JSON object."
            ) from None
        if not isinstance(obj, dict):
            raise EmbtuneError(f"{where}: expected a JSON object, got {type(obj).__name__}.")
        if _JSON_RISKY_ESCAPE.search(line):  # NUL or a surrogate can only come from an escape (raw NUL: above)
            check_text(obj, where)
        yield lineno, obj


def _refuse_raw_nul(line: str, where: str) -> None:
    """A raw NUL in a JSON line: named by its field when the line parses with the NUL escaped."""
    try:
        obj = json.loads(line.replace("\x00", "\\u0000"))
    except json.JSONDecodeError:
        obj = None
    if isinstance(obj, dict):
        check_text(obj, where)  # raises, naming the column (a NUL in a nested value: the column that holds it)
        for key, value in obj.items():
            if "\\u0000" in json.dumps(value):
                raise EmbtuneError(f"{where}: column '{_show(key)}' holds a NUL character: {_NUL_WHY}. " + _NUL_FIX)
    raise EmbtuneError(f"{where}: a NUL character (at column {line.index(chr(0)) + 1}): {_NUL_WHY}. " + _NUL_FIX)


_NUL_FIX = "Fix: remove it in the file (or the tool that exported it)."


def read_delimited(path: Path, delimiter: str, quoting: str = "auto") -> Iterator[tuple[int, dict]]:
    """(first line of the record, record) from a CSV / TSV file with a header row (``.gz`` too).

    ``quoting``: ``csv`` reads quotes as the csv module writes them (a field may span lines); ``none`` takes
    quotes as plain text; ``auto`` reads them as ``csv`` but refuses a record spanning several lines, which in
    data exported without quoting is a bare ``"`` swallowing the rows after it. A NUL in a field is refused
    (the text rule, module docstring).
    """
    if quoting not in QUOTING:
        raise EmbtuneError(f"dataset.source.quoting={quoting!r}: choose one of {', '.join(QUOTING)}.")
    kind = "TSV" if delimiter == "\t" else "CSV"
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
                if any("\x00" in f for f in fields):
                    check_text(dict.fromkeys(fields, ""), f"{path}:{start}")
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
            record = dict(zip(header, fields, strict=True))
            if any("\x00" in f for f in fields):  # UTF-8 decoding already refused anything else
                check_text(record, f"{path}:{start}")
            yield start, record
    except csv.Error as e:
        start = consumed + 1
        raise EmbtuneError(
            f"{path}:{start}: a quote the {kind} reader can't place ({e}): "
            'a field starting with " is read as a quoted field. Fix: if the quotes are plain text, set '
            'dataset.source.quoting=none; else quote the field as CSV does ("say ""hi""").'
        ) from None


def read_parquet(path: Path) -> Iterator[tuple[int, dict]]:
    """(row number, record) from a Parquet file, batch by batch (any codec pyarrow reads); text breaking the text
    rule, a string that is not UTF-8 included, is refused with the row and column."""
    import pyarrow.parquet as pq

    def unreadable(e: Exception) -> EmbtuneError:
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        return EmbtuneError(f"{path}: not a readable Parquet file ({first}). Fix: write the file again.")

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=4096)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a broken file
        raise unreadable(e) from None
    row, batch = 0, None
    while True:
        try:
            batch = next(batches, None)
            records = batch.to_pylist() if batch is not None else []
        except UnicodeDecodeError:
            raise _parquet_bad_utf8(path, batch, row) from None
        except Exception as e:  # noqa: BLE001
            raise unreadable(e) from None
        if batch is None:
            return
        for record in records:
            row += 1
            check_text(record, f"{path}:{row}")
            yield row, record


def _parquet_bad_utf8(path: Path, batch, first_row: int) -> EmbtuneError:  # noqa: ANN001 - a pyarrow RecordBatch
    """The row and column of a Parquet string that is not UTF-8 (found value by value in the failing batch)."""
    for name, column in zip(batch.schema.names, batch.columns, strict=True) if batch is not None else ():
        for i in range(len(column)):
            try:
                column[i].as_py()
            except UnicodeDecodeError as e:
                return EmbtuneError(
                    f"{path}:{first_row + i + 1}: column '{_show(name)}' is not UTF-8 text ({e.reason} at byte "
                    f"{e.start + 1}). Fix: write the column as UTF-8 strings (or drop it) when exporting."
                )
    return EmbtuneError(f"{path}: a string that is not UTF-8 text. Fix: write the strings as UTF-8 when exporting.")


def read_records(path: str | Path, quoting: str = "auto") -> Iterator[tuple[int, dict]]:
    """(line number, record) from a JSONL, CSV, TSV (each maybe ``.gz``) or Parquet file, by suffix; line numbers
    as an editor shows (Parquet: row numbers from 1)."""
    path = Path(path)
    if not path.is_file():
        raise _not_found(path)
    suffixes = [s.lower() for s in path.suffixes]
    compressed = suffixes[-1:] == [".gz"]
    kind = (suffixes[-2] if len(suffixes) > 1 else "") if compressed else (suffixes[-1] if suffixes else "")
    if suffixes and suffixes[-1] in _OTHER_COMPRESSIONS:
        inner = path.with_suffix("").name
        raise EmbtuneError(
            f"{path}: {suffixes[-1]} compression is not read (gzip is, and Parquet's own codecs). Fix: recompress "
            f"it as gzip, e.g. {_OTHER_COMPRESSIONS[suffixes[-1]]} '{path}' | gzip > {inner}.gz"
        )
    if kind in (".jsonl", ".json"):
        yield from read_jsonl(path)
    elif kind in (".csv", ".tsv"):
        yield from read_delimited(path, "\t" if kind == ".tsv" else ",", quoting)
    elif kind == ".parquet" and not compressed:
        yield from read_parquet(path)
    elif kind == ".parquet":
        raise EmbtuneError(
            f"{path}: a gzipped Parquet file. Parquet compresses inside the file: gunzip it and name the .parquet."
        )
    else:
        raise EmbtuneError(
            f"{path}: unknown file type '{''.join(path.suffixes[-2:] if compressed else path.suffixes[-1:])}'. Use "
            ".jsonl, .csv, .tsv (each also gzipped: .jsonl.gz, ...) or .parquet."
        )


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
