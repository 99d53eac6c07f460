"""The one number formatter of every output: CLI, web pages and reports.

Each kind of number is written one way everywhere:

- **count** (patients, registers, list sizes, people to reach a target): a whole number with
  thousands separators, ``13,370``;
- **percent** (a share already on the 0-100 scale, the ``*_pct`` columns): one decimal and a
  percent sign, ``72.8%``;
- **fraction** (a share on the 0-1 scale, e.g. uptake): shown as a percentage, ``0.171 -> 17.1%``;
- **ratio** (recorded / expected and its limits, coterminosity): two decimals, ``0.87``;
- **estimate** (modelled numbers of people: expected registers, missing patients): two significant
  figures, whole numbers, ``452.7 -> 450`` (a model's estimate bears no more: its confidence
  interval is far wider than the rounding);
- **score** (IMD scores, distances): one decimal;
- **number** (anything else): three significant figures below 10 (a slope of 0.0043 is not 0.00),
  one decimal below 1,000, whole numbers above. In a table column, one number of decimals for the
  whole column (:func:`column_kind`): enough for three significant figures of its typical value,
  so ``1.05, 1.8, 0.95`` reads ``1.05, 1.80, 0.95``.

A suppressed cell is written :data:`MARK` (``[c]``) whatever its kind; a missing one as ``""``
(tables) or the ``missing`` text given.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from placehealth.outputs.disclosure import MARK, SUPPRESSED

KINDS = ("count", "percent", "fraction", "ratio", "estimate", "score", "number", "text")

_COUNT_NAMES = {"patients", "list_size", "register", "observed", "numerator", "denominator",
                "residents", "population", "practices", "pcns", "lsoas", "lsoas_50", "lsoas_80",
                "lsoas_95", "core20_observed", "rest_observed", "rank", "people_behind"}
_ESTIMATE_NAMES = {"expected", "missing", "missing_lowercl", "missing_uppercl", "core20_expected",
                   "rest_expected"}
_FRACTION_NAMES = {"uptake", "target", "gap"}
_RATIO_NAMES = {"coterminosity"}


def _plain(value: Any) -> Any:
    """numpy scalars as Python values; NaN, NA and None as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _number(value: Any) -> float | None:
    value = _plain(value)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def count(value: Any, missing: str = "") -> str:
    """A count: whole, with thousands separators (``13,370``)."""
    v = _number(value)
    return missing if v is None else f"{round(v):,}"


def percent(value: Any, digits: int = 1, sign: bool = True, missing: str = "") -> str:
    """A share on the 0-100 scale (``72.8%``)."""
    v = _number(value)
    if v is None:
        return missing
    return f"{v:,.{digits}f}" + ("%" if sign else "")


def fraction(value: Any, digits: int = 1, sign: bool = True, missing: str = "") -> str:
    """A share on the 0-1 scale, shown as a percentage (``0.171 -> 17.1%``)."""
    v = _number(value)
    return missing if v is None else percent(v * 100, digits, sign)


def ratio(value: Any, missing: str = "") -> str:
    """A ratio such as recorded / expected prevalence: two decimals (``0.87``)."""
    v = _number(value)
    return missing if v is None else f"{v:.2f}"


def significant(value: float, figures: int = 2) -> float:
    """``value`` rounded to ``figures`` significant figures, never finer than a whole number."""
    if value == 0 or not math.isfinite(value):
        return value
    digits = figures - 1 - math.floor(math.log10(abs(value)))
    return float(round(value, min(digits, 0)))


def estimate(value: Any, figures: int = 2, missing: str = "") -> str:
    """A modelled number of people: two significant figures, whole (``452.7 -> 450``, ``-217 ->
    -220``, ``6.4 -> 6``)."""
    v = _number(value)
    if v is None:
        return missing
    rounded = significant(v, figures)
    return f"{round(rounded):,}" if rounded != 0 else "0"


def score(value: Any, missing: str = "") -> str:
    """A score or distance: one decimal (``27.4``)."""
    v = _number(value)
    return missing if v is None else f"{v:,.1f}"


def number(value: Any, missing: str = "") -> str:
    """Any other number: three significant figures below 10, one decimal below 1,000, whole above;
    whole values of 100 or more as whole numbers."""
    value = _plain(value)
    if value is None:
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, float):
        return str(value)
    if value.is_integer() and abs(value) >= 100:
        return f"{int(value):,}"
    if value == 0:
        return "0"
    if abs(value) < 10:
        text = f"{value:.3g}"
        return text if "e" not in text else f"{value:.2e}"
    return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"


