"""Validation shared by every reader: errors that name file, line and field.

Readers parse a whole file into memory and validate it before the store is touched, so a bad file
can never leave a half-written load behind. Each check raises :class:`InputError`, whose message
says which file, which line (1-based, counting the header), which field, what was found and what
was expected.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import gzip
import hashlib
import io
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

PRACTICE = re.compile(r"^[A-Z]\d{5}$")
PCN = re.compile(r"^U\d{5}$")
LSOA = re.compile(r"^[EW]01\d{6}$")
MSOA = re.compile(r"^[EW]02\d{6}$")
LAD = re.compile(r"^[EWSN]0[6789]\d{6}$")
ONS_CODE = re.compile(r"^[EWSNLM]\d{8}$")
#: The code of a unit of each level that local files name directly, in the order a level is
#: told from a code (a PCN's U12345 also looks like a practice code, so PCN comes first).
UNIT_CODES = {"pcn": PCN, "practice": PRACTICE, "lsoa": LSOA,
              "la": re.compile(r"^E0[6789]\d{6}$"), "utla": re.compile(r"^E(06|08|09|10)\d{6}$")}


def unit_codes(*levels: str) -> dict[str, re.Pattern[str]]:
    """The code patterns of ``levels`` (:data:`UNIT_CODES`), in that order."""
    return {level: UNIT_CODES[level] for level in levels}

#: LSOA-column values that are not English/Welsh LSOAs but are known in NHS England files:
#: no LSOA recorded, closed or empty records, Scottish/NI small areas, Channel Islands, Isle of Man.
UNKNOWN_LSOA = re.compile(r"^(NO20\d\d|EMPTY|CLOSED|UNKNOWN|[LM]99999999|S01\d{6}|N\d{8}|95[A-Z0-9]+)$")


#: The file name a check uses for a frame that does not carry its source; read_file replaces it.
UNNAMED = "input"


class InputError(ValueError):
    """A problem with an input file, with the file, line and field it was found at."""

    def __init__(
        self,
        file: str,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
        row: int | None = None,
    ) -> None:
        self.file, self.line, self.field, self.hint = file, line, field, hint
        self.row = row  # 1-based data row, for files without lines (Parquet)
        self.message = message
        where = file
        if line is not None:
            where += f", line {line}"
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field {field!r}"
        text = f"{where}: {message}"
        if hint:
            text += f"\n  hint: {hint}"
        super().__init__(text)


@dataclass
class SourceFile:
    """A file to be read: its path, a name for messages, its bytes' sha256 and decoded text."""

    path: Path
    text: str
    sha256: str
    warnings: list[str] = field(default_factory=list)
    #: Rows of the original file above ``text`` (title rows skipped), so line numbers stay true.
    line_offset: int = 0
    #: ``text`` as UTF-8 bytes (the file's own, BOM dropped), so the CSV parser need not encode
    #: the text again; None when ``text`` was made otherwise (a workbook's sheet, title rows cut).
    data: bytes | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    def header(self) -> list[str]:
        """The first row's fields, whitespace-normalised (line breaks inside headers become spaces)."""
        cached = self.__dict__.get("_header")
        if cached is None:  # detectors ask often; parse the first row once
            rows = csv.reader(io.StringIO(self.text[:1_000_000]))
            cached = [normalise_name(c) for c in next(rows, [])]
            self.__dict__["_header"] = cached
        return list(cached)

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.name}: {message}")


def normalise_name(name: str) -> str:
    """Collapse whitespace (including line breaks from spreadsheet headers) and strip a BOM."""
    return re.sub(r"\s+", " ", str(name).replace("\ufeff", "")).strip()


def open_source(path: str | Path) -> SourceFile:
    """Read a file (plain or gzipped) as UTF-8 text, rejecting empty and undecodable files."""
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "no such file")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError(path.name, f"gzip data is truncated or corrupt ({exc})") from None
    if raw[:4] == b"PK\x03\x04":  # a zip container: spreadsheets are read by their own readers
        return SourceFile(path, "", digest)
    if not raw or raw.isspace():  # (no 100 MB copy, unlike raw.strip())
        raise InputError(path.name, "the file is empty", hint="check the download finished")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            path.name,
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            line=line,
            hint="official files are UTF-8; re-save as UTF-8 CSV (e.g. iconv -f cp1252 -t utf-8)",
        ) from None
    if "\x00" in text[:4096]:
        raise InputError(path.name, "binary content where a CSV file was expected")
    return SourceFile(path, text, digest, data=raw[3:] if raw[:3] == codecs.BOM_UTF8 else raw)


