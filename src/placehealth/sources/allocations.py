"""Actual allocations of a resource (a budget, staff hours, sessions) to PCNs, practices or LSOAs.

``placehealth ingest --as allocations FILE`` reads ``level, unit_code, amount`` (optional
``resource`` and ``period`` columns; otherwise the resource is the file's name without its date
and the period ``--period`` or a date in the file name). The fair-share analysis sets these
beside each unit's fair share of the same total.
"""

from __future__ import annotations

import re

import pandas as pd

from placehealth.sources.base import ReadOptions, ReadResult, reader
from placehealth.sources.partners import register_name
from placehealth.sources.validate import (
    InputError,
    SourceFile,
    check_unique,
    read_columns,
    single_value,
    to_numbers,
    unit_codes,
)

PUBLICATION = "Actual allocations of a resource (user file)"
#: Levels an allocation may be made to, with the code each must match.
LEVELS = unit_codes("pcn", "practice", "lsoa", "la")

_COLUMNS = {
    "level": ["level", "unit_level"],
    "unit_code": ["unit_code", "code", "pcn_code", "practice_code", "lsoa_code", "la_code"],
    "amount": ["amount", "actual", "allocation", "value"],
    "resource": ["resource"],
    "period": ["period", "year"],
}


@reader("allocations", PUBLICATION, lambda _source: False,
        example="placehealth ingest --as allocations outreach_sessions_2025-26.csv")
def read_allocations(source: SourceFile, options: ReadOptions) -> ReadResult:
    """``level, unit_code, amount`` -> ``allocations``."""
    frame = read_columns(source, _COLUMNS, mapping=options.mapping,
                         optional=["resource", "period"], layout="allocations").astype(object)
    frame["level"] = frame["level"].astype(str).str.strip().str.lower()
    frame["unit_code"] = frame["unit_code"].astype(str).str.strip().str.upper()
    for line, level, code in frame[["level", "unit_code"]].itertuples():
        if level not in LEVELS:
            raise InputError(source.name, f"unknown level {level!r}", line=int(line),
                             field="level", hint=f"levels: {', '.join(LEVELS)}")
        if not LEVELS[level].match(code):
            raise InputError(source.name, f"{code!r} is not a {level} code", line=int(line),
                             field="unit_code")
    amount = to_numbers(frame, "amount", allow_missing=False)
    negative = amount < 0
    if negative.any():
        line = int(negative[negative].index[0])
        raise InputError(source.name, f"amount {amount[line]} is negative", line=line,
                         field="amount")
    if options.period:
        period = options.period.strip()
    elif "period" in frame:
        period = single_value(frame, "period", "period")
    elif m := re.search(r"(20\d\d[-_]\d\d)", source.name):
        period = m.group(1).replace("_", "-")
    else:
        raise InputError(source.name, "no period: no period column and no date in the file name",
                         line=1, hint="pass --period (e.g. 2025-26)")
    resource = (frame["resource"].astype(str).str.strip() if "resource" in frame
                else register_name(source))
    rows = pd.DataFrame({"period": period, "resource": resource, "level": frame["level"],
                         "unit_code": frame["unit_code"], "amount": amount}, index=frame.index)
    rows.attrs["source"] = source.name
    check_unique(rows, ["resource", "level", "unit_code"], "allocation")
    return ReadResult("allocations", PUBLICATION, period, {"allocations": rows.reset_index(drop=True)})


__all__ = ["LEVELS", "read_allocations"]