def fixed(value: Any, digits: int, missing: str = "") -> str:
    """A number with exactly ``digits`` decimals (``0.3 -> 0.300`` at 3)."""
    v = _number(value)
    return missing if v is None else f"{v:,.{digits}f}"


#: Decimals a column of numbers may get: never more than this.
MAX_DECIMALS = 3


def column_kind(values: pd.Series, kind: str | None = None) -> str | None:
    """The kind a table column is written in: its kind (given, or from its name), except that a
    column of plain non-whole numbers gets one number of decimals (``fixedN``) for every row:
    enough for three significant figures of its median size, at most :data:`MAX_DECIMALS`."""
    kind = kind or kind_of(str(values.name) if values.name is not None else None)
    if kind != "number" or not pd.api.types.is_float_dtype(values):
        return kind
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    v = np.abs(v[np.isfinite(v)])
    if not len(v):
        return kind
    if np.all(v == np.round(v)):
        return "fixed0"
    typical = float(np.median(v[v > 0])) if (v > 0).any() else 1.0
    digits = min(max(2 - math.floor(math.log10(typical)), 0), MAX_DECIMALS)
    return f"fixed{digits}"


def kind_of(column: str | None) -> str:
    """The kind of number a column holds, from its name (see the module docstring)."""
    if not column:
        return "number"
    name = column.lower()
    if name in _COUNT_NAMES:
        return "count"
    if name in _ESTIMATE_NAMES:
        return "estimate"
    if name in _FRACTION_NAMES:
        return "fraction"
    if name.endswith("_pct") or name.startswith("pct_") or name.endswith("_share_pct"):
        return "percent"
    if name in _RATIO_NAMES or re.fullmatch(r"ratio(_\w+)?", name) or name.endswith("_ratio"):
        return "ratio"
    if name.endswith("_score") or name in {"imd_score", "distance"}:
        return "score"
    return "number"


_BY_KIND = {"count": count, "percent": percent, "fraction": fraction, "ratio": ratio,
            "estimate": estimate, "score": score, "number": number}


def cell(value: Any, column: str | None = None, *, kind: str | None = None, suppressed: bool = False,
         missing: str = "") -> str:
    """One value as text: ``[c]`` when suppressed, ``missing`` when absent, else by its kind
    (given, or from the column name). Booleans read yes/no; text is left as it is."""
    if suppressed or (isinstance(value, str) and value == MARK):
        return MARK
    value = _plain(value)
    if value is None:
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    kind = kind or kind_of(column)
    if kind == "text":
        return str(value)
    if kind.startswith("fixed") and kind[5:].isdigit():
        return fixed(value, int(kind[5:]), missing=missing)
    if kind not in _BY_KIND:
        raise ValueError(f"unknown number kind {kind!r}; known: {', '.join(KINDS)}")
    return _BY_KIND[kind](value, missing=missing)


def text_frame(frame: pd.DataFrame, kinds: dict[str, str] | None = None,
               missing: str = "") -> pd.DataFrame:
    """A protected frame as text for printing: every cell formatted by its column's kind, every
    cell named in the row's ``suppressed_cells`` shown as ``[c]``. The ``suppressed_cells`` column
    itself is kept as it is (it names cells, it is not a number)."""
    kinds = kinds or {}
    hidden = (frame[SUPPRESSED].fillna("").astype(str).tolist() if SUPPRESSED in frame
              else [""] * len(frame))
    hidden_sets = [set(h.split(",")) if h else set() for h in hidden]
    out = {}
    for column in frame.columns:
        if column == SUPPRESSED:
            out[column] = hidden
            continue
        kind = kinds.get(column)
        numeric = pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column])
        if kind is None and not numeric:
            kind = "text" if frame[column].map(lambda v: isinstance(v, str) or _plain(v) is None).all() \
                else None
        if numeric:
            kind = column_kind(frame[column], kind)
        out[column] = [cell(v, column, kind=kind, suppressed=column in h, missing=missing)
                       for v, h in zip(frame[column].tolist(), hidden_sets, strict=True)]
    return pd.DataFrame(out, index=frame.index, columns=list(frame.columns))
