"""Downloads: any table as CSV, Excel or Parquet, always after disclosure control.

CSV and Excel show ``[c]`` in each suppressed cell; every row's ``suppressed_cells`` column names
its suppressed cells. Excel adds a "notes" sheet with the explanation, Parquet keeps numbers
numeric (nulls where suppressed) and carries the explanation in its metadata. CSV stays plain
(no comment lines) so any tool reads it.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from placehealth.outputs.disclosure import explanation, marked
from placehealth.outputs.queries import BadRequest, Data

FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
           "parquet": "application/vnd.apache.parquet"}


def render(frame: pd.DataFrame, fmt: str, *, table: str, note: str) -> bytes:
    """A protected frame as the bytes of a CSV, XLSX or Parquet file."""
    if fmt not in FORMATS:
        raise BadRequest(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return marked(frame).to_csv(index=False).encode("utf-8")
    if fmt == "xlsx":
        buffer = io.BytesIO()
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            marked(frame).to_excel(writer, sheet_name=_sheet(table), index=False)
            pd.DataFrame({"note": [f"Table: {table}", note]}).to_excel(
                writer, sheet_name="notes", index=False)
        return buffer.getvalue()
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}),
                                           b"placehealth.table": table.encode(),
                                           b"placehealth.disclosure": note.encode()})
    buffer = io.BytesIO()
    pq.write_table(arrow, buffer)
    return buffer.getvalue()


def _sheet(table: str) -> str:
    return table[:31] or "data"


def export_table(data: Data, table: str, fmt: str, out: Path | None = None,
                 filters: dict[str, str] | None = None) -> bytes:
    """Export a whole (or filtered) protected table; writes ``out`` when given."""
    frame = data.query(table, filters, limit=0).frame
    payload = render(frame, fmt, table=table, note=explanation(data.policy))
    if out is not None:
        Path(out).write_bytes(payload)
    return payload