def read_table(
    source: SourceFile, *, header: bool = True, columns: list[str] | None = None
) -> pd.DataFrame:
    """Parse CSV text into a frame of strings, one row per data line.

    Every value stays a string so that each check can report the original text. A row with the
    wrong number of fields (a truncated or malformed file) is an error naming its line.

    Well-formed files are parsed by Arrow's multi-threaded CSV reader (a 1M-row month in ~2 s);
    anything it will not parse cleanly (ragged rows, blank lines, ...) takes the line-by-line path
    below, which names the offending line.
    """
    fast = _read_table_arrow(source, header=header, columns=columns)
    if fast is not None:
        return fast
    reader = csv.reader(io.StringIO(source.text))
    rows = list(reader)
    if header:
        if not rows:
            raise InputError(source.name, "the file is empty")
        names = [normalise_name(c) for c in rows[0]]
        body = rows[1:]
        first_line = 2 + source.line_offset
    else:
        names = columns or [str(i) for i in range(len(rows[0]) if rows else 0)]
        body = rows
        first_line = 1 + source.line_offset
    # Drop fully blank trailing lines (common in exports), then insist on rectangular rows.
    while body and not any(cell.strip() for cell in body[-1]):
        body.pop()
    if not body:
        raise InputError(source.name, "the file has a header but no data rows")
    width = len(names)
    for i, row in enumerate(body):
        if len(row) != width:
            if not any(cell.strip() for cell in row):
                raise InputError(source.name, "blank line inside the data", line=first_line + i)
            what = "truncated" if i == len(body) - 1 and len(row) < width else "malformed"
            raise InputError(
                source.name,
                f"row has {len(row)} fields, the header has {width} (file {what}?)",
                line=first_line + i,
            )
    frame = pd.DataFrame(body, columns=names, dtype=object)
    frame.index = pd.RangeIndex(first_line, first_line + len(frame))  # index = line number
    frame.attrs["source"] = source.name
    return frame


