"""Travel-time matrices: minutes from neighbourhoods to partners, LSOAs or the nearest service.

One reader, ``travel-times`` (``placehealth ingest --as travel-times FILE``), two layouts:

- a long matrix ``origin, destination, minutes`` (optional ``mode``): origins are LSOA codes,
  destinations partner ids or LSOA codes, as routing tools (r5r, OpenTripPlanner, a council's
  GIS) write them;
- the DfT *Journey time statistics* tables by LSOA (JTS05xx: ``LSOA_code`` and columns such as
  ``GPPTt``, ``GPCyct``, ``GPCart``, ``GPWalkt``: minutes to the nearest GP by public transport
  or walking, cycle, car, walk; DfT, *Journey time statistics: notes and definitions*). Each is
  read as origin = the LSOA, destination ``nearest:KIND`` (``nearest:gp_site`` for GPs), mode
  ``pt``, ``cycle``, ``car`` or ``walk``.

The matrix is named after the file (its stem without dates) and kept beside other matrices.
"""

from __future__ import annotations

import re

import pandas as pd

from placehealth.sources.base import ReadOptions, ReadResult, reader
from placehealth.sources.partners import register_name
from placehealth.sources.postcodes import name_key
from placehealth.sources.validate import (
    LSOA,
    InputError,
    SourceFile,
    check_codes,
    check_unique,
    null_if_blank,
    read_table,
    resolve_columns,
    to_numbers,
)

PUBLICATION = "Travel-time matrix (origin LSOA, destination, minutes)"
PUBLICATION_JTS = "DfT Journey time statistics by LSOA (JTS05)"

#: DfT JTS service prefixes -> the destination kind they measure the nearest of.
JTS_SERVICES = {"gp": "gp_site", "ps": "primary_school", "ss": "secondary_school",
                "fe": "further_education", "hosp": "hospital", "food": "food_store",
                "town": "town_centre", "100emp": "employment_100", "500emp": "employment_500",
                "5000emp": "employment_5000"}
JTS_MODES = {"pt": "pt", "cyc": "cycle", "car": "car", "walk": "walk"}
_JTS_COLUMN = re.compile(r"^(gp|ps|ss|fe|hosp|food|town|100emp|500emp|5000emp)(pt|cyc|car|walk)t$",
                         re.IGNORECASE)

_COLUMNS = {
    "origin": ["origin", "from", "origin_id", "o", "lsoa_code", "from_id"],
    "destination": ["destination", "to", "destination_id", "d", "site_id", "to_id"],
    "minutes": ["minutes", "travel_time", "time", "duration", "cost", "travel_time_p50"],
    "mode": ["mode"],
}


def _is_jts(source: SourceFile) -> bool:
    header = source.header()
    return (any(name_key(h) == "lsoacode" for h in header)
            and any(_JTS_COLUMN.match(h.strip()) for h in header))


def _jts(raw: pd.DataFrame, source: SourceFile, matrix: str) -> pd.DataFrame:
    code = next(c for c in raw.columns if name_key(c) == "lsoacode")
    times = [c for c in raw.columns if _JTS_COLUMN.match(c.strip())]
    frame = raw[[code, *times]].rename(columns={code: "origin"})
    frame.attrs["source"] = source.name
    check_codes(frame, "origin", LSOA, "LSOA")
    check_unique(frame, ["origin"], "LSOA")
    parts = []
    for column in times:
        m = _JTS_COLUMN.match(column.strip())
        minutes = to_numbers(frame, column)
        parts.append(pd.DataFrame({
            "matrix": matrix, "mode": JTS_MODES[m.group(2).lower()], "origin": frame["origin"],
            "destination": "nearest:" + JTS_SERVICES[m.group(1).lower()], "minutes": minutes}))
    return pd.concat(parts, ignore_index=True)


def _long(raw: pd.DataFrame, source: SourceFile, options: ReadOptions, matrix: str) -> pd.DataFrame:
    frame = resolve_columns(raw, _COLUMNS, mapping=options.mapping, optional=["mode"],
                            layout="a travel-time matrix (origin, destination, minutes)")
    check_codes(frame, "origin", LSOA, "origin LSOA")
    frame["destination"] = frame["destination"].astype(str).str.strip()
    blank = frame["destination"] == ""
    if blank.any():
        raise InputError(source.name, "destination is blank", line=int(blank[blank].index[0]),
                         field="destination")
    mode = (null_if_blank(frame["mode"]).fillna("any").astype(str).str.lower()
            if "mode" in frame else "any")
    out = pd.DataFrame({"matrix": matrix, "mode": mode, "origin": frame["origin"],
                        "destination": frame["destination"],
                        "minutes": to_numbers(frame, "minutes", allow_missing=False)},
                       index=frame.index)
    negative = out["minutes"] < 0
    if negative.any():
        line = int(negative[negative].index[0])
        raise InputError(source.name, f"minutes {out.loc[line, 'minutes']} is negative",
                         line=line, field="minutes")
    out.attrs["source"] = source.name
    check_unique(out, ["mode", "origin", "destination"], "origin-destination pair")
    return out.reset_index(drop=True)


@reader("travel-times", PUBLICATION, _is_jts,
        example="placehealth ingest --as travel-times times_to_partners.csv")
def read_travel_times(source: SourceFile, options: ReadOptions) -> ReadResult:
    """A travel-time matrix or a DfT JTS05 table -> ``travel_times``."""
    raw = read_table(source)
    matrix = register_name(source)
    jts = _is_jts(source)
    rows = _jts(raw, source, matrix) if jts else _long(raw, source, options, matrix)
    period = options.period or ""
    return ReadResult("travel-times", PUBLICATION_JTS if jts else PUBLICATION, period or matrix,
                      {"travel_times": rows})


__all__ = ["JTS_MODES", "JTS_SERVICES", "read_travel_times"]
