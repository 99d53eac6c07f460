"""Build step: every indicator over every loaded period at every level, as one long table.

``series`` (columns ``tables.SERIES_COLUMNS``) holds, for each level the level registry computes
indicators at (``levels.levels_for("indicators")``), every indicator of the registry
(``indicators.registry``) in every period loaded, by the one computation of
``indicators.values_many`` (numerator and denominator summed from practices, value by
``placehealth.measures``), marked ``source = computed``; and every row of the loaded series
(``series_input``: ``--as series`` files and the COVER quarterly tables) as it was loaded,
marked ``source = loaded``. A loaded series of the same indicator, level, unit and period
replaces the computed one. The evaluation of registered interventions reads this table.
"""

from __future__ import annotations

import warnings

import pandas as pd

from placehealth import levels as lv
from placehealth.indicators import registry, values_many
from placehealth.tables import SERIES_COLUMNS

KEY = ["level", "unit_code", "indicator", "period"]


class SeriesWarning(UserWarning):
    """A level left out of the series (e.g. no practice -> PCN mapping loaded)."""


def computed(store) -> pd.DataFrame:
    """Every registry indicator at every indicator level, in every period (SERIES_COLUMNS)."""
    known = registry(store)
    parts, units = [], {}
    for level in lv.levels_for("indicators"):
        try:
            values = values_many(store, known.values(), level, units=units)
        except LookupError as exc:
            warnings.warn(f"no series at the {level} level: {str(exc).strip(chr(39))}",
                          SeriesWarning, stacklevel=2)
            continue
        if not values.empty:
            parts.append(values.assign(source="computed")[list(SERIES_COLUMNS)])
    return (pd.concat(parts, ignore_index=True) if parts
            else pd.DataFrame(columns=list(SERIES_COLUMNS)))


def build(store) -> dict[str, int]:
    """Write ``series`` (see the module doc); nothing when there is nothing to write."""
    frame = computed(store) if store.has("qof_prevalence") or store.has("uptake") else None
    parts = [] if frame is None or frame.empty else [frame]
    if store.has("series_input"):
        loaded = store.read("series_input").assign(source="loaded")[list(SERIES_COLUMNS)]
        parts = [p.merge(loaded[KEY], on=KEY, how="left", indicator=True)
                 .query("_merge == 'left_only'").drop(columns="_merge") for p in parts]
        parts.append(loaded)
    if not parts:
        return {}
    series = (pd.concat(parts, ignore_index=True)
              .astype({c: "float64" for c in ("numerator", "denominator", "value")})
              .sort_values(["indicator", "level", "unit_code", "period"], ignore_index=True))
    store.replace_table("series", series)
    return {"series": len(series)}