def _read_table_arrow(
    source: SourceFile, *, header: bool, columns: list[str] | None
) -> pd.DataFrame | None:
    """The fast path of :func:`read_table`: a frame of Arrow-backed strings, or None when the
    file needs the careful line-by-line path (ragged rows, blank or whitespace-only rows,
    nothing but a header)."""
    first = next(csv.reader(io.StringIO(source.text[:1_000_000])), None)
    if not first:
        return None
    width = len(first)
    data = source.data if source.data is not None else source.text.encode("utf-8")
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, block_size=1 << 24),
            # a line break inside a value needs quotes: without any, the reader may split
            # blocks at every line break (a third faster)
            parse_options=pacsv.ParseOptions(newlines_in_values=b'"' in data,
                                             ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(width)},
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_columns != width or table.num_rows < (2 if header else 1):
        return None
    if header:
        names = [normalise_name(c) for c in first]
        table = table.slice(1)
        first_line = 2 + source.line_offset
    else:
        names = columns or [str(i) for i in range(width)]
        first_line = 1 + source.line_offset
    if len(names) != width:
        return None
    # Rows of only blanks or commas (trailing exports, blank lines) need the careful path.
    last = [str(table.column(i)[table.num_rows - 1]) for i in range(width)]
    if not any(cell.strip() for cell in last):
        return None
    as_str = {pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get
    frame = pd.DataFrame({i: table.column(i).to_pandas(types_mapper=as_str)
                          for i in range(width)})
    frame.columns = names
    frame.index = pd.RangeIndex(first_line, first_line + len(frame))  # index = line number
    frame.attrs["source"] = source.name
    return frame


def resolve_columns(
    frame: pd.DataFrame,
    wanted: Mapping[str, Iterable[str]],
    *,
    mapping: Mapping[str, str] | None = None,
    optional: Iterable[str] = (),
    layout: str = "",
) -> pd.DataFrame:
    """Select and rename columns to canonical names.

    ``wanted`` maps each canonical name to the source names that may hold it (official spellings,
    compared case- and whitespace-insensitively). ``mapping`` (from ``--map canonical=source``)
    overrides them. A missing required column is an error that lists the columns found and the
    nearest match.
    """
    source = frame.attrs.get("source", UNNAMED)
    mapping = dict(mapping or {})
    optional = set(optional)
    by_key = {column_key(c): c for c in frame.columns}
    out: dict[str, pd.Series] = {}
    for canonical, names in wanted.items():
        candidates = [mapping[canonical]] if canonical in mapping else list(names)
        found = next((by_key[column_key(n)] for n in candidates if column_key(n) in by_key), None)
        if found is None:
            if canonical in optional and canonical not in mapping:
                continue
            near = difflib.get_close_matches(candidates[0], list(frame.columns), n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            hint += f"use --map {canonical}=YOUR_COLUMN to name it"
            raise InputError(
                source,
                f"missing column {candidates[0]!r}{' for ' + layout if layout else ''}; "
                f"found: {', '.join(frame.columns)}",
                line=1,
                field=candidates[0],
                hint=hint,
            )
        out[canonical] = frame[found]
    result = pd.DataFrame(out, index=frame.index)
    result.attrs.update(frame.attrs)
    return result


def read_columns(source: SourceFile, wanted: Mapping[str, Iterable[str]], *,
                 mapping: Mapping[str, str] | None = None, optional: Iterable[str] = (),
                 layout: str = "", raw: pd.DataFrame | None = None) -> pd.DataFrame:
    """A file's rows (:func:`read_table`, or ``raw`` when already read) with the columns
    ``wanted`` picked out and renamed (:func:`resolve_columns`), remembering their file
    (``attrs["source"]``) for the errors that name it."""
    frame = resolve_columns(read_table(source) if raw is None else raw, wanted, mapping=mapping,
                            optional=optional, layout=layout)
    frame.attrs["source"] = source.name
    return frame


def column_key(name: str) -> str:
    """A column name for matching: lower case, without spaces, underscores or hyphens."""
    return re.sub(r"[\s_\-]+", "", normalise_name(name).lower())


def is_arrow_text(series: pd.Series) -> bool:
    """Whether a column is text held by Arrow (the readers' fast paths take only these)."""
    return isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow"


def only_values(series: pd.Series, allowed: list[str]) -> bool:
    """Whether an Arrow-backed text column holds nothing but ``allowed`` (exactly); False for
    any other column (then a reader takes its careful path)."""
    if not is_arrow_text(series):
        return False
    chunks = series.array.__arrow_array__()
    return not chunks.null_count and bool(pc.all(pc.is_in(chunks, pa.array(allowed))).as_py()
                                          if len(chunks) else True)


def distinct(series: pd.Series) -> tuple[pd.Series, np.ndarray] | None:
    """The distinct values of an Arrow-backed text column without missing values (a Series of
    the same dtype, in order of first appearance) and each row's position among them; None for
    any other column. A check or a change made value by value (a regex, strip, upper) is then
    made once per distinct value (a month's 1.2M LSOA rows hold ~40,000) and taken back to the
    rows: the same pandas string methods on the same dtype, so the same answers."""
    if not is_arrow_text(series):
        return None
    chunks = series.array.__arrow_array__()  # immutable: a changed column is a new array
    remembered = _DISTINCT.columns
    hit = remembered.get(id(chunks))
    if hit is None or hit[0] is not chunks:
        if chunks.null_count:
            return None
        encoded = pc.dictionary_encode(chunks.combine_chunks())
        hit = (chunks, encoded.dictionary, encoded.indices.to_numpy(zero_copy_only=False))
        while len(remembered) >= 8:
            remembered.pop(next(iter(remembered)), None)
        remembered[id(chunks)] = hit
    return pd.Series(pd.array(hit[1], dtype=series.dtype)), hit[2]


class _Remembered(threading.local):
    """The last few columns :func:`distinct` encoded (a reader asks several checks of one
    column), by the identity of their Arrow data; :func:`forget_distinct` empties it after each
    file. One per thread: a file may be read in one thread while another reads the next
    (:func:`placehealth.sources.read_ahead`)."""

    def __init__(self) -> None:
        self.columns: dict[int, tuple[pa.ChunkedArray, pa.Array, np.ndarray]] = {}


_DISTINCT = _Remembered()


def forget_distinct() -> None:
    """Let go of the columns :func:`distinct` remembered in this thread (called when a file has
    been read)."""
    _DISTINCT.columns.clear()


def per_row(values: pd.Series, positions: np.ndarray, index: pd.Index) -> pd.Series:
    """A result computed once per distinct value (:func:`distinct`), for every row."""
    if is_arrow_text(values):
        taken = pa.array(values).take(pa.array(positions))
        return pd.Series(pd.array(taken, dtype=values.dtype), index=index)
    return pd.Series(values.to_numpy()[positions], index=index)


def _codes_ok(series: pd.Series, pattern: re.Pattern[str], allow: re.Pattern[str] | None) -> bool:
    """Fast path of :func:`check_codes`: every distinct value already stripped and matching
    (then the column stays as it is); False sends the column the careful way."""
    found = distinct(series)
    if found is None:
        return False
    values = found[0]
    stripped = values.astype(str).str.strip()
    ok = stripped.str.match(pattern)
    if allow is not None:
        ok |= stripped.str.match(allow)
    return bool(ok.all()) and bool((stripped == values).all())


def check_codes(
    frame: pd.DataFrame, column: str, pattern: re.Pattern[str], what: str,
    *, allow: re.Pattern[str] | None = None,
) -> None:
    """Every value of ``column`` must match ``pattern`` (or ``allow``); else name the first bad row."""
    if _codes_ok(frame[column], pattern, allow):
        return
    values = frame[column].astype(str).str.strip()
    ok = values.str.match(pattern)
    if allow is not None:
        ok |= values.str.match(allow)
    if not ok.all():
        bad = ok[~ok].index
        line = int(bad[0])
        more = f" ({len(bad) - 1} more rows like it)" if len(bad) > 1 else ""
        raise InputError(
            frame.attrs.get("source", UNNAMED),
            f"{what} code {values[line]!r} does not match {pattern.pattern}{more}",
            line=line,
            field=column,
        )
    frame[column] = values


def to_counts(frame: pd.DataFrame, column: str, *, allow_missing: bool = False) -> pd.Series:
    """Parse non-negative whole counts (thousands separators allowed); name the first bad row."""
    fast = plain_counts(frame[column])
    if fast is not None:
        return fast
    text = frame[column].astype(str).str.strip().str.replace(",", "", regex=False)
    missing = text.isin(["", "nan", "None", "NA", "*", "c", "x", "z", "-"])
    number = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = (~missing & number.isna()) | (number < 0) | (number.notna() & (number % 1 != 0))
    if not allow_missing:
        bad |= missing
    if bad.any():
        line = int(bad[bad].index[0])
        value = frame.loc[line, column]
        reason = "missing" if missing[line] else "not a non-negative whole number"
        raise InputError(
            frame.attrs.get("source", UNNAMED),
            f"count {value!r} is {reason}",
            line=line,
            field=column,
        )
    return number.astype("Int64")


def plain_counts(series: pd.Series) -> pd.Series | None:
    """Fast path of :func:`to_counts` (and of readers parsing many count columns) for Arrow-backed text of plain digits; None when any value
    needs the careful path (separators, decimals, blanks, suppression marks, negatives)."""
    if not is_arrow_text(series):
        return None
    try:
        numbers = pc.cast(pc.utf8_trim_whitespace(pa.array(series)), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    if numbers.null_count or (len(numbers) and pc.min(numbers).as_py() < 0):
        return None
    return pd.Series(pd.array(numbers.to_numpy(), dtype="Int64"), index=series.index)


def to_numbers(frame: pd.DataFrame, column: str, *, allow_missing: bool = True) -> pd.Series:
    """Parse decimal numbers (thousands separators allowed); name the first unparseable row."""
    text = frame[column].astype(str).str.strip().str.replace(",", "", regex=False)
    missing = text.isin(["", "nan", "None", "NA", "*", "c", "x", "z", "-", ".."])
    number = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = ~missing & number.isna()
    if not allow_missing:
        bad |= missing
    if bad.any():
        line = int(bad[bad].index[0])
        raise InputError(
            frame.attrs.get("source", UNNAMED),
            f"value {frame.loc[line, column]!r} is not a number",
            line=line,
            field=column,
        )
    return number.astype("float64")


def _unique_fast(frame: pd.DataFrame, keys: list[str]) -> bool:
    """Fast path of :func:`check_unique` for keys of Arrow-backed text without missing values
    and of integers: each key's values numbered (Arrow's dictionary encoding), the numbers
    combined into one integer per row; True when no two rows share it (else the careful way)."""
    combined = np.zeros(len(frame), dtype=np.int64)
    size = 1
    for key in keys:
        series = frame[key]
        if series.dtype.kind in "iu" and isinstance(series.dtype, np.dtype):
            codes, uniques = pd.factorize(series.to_numpy())
        else:
            found = distinct(series)
            if found is None:
                return False
            uniques, codes = found
        size *= max(len(uniques), 1)
        if size >= 2**62:
            return False
        combined = combined * max(len(uniques), 1) + codes
    return not pd.Series(combined).duplicated().any()


def check_unique(frame: pd.DataFrame, keys: list[str], what: str = "row") -> None:
    """No two rows may share ``keys``; name both lines of the first duplicate."""
    if len(frame) > 1000 and _unique_fast(frame, keys):
        return
    dup = frame.duplicated(subset=keys, keep=False)
    if dup.any():
        lines = list(frame.index[dup])
        first = frame.loc[lines[0], keys]
        twin = next(x for x in lines[1:] if (frame.loc[x, keys] == first).all())
        label = ", ".join(f"{k}={frame.loc[lines[0], k]}" for k in keys)
        raise InputError(
            frame.attrs.get("source", UNNAMED),
            f"duplicate {what} ({label}) also at line {lines[0]}",
            line=int(twin),
            field=keys[-1],
        )


def single_value(frame: pd.DataFrame, column: str, what: str = "period") -> str:
    """The one value a column may hold (e.g. the extract date); mixed values are an error."""
    series = frame[column]
    if len(series) and is_arrow_text(series) and not series.array.__arrow_array__().null_count:
        low, high = pc.min_max(series.array.__arrow_array__()).values()
        if low == high:  # one value throughout (no hashing of a million dates)
            return series.iloc[:1].astype(str).str.strip().iloc[0]
    values = series.astype(str).str.strip()
    first = values.iloc[0]
    other = values != first
    if other.any():
        line = int(other[other].index[0])
        raise InputError(
            frame.attrs.get("source", UNNAMED),
            f"mixed {what}s in one file: {values[line]!r} here, {first!r} on line "
            f"{int(values.index[0])}",
            line=line,
            field=column,
            hint="split the file by period; each load holds one period",
        )
    return first


_MONTHS = {m: i for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)}


def month_period(text: str, *, file: str = "input", line: int | None = None,
                 field: str | None = None) -> str:
    """Turn an extract date (01APR2020, 01Oct2025, 2020-04-01, 2020-04) into 'YYYY-MM'."""
    value = str(text).strip()
    m = re.fullmatch(r"(\d{1,2})([A-Za-z]{3})(\d{4})", value)
    if m and m.group(2).upper() in _MONTHS:
        return f"{m.group(3)}-{_MONTHS[m.group(2).upper()]:02d}"
    m = re.fullmatch(r"(\d{4})-(\d{2})(?:-\d{2})?", value)
    if m and 1 <= int(m.group(2)) <= 12:
        return f"{m.group(1)}-{m.group(2)}"
    m = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", value)
    if m and 1 <= int(m.group(2)) <= 12:
        return f"{m.group(3)}-{m.group(2)}"
    raise InputError(file, f"{value!r} is not a date (expected e.g. 01APR2020 or 2020-04)",
                     line=line, field=field)


def year_period(text: str, *, file: str = "input") -> str:
    """Normalise a financial year ('2020/21', '2020-21', '202021') to 'YYYY-YY'."""
    value = str(text).strip()
    m = re.fullmatch(r"(\d{4})\s*[-/]?\s*(\d{2})", value)
    if m and (int(m.group(1)) + 1) % 100 == int(m.group(2)):
        return f"{m.group(1)}-{m.group(2)}"
    raise InputError(file, f"{value!r} is not a financial year (expected e.g. 2020-21)")


def null_if_blank(series: pd.Series) -> pd.Series:
    """Blank strings become missing values."""
    if isinstance(series.dtype, pd.StringDtype):  # vectorised path for Arrow-backed strings
        s = series.str.strip()
        return s.astype(object).where(s.notna() & (s != ""), None)
    s = series.astype(object).map(lambda v: v.strip() if isinstance(v, str) else v)
    return s.where(~s.isin(["", None]) & s.notna(), None)


__all__ = [
    "LAD", "LSOA", "MSOA", "ONS_CODE", "PCN", "PRACTICE", "UNKNOWN_LSOA",
    "InputError", "SourceFile", "check_codes", "check_unique", "distinct", "forget_distinct", "is_arrow_text",
    "month_period",
    "normalise_name", "null_if_blank", "only_values", "open_source", "per_row", "plain_counts", "read_table", "resolve_columns",
    "single_value", "to_counts", "to_numbers", "year_period",
]
