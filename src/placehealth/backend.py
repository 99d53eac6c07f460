"""The DuckDB backend a store is opened with: Ibis's own, handing a table's rows to pandas whole.

Ibis (12) turns a DuckDB result into pandas a column at a time (a column with a null as a Python
list), then converts every column to the schema's type twice over, each pass building a new
frame. For columns of plain types (numbers, booleans, text) Arrow's own ``Table.to_pandas``
gives the frame Ibis would in one call; so :class:`Backend` hands a table of such columns to
pandas that way, and any other table (dates, times, decimals, nested values, integers all
null...) exactly as Ibis does. A national table read whole: ``registrations_lsoa`` (14.7M rows)
2.8 s against Ibis's 8.1 s, ``prevalence_gap_lsoa`` (6M rows) 2.3 s against 6.1 s
(benchmarks/README.md, "Rows handed to pandas whole"). ``tests/unit/test_backend.py`` checks
the frames equal Ibis's, value and type, for every plain type with and without nulls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
import pyarrow.types as pat
from ibis.backends.duckdb import Backend as IbisDuckDB
from ibis.backends.duckdb.converter import DuckDBPandasData


class Backend(IbisDuckDB):
    """Ibis's DuckDB backend, but a table expression's rows come back through :func:`to_frame`."""

    def execute(self, expr: ir.Expr, /, *, params: Mapping[ir.Scalar, Any] | None = None,
                limit: int | str | None = None, **kwargs: Any) -> pd.DataFrame | pd.Series | Any:
        if not isinstance(expr, ir.Table):
            return super().execute(expr, params=params, limit=limit, **kwargs)
        import pyarrow_hotfix  # noqa: F401  (as Ibis's own execute does)

        rows = self._to_duckdb_relation(expr, params=params, limit=limit, **kwargs).to_arrow_table()
        return to_frame(rows, expr)


def plain(column: pa.ChunkedArray) -> bool:
    """Whether Arrow converts this column as Ibis does: numbers, booleans and text, nulls too
    (NaN in floats, None among booleans, NaN in text; integers with a null become floats),
    except integers that are all null (objects, to Ibis)."""
    kind = column.type
    if pat.is_integer(kind):
        return not len(column) or column.null_count < len(column)
    return (pat.is_floating(kind) or pat.is_boolean(kind) or pat.is_string(kind)
            or pat.is_large_string(kind))


def to_frame(rows: pa.Table, expr: ir.Table) -> pd.DataFrame:
    """``rows`` (the result of ``expr``) as the frame Ibis gives: converted whole by Arrow when
    every column is :func:`plain`, else the way Ibis's ``execute`` does it (its steps, run on
    the rows already fetched)."""
    if all(plain(column) for column in rows.columns):
        return rows.to_pandas(use_threads=False)
    frame = pd.DataFrame({
        name: (column.to_pylist() if pat.is_nested(column.type) or pat.is_dictionary(column.type)
               or column.null_count else column.to_pandas())
        for name, column in zip(rows.column_names, rows.columns, strict=True)})
    frame = DuckDBPandasData.convert_table(frame, expr.as_table().schema())
    return expr.__pandas_result__(frame)
