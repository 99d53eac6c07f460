"""Excel workbooks and files with title rows, turned into the CSV text every reader reads.

Publishers issue the same tables as CSV and as XLSX, often with title and notes rows above the
header. :func:`as_table_text` gives a reader the chosen sheet (``--sheet``, default the first
holding data) from its header row on (``--skip-rows N`` drops the N rows above it), as CSV text
whose line numbers are the spreadsheet's rows, so errors still point at the right row.
Spreadsheet-native readers (the ODS ePCN workbook) read the workbook itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import replace

from placehealth.sources.validate import InputError, SourceFile


def is_workbook(source: SourceFile) -> bool:
    """An Office Open XML workbook (a zip container with an .xlsx/.xlsm name)."""
    return source.text == "" and source.path.suffix.lower() in (".xlsx", ".xlsm")


def _cell(value: object) -> str:
    """A cell as the text a CSV export would hold: whole numbers without '.0', dates ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def sheet_rows(source: SourceFile, sheet: str | None) -> list[list[str]]:
    """The rows of ``sheet`` (default: the first sheet holding any value) as text."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(source.path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        raise InputError(source.name, f"not a readable Excel workbook ({exc})") from None
    try:
        names = list(book.sheetnames)
        if sheet is not None and sheet not in names:
            raise InputError(source.name, f"no sheet {sheet!r}", field="--sheet",
                             hint=f"sheets: {', '.join(names)}")
        for name in [sheet] if sheet is not None else names:
            rows = [[_cell(v) for v in row] for row in book[name].iter_rows(values_only=True)]
            if any(any(cell.strip() for cell in row) for row in rows):
                return rows
        raise InputError(source.name, f"sheet {sheet!r} is empty" if sheet else
                         "every sheet is empty", field="--sheet" if sheet else None)
    finally:
        book.close()


def as_table_text(source: SourceFile, sheet: str | None = None, skip_rows: int = 0
                  ) -> SourceFile:
    """``source`` with its text starting at the header row: a workbook's sheet as CSV text,
    and ``skip_rows`` title rows dropped from either. Blank rows and columns at the end go."""
    if skip_rows < 0:
        raise InputError(source.name, f"--skip-rows {skip_rows}: must be 0 or more")
    if is_workbook(source):
        rows = sheet_rows(source, sheet)
    elif sheet is not None:
        raise InputError(source.name, "--sheet applies to Excel workbooks (.xlsx) only",
                         field="--sheet")
    elif skip_rows:
        rows = list(csv.reader(io.StringIO(source.text)))
    else:
        return source
    rows = rows[skip_rows:]
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
    if not rows:
        raise InputError(source.name, f"nothing left after skipping {skip_rows} rows",
                         field="--skip-rows")
    width = max((i + 1 for row in rows for i, cell in enumerate(row) if cell.strip()), default=0)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(
        row[:width] + [""] * (width - len(row[:width])) for row in rows)
    return replace(source, text=out.getvalue(), line_offset=skip_rows, warnings=source.warnings,
                   data=None)


__all__ = ["as_table_text", "is_workbook", "sheet_rows"]
