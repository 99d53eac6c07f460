"""Indicators are data, not code: one declarative registry, one computation for every level.

An :class:`Indicator` says where its numerator and denominator come from (a table of the store,
the columns, the rows to keep), how the value is computed (``proportion`` with a Wilson interval,
``rate`` with Byar/exact Poisson limits, ``ratio`` of observed to expected counts with the same
Poisson limits), its multiplier, its polarity and the publication it comes from. The registry is
generated from what the store holds:

- QOF recorded prevalence for every disease group in ``qof_prevalence`` (titles from
  ``qof_indicators``): register / list size of the group's list type, per 100;
- uptake from the ``uptake`` table, one indicator per programme item and age cohort;
- any further definitions in a TOML file (``[[indicator]]`` tables with the same fields).

:func:`indicator_values` aggregates numerator and denominator from practices to any level the
level registry reports indicators at (``levels.levels_for("indicators")``: practice, pcn,
sub_icb, icb, region, england and user-defined groups) inside the backend, through
``levels.practice_units``, and computes the value and limits once, with ``placehealth.measures``.
"""

from __future__ import annotations

import os
import re
import tomllib
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from placehealth import levels as lv
from placehealth.measures.proportions import proportion
from placehealth.measures.rates import rate
from placehealth.store import to_engine

METHODS = ("proportion", "rate", "ratio")
POLARITIES = ("high_is_good", "low_is_good", "none")
#: Levels an indicator built from practice rows can be computed at (from the level registry).
PRACTICE_LEVELS = lv.levels_for("indicators")

VALUE_COLUMNS = ["indicator", "level", "unit_code", "unit_name", "period", "numerator",
                 "denominator", "practices", "value", "lowercl", "uppercl", "confidence",
                 "statistic", "method"]


class IndicatorWarning(UserWarning):
    """Source rows that cannot enter an indicator (e.g. a register larger than its list)."""


@dataclass(frozen=True)
class Indicator:
    """A declarative indicator definition (see the module docstring and docs/DATA.md)."""

    name: str
    title: str
    source_table: str
    numerator: str
    denominator: str
    method: str = "proportion"
    multiplier: float = 100.0
    polarity: str = "none"
    publication: str = ""
    filters: Mapping[str, Any] = field(default_factory=dict)
    unit_column: str = "practice_code"
    unit_level: str = "practice"
    levels: tuple[str, ...] = PRACTICE_LEVELS
    description: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9_]+", self.name):
            raise ValueError(f"indicator name {self.name!r}: use lower-case letters, digits, _")
        if self.method not in METHODS:
            raise ValueError(f"indicator {self.name}: method {self.method!r} not one of {METHODS}")
        if self.polarity not in POLARITIES:
            raise ValueError(f"indicator {self.name}: polarity {self.polarity!r} not one of "
                             f"{POLARITIES}")
        if not self.multiplier or self.multiplier <= 0:
            raise ValueError(f"indicator {self.name}: multiplier must be > 0")

    def supports(self, level: str) -> bool:
        return level in self.levels

    def as_row(self) -> dict[str, Any]:
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        row["filters"] = ";".join(f"{k}={v}" for k, v in self.filters.items())
        row["levels"] = ",".join(self.levels)
        return row


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


# ------------------------------------------------------------------------------ the registry

QOF_PUBLICATION = "NHS England, Quality and Outcomes Framework (prevalence)"


def qof_indicators(store) -> list[Indicator]:
    """Recorded prevalence (register / list size x 100) for every QOF group in the store."""
    if not store.has("qof_prevalence"):
        return []
    t = store.table("qof_prevalence")
    groups = t.select("group_code", "list_type").distinct().to_pandas()
    titles: dict[str, str] = {}
    if store.has("qof_indicators"):
        mapping = store.table("qof_indicators").select("group_code", "group_description")
        for row in mapping.distinct().to_pandas().dropna().itertuples():
            titles.setdefault(row.group_code, row.group_description)
    out = []
    for group, frame in groups.groupby("group_code", sort=True):
        list_types = sorted(frame["list_type"].dropna().unique())
        ages = "" if list_types in (["TOTAL"], []) else f", patients {'/'.join(list_types)}"
        title = titles.get(group, group)
        out.append(Indicator(
            name=f"qof_{_slug(group)}_prevalence",
            title=f"{title} recorded prevalence (QOF {group}{ages})",
            source_table="qof_prevalence", numerator="register", denominator="list_size",
            method="proportion", multiplier=100.0, polarity="none",
            publication=QOF_PUBLICATION, filters={"group_code": group},
            description="Patients on the QOF register as a percentage of the practice list "
            "(the list type's age group). Recorded, not true, prevalence: low values can mean "
            "undiagnosed need.",
        ))
    return out


