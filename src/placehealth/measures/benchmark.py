"""Comparison of a value's confidence interval with a benchmark (the Fingertips RAG rating)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from placehealth.measures._limits import require_columns, to_pandas

POLARITIES = {
    None: ("higher", "lower"),
    "high_is_good": ("better", "worse"),
    "low_is_good": ("worse", "better"),
}


def compare_to_benchmark(
    data: Any,
    benchmark: float | str,
    lower_cl: str = "lowercl",
    upper_cl: str = "uppercl",
    polarity: str | None = None,
    output: str = "comparison",
) -> pd.DataFrame:
    """Rate each row against a benchmark from its confidence interval (lower, upper).

    "higher" when lower > benchmark, "lower" when upper < benchmark, else "similar"; with
    ``polarity`` "high_is_good" or "low_is_good" the words are "better" / "worse" / "similar".
    ``benchmark`` is a number (e.g. the England value) or a column of ``data``. Rows with a missing
    limit or benchmark (e.g. suppressed values) get "not compared". The benchmark is taken as a
    point value: the interval is the row's own (Wilson for proportions), not the benchmark's.
    Returns a copy of ``data`` with ``output`` (the rating) and ``benchmark`` columns added.

    Method: OHID Fingertips technical guidance, *Comparing with a benchmark* (confidence interval
    overlap with the benchmark value), as in the Public Health Outcomes Framework RAG ratings.
    """
    if polarity not in POLARITIES:
        raise ValueError(f"compare_to_benchmark: polarity must be one of "
                         f"{[p for p in POLARITIES if p]} or None, not {polarity!r}")
    frame = to_pandas(data, "compare_to_benchmark").copy()
    columns = [lower_cl, upper_cl] + ([benchmark] if isinstance(benchmark, str) else [])
    require_columns(frame, columns, "compare_to_benchmark")
    lower = pd.to_numeric(frame[lower_cl], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    upper = pd.to_numeric(frame[upper_cl], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if isinstance(benchmark, str):
        target = pd.to_numeric(frame[benchmark], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        try:
            target = np.full(len(frame), float(benchmark))
        except (TypeError, ValueError):
            raise ValueError(f"compare_to_benchmark: benchmark {benchmark!r} is neither a number "
                             "nor a column name") from None
    above, below = POLARITIES[polarity]
    with np.errstate(invalid="ignore"):
        rating = np.select([lower > target, upper < target], [above, below], "similar")
    missing = np.isnan(lower) | np.isnan(upper) | np.isnan(target)
    frame[output] = np.where(missing, "not compared", rating)
    if not isinstance(benchmark, str):
        frame["benchmark"] = target
    return frame