def uptake_indicators(store) -> list[Indicator]:
    """Uptake (numerator / denominator x 100) per programme item and age cohort in ``uptake``."""
    if not store.has("uptake"):
        return []
    items = (store.table("uptake").select("indicator", "age", "area_level").distinct()
             .to_pandas())
    out = []
    for (item, age), frame in items.groupby(["indicator", "age"], sort=True):
        levels = set(frame["area_level"])
        unit_level = "practice" if "practice" in levels else sorted(levels)[0]
        if unit_level not in PRACTICE_LEVELS:
            continue
        age_part = "" if age in (None, "all") else f" at {age}"
        out.append(Indicator(
            name=_slug(f"uptake_{item}_{'' if age in (None, 'all') else age}"),
            title=f"{item} uptake{age_part}",
            source_table="uptake", numerator="numerator", denominator="denominator",
            method="proportion", multiplier=100.0, polarity="high_is_good",
            publication="Uptake (e.g. UKHSA COVER)",
            filters={"indicator": item, "age": age, "area_level": unit_level},
            unit_column="area_code", unit_level=unit_level,
            levels=PRACTICE_LEVELS if unit_level == "practice" else (unit_level,),
            description=f"People reached by {item}{age_part} as a percentage of those eligible.",
        ))
    return out


def load_definitions(path: str | Path) -> list[Indicator]:
    """Indicator definitions from a TOML file: ``[[indicator]]`` tables with Indicator's fields.

    Example::

        [[indicator]]
        name = "qof_hyp_prevalence_18ov"
        title = "Hypertension register per 100 adults"
        source_table = "qof_prevalence"
        numerator = "register"
        denominator = "list_size"
        filters = { group_code = "HYP" }
        polarity = "none"
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    known = {f.name for f in fields(Indicator)}
    out = []
    for i, entry in enumerate(data.get("indicator", []), start=1):
        unknown = set(entry) - known
        if unknown:
            raise ValueError(f"{path}: indicator #{i}: unknown field(s) {sorted(unknown)}; "
                             f"known: {sorted(known)}")
        missing = {"name", "title", "source_table", "numerator", "denominator"} - set(entry)
        if missing:
            raise ValueError(f"{path}: indicator #{i}: missing field(s) {sorted(missing)}")
        if "levels" in entry:
            entry = entry | {"levels": tuple(entry["levels"])}
        try:
            out.append(Indicator(**entry))
        except ValueError as exc:
            raise ValueError(f"{path}: indicator #{i}: {exc}") from None
    return out


ENV_DEFINITIONS = "PLACEHEALTH_INDICATORS"


def registry(store, extra: Iterable[str | Path] = ()) -> dict[str, Indicator]:
    """Every indicator the store can compute: QOF, uptake, then definitions from TOML files
    (``extra``, and the files listed in ``$PLACEHEALTH_INDICATORS``, separated by the path
    separator, so ``placehealth build`` picks them up). A later definition of a name wins."""
    env = os.environ.get(ENV_DEFINITIONS, "")
    extra = [*extra, *(p for p in env.split(os.pathsep) if p.strip())]
    found: dict[str, Indicator] = {}
    for indicator in [*qof_indicators(store), *uptake_indicators(store),
                      *(d for p in extra for d in load_definitions(p))]:
        found[indicator.name] = indicator
    return found


def registry_frame(indicators: Mapping[str, Indicator]) -> pd.DataFrame:
    """The registry as a table (written to the store as ``indicators``)."""
    return pd.DataFrame([i.as_row() for i in indicators.values()])


# ------------------------------------------------------------------------------ computing values


def units_for(store, level: str, period: str) -> pd.DataFrame:
    """practice_code -> unit_code, unit_name at ``level`` in ``period`` (levels.practice_units)."""
    return lv.practice_units(store, level, period)[["practice_code", "unit_code", "unit_name"]]


def indicator_values(
    store,
    indicator: Indicator | str,
    level: str,
    period: str | Iterable[str] | None = None,
    *,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """The indicator for every unit of ``level`` (and period): counts, value and limits.

    One computation for every level (:func:`values_many` with one indicator): practice rows are
    mapped to units by ``levels.practice_units(store, level, period)``, numerators and
    denominators summed, and the value computed by ``placehealth.measures`` (proportion: Wilson;
    rate and ratio: exact Poisson below 10 events, Byar from 10 — a ratio is observed / expected
    counts, so its limits are the count's Poisson limits divided by the expected count). Returns
    the columns ``VALUE_COLUMNS``; ``practices`` counts the source units summed into each unit.
    """
    if isinstance(indicator, str):
        known = registry(store)
        if indicator not in known:
            raise KeyError(f"unknown indicator {indicator!r}; known: {', '.join(sorted(known))}")
        indicator = known[indicator]
    if not indicator.supports(level):
        raise ValueError(f"indicator {indicator.name} is not available at level {level!r} "
                         f"(levels: {', '.join(indicator.levels)})")
    periods = [period] if isinstance(period, str) else (list(period) if period else None)
    values = values_many(store, [indicator], level, confidence=confidence)
    if periods:
        values = values[values["period"].isin(periods)].reset_index(drop=True)
    return values


def values_many(store, indicators: Iterable[Indicator], level: str, *, units: dict | None = None,
                confidence: float = 0.95) -> pd.DataFrame:
    """Every indicator in ``indicators`` (those available at ``level``) for every unit and period.

    ``units``: a dict kept by the caller and filled with each level and period's membership, so
    a build reads each once.
    """
    indicators = {i.name: i for i in indicators if i.supports(level)}
    summed, names = unit_counts(store, indicators.values(), level, units)
    return _finish(summed, names, indicators, level, confidence)


def _finish(summed: pd.DataFrame, names: pd.Series, indicators: Mapping[str, Indicator],
            level: str, confidence: float) -> pd.DataFrame:
    """Values and limits from unit sums (indicator, unit_code, period, numerator, ...)."""
    summed = summed[summed["denominator"] > 0]
    if summed.empty:
        return pd.DataFrame(columns=VALUE_COLUMNS)
    summed = summed.assign(unit_name=summed["unit_code"].map(names) if len(names) else None)
    out = []
    for name, frame in summed.groupby("indicator", sort=True, observed=True):
        out.append(compute(frame.reset_index(drop=True), indicators[name], confidence=confidence))
    values = pd.concat(out, ignore_index=True)
    values["level"] = level
    return values[VALUE_COLUMNS].sort_values(["indicator", "period", "unit_code"],
                                             ignore_index=True)


def _members(store, level: str, periods: list[str], units: dict | None) -> pd.DataFrame:
    """practice_code -> unit for each period (period, practice_code, unit_code, unit_name)."""
    units = {} if units is None else units
    parts = []
    for p in periods:
        if (level, p) not in units:
            # periods served by the same practice -> PCN mapping share one membership
            chosen = lv.mapping_period_quiet(store, p) if level != "practice" else None
            shared = (level, "mapping", chosen)
            if chosen is not None and shared in units:
                units[(level, p)] = units[shared]
            else:
                units[(level, p)] = units_for(store, level, p)
                if chosen is not None:
                    units[shared] = units[(level, p)]
        parts.append(units[(level, p)].assign(period=p))
    return pd.concat(parts, ignore_index=True)


def unit_counts(store, indicators: Iterable[Indicator], level: str, units: dict | None = None
                ) -> tuple[pd.DataFrame, pd.Series]:
    """Numerators and denominators summed to the units of ``level`` inside the backend (one
    query per source table and filter columns): indicator, unit_code, period, numerator,
    denominator, practices; and the unit names. Every source row counts in the one unit of an
    ``all`` level (England), practices outside the mapping included."""
    spec = lv.get(level)
    batches: dict[tuple, list[Indicator]] = {}
    for ind in indicators:
        key = (ind.source_table, ind.numerator, ind.denominator, ind.unit_column,
               tuple(sorted(ind.filters)), ind.unit_level == level and level != "practice")
        batches.setdefault(key, []).append(ind)
    out: list[pd.DataFrame] = []
    names = pd.Series(dtype=object)
    for (table, num, den, unit, keys, direct), batch in batches.items():
        t = store.table(table)
        for column in (num, den, unit, "period", *keys):
            if column not in t.columns:
                raise ValueError(f"indicator {batch[0].name}: column {column!r} is not in table "
                                 f"{table} (columns: {', '.join(t.columns)})")
        for k in keys:
            t = t.filter(t[k].isin(sorted({ind.filters[k] for ind in batch}, key=str)))
        t = t.filter(t[num].notnull() & t[den].notnull())
        t = t.select("period", *keys, source_code=t[unit], x=t[num], n=t[den])
        if direct:
            t = t.mutate(unit_code=t.source_code)
        elif spec.kind == lv.ALL:
            code, name = spec.unit
            t = t.mutate(unit_code=ibis.literal(code))
            names = pd.Series({code: name})
        else:
            periods = sorted(t.select("period").distinct().to_pandas()["period"])
            if not periods:
                continue
            members = _members(store, level, periods, units)
            names = members.drop_duplicates("unit_code").set_index("unit_code")["unit_name"]
            m = to_engine(members[["period", "practice_code", "unit_code"]]
                          .astype({"unit_code": str}), t)
            t = t.inner_join(m, [t.period == m.period, t.source_code == m.practice_code])
            t = t.select("period", *keys, "source_code", "x", "n", "unit_code")
        t = (t.group_by(["unit_code", "period", *keys])
             .aggregate(numerator=t.x.sum(), denominator=t.n.sum(), practices=t.x.count()))
        frame = t.to_pandas()
        frame = _name_rows(frame, batch, keys)
        out.append(frame)
    columns = ["indicator", "unit_code", "period", "numerator", "denominator", "practices"]
    out = [f for f in out if not f.empty]
    frame = pd.concat(out, ignore_index=True)[columns] if out else pd.DataFrame(columns=columns)
    return frame.astype({"numerator": "float64", "denominator": "float64"}), names


def _name_rows(frame: pd.DataFrame, batch: list[Indicator], keys: tuple[str, ...]
               ) -> pd.DataFrame:
    """Label rows grouped by the filter columns with the indicator whose filters they match
    (a filter column may itself be called ``indicator``, as in the uptake table)."""
    if not keys:
        return pd.concat([frame.assign(indicator=ind.name) for ind in batch], ignore_index=True)
    lookup = pd.DataFrame([{**{k: ind.filters[k] for k in keys}, "_name": ind.name}
                           for ind in batch])
    frame = frame.merge(lookup, on=list(keys), how="inner").drop(columns=list(keys))
    return frame.rename(columns={"_name": "indicator"})


def compute(frame: pd.DataFrame, indicator: Indicator, confidence: float = 0.95) -> pd.DataFrame:
    """Value and limits of ``indicator`` for each row of ``frame`` (numerator, denominator).

    Rows of a proportion whose numerator exceeds the denominator are left out with a warning.
    """
    frame = frame.reset_index(drop=True)
    if frame.empty:
        return frame.assign(value=[], lowercl=[], uppercl=[], confidence=[], statistic=[],
                            method=[])
    if indicator.method == "proportion":
        over = frame["numerator"] > frame["denominator"]
        if over.any():
            bad = frame[over].iloc[0]
            where = {k: bad[k] for k in ("unit_code", "period") if k in bad}
            warnings.warn(f"indicator {indicator.name}: {int(over.sum())} unit(s) left out whose "
                          f"numerator exceeds the denominator (e.g. {bad['numerator']:g} of "
                          f"{bad['denominator']:g} for {where})", IndicatorWarning, stacklevel=2)
            frame = frame[~over].reset_index(drop=True)
        result = proportion(frame, x="numerator", n="denominator", confidence=confidence,
                            multiplier=indicator.multiplier)
    else:
        result = rate(frame, x="numerator", n="denominator", confidence=confidence,
                      multiplier=indicator.multiplier)
        if indicator.method == "ratio":
            result["statistic"] = f"ratio x {indicator.multiplier:g}"
    columns = ["value", "lowercl", "uppercl", "confidence", "statistic", "method"]
    return pd.concat([frame, result[columns].reset_index(drop=True)], axis=1)
