"""Inequality within every area, and the Core20PLUS5 view: a build step of its own, after need.

The areas are the levels the level registry reports inequality at
(``levels.levels_for("inequality")``: PCN, Sub-ICB, ICB, local and upper-tier authority); the
counts are the need tables read from the store (``prevalence_gap`` at practice level,
``prevalence_gap_lsoa`` and ``uptake_gap``), plus any ``uptake`` loaded.

Within each area its units — the LSOAs its patients live in (when practice x LSOA registrations
are loaded) or its practices — are ranked by deprivation (IMD score; most deprived first) and cut
into *local* population-weighted quintiles, and deciles where the area has at least
``DECILE_MIN_UNITS`` units and every decile is populated (PHE's local-quantile approach). For each
quantile the indicator is recomputed from its counts:

- ``prevalence_ratio:GROUP`` recorded/expected register (O/E, exact or Byar limits);
- ``prevalence:GROUP`` recorded prevalence (register / QOF denominator, Wilson limits);
- ``uptake:INDICATOR AGE`` uptake (Wilson limits) where uptake is loaded by practice.

and the slope and relative index of inequality (:func:`placehealth.measures.sii`, Low & Low 2004;
PHE technical guide 2018; Monte Carlo limits) and the gap between the least and most deprived
quantile (:func:`placehealth.measures.quantile_gap`) are computed. Quantile 1 is the most
deprived, so a *negative* SII means the indicator is higher in the more deprived part of the area.
LSOA values are apportioned from practices (see :func:`placehealth.analyses.need.lsoa_gaps`), so
an SII across a PCN's LSOAs reflects the mix of practices its neighbourhoods use, attenuated
compared with patient-level data.

Core20PLUS5 (NHS England 2021): per PCN, the share of registered patients living in Core20
neighbourhoods (LSOAs in national IMD deciles 1-2), and for the clinical areas the store can
speak to — hypertension (HYP), chronic respiratory disease (COPD, AST), severe mental illness
(MH), and any uptake indicator loaded — the recorded/expected ratio and missing patients in
Core20 neighbourhoods against the rest.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from placehealth import levels
from placehealth.analyses.expected import ATTRIBUTE_PATTERNS, find_column, practice_attributes
from placehealth.analyses.need import LSOA_GAP_COLUMNS, empty
from placehealth.measures import proportion, quantile_gap, sii
from placehealth.measures.observed_expected import ratio_limits
from placehealth.store import Store, release_memory

#: Deciles are reported beside quintiles where the area has at least this many units and this
#: many people (the indicator's population: registered patients, or the uptake denominators),
#: so each decile holds some 10,000 people; PCNs (30-50,000 patients) get quintiles only.
DECILE_MIN_UNITS = 20
DECILE_MIN_POPULATION = 100_000
#: Monte Carlo repetitions for the SII limits in the build (PHE uses 100,000 for publication;
#: the point estimate does not depend on it). Pass ``repetitions`` to change.
DEFAULT_REPETITIONS = 1_000

INEQUALITY_COLUMNS = ["area_level", "area_code", "area_name", "indicator", "period", "measure",
                      "value", "lowercl", "uppercl", "quantiles", "units", "method"]

#: Core20PLUS5 clinical areas and the QOF groups that speak to them.
CORE20_AREAS = {"hypertension": ["HYP"], "chronic respiratory disease": ["COPD", "AST"],
                "severe mental illness": ["MH"]}
CORE20_COLUMNS = ["period", "pcn_code", "pcn_name", "clinical_area", "indicator", "measure",
                  "all_value", "core20_value", "core20_lowercl", "core20_uppercl", "rest_value",
                  "rest_lowercl", "rest_uppercl", "difference", "core20_share",
                  "core20_observed", "core20_expected", "rest_observed", "rest_expected", "tau2",
                  "core20_patients", "patients"]


def assign_quantiles(units: pd.DataFrame, k: int,
                     by: Sequence[str] = ("area_level", "area_code")) -> pd.DataFrame:
    """Local population-weighted quantiles: within each area (``by``), units sorted most deprived
    first (highest score) fall in quantile ⌊k × mid-point cumulative population share⌋ + 1. Areas
    with fewer than k units or an empty quantile are dropped.

    ``units``: the ``by`` columns, unit_code, score, population (one row per unit).
    """
    by = list(by)
    units = units[units["score"].notna() & (units["population"] > 0)]
    units = units.sort_values([*by, "score", "unit_code"],
                              ascending=[*(True for _ in by), False, True])
    area = units.groupby(by, sort=False)["population"]
    cumulative = area.cumsum()
    mid = (cumulative - units["population"] / 2) / area.transform("sum")
    out = units.assign(quantile=np.minimum(np.floor(mid * k).astype(int) + 1, k))
    full = out.groupby(by)["quantile"].transform("nunique") == k
    return out[full]


def _imd_rows(store: Store) -> pd.DataFrame | None:
    """Every edition's IMD score and national decile of each LSOA (None: no IMD loaded)."""
    if not store.has("imd"):
        return None
    t = store.table("imd")
    return t.filter(t.domain == "imd").select("edition", "lsoa_code", "score", "decile").to_pandas()


def _lsoa_scores(imd: pd.DataFrame | None, codes: Iterable[str]) -> pd.DataFrame | None:
    """IMD score and national decile of each LSOA, from the edition covering most of ``codes``
    (``imd``: :func:`_imd_rows`)."""
    if imd is None or imd.empty:
        return None
    codes = set(codes)
    cover = imd[imd["lsoa_code"].isin(codes)].groupby("edition").size()
    if cover.empty:
        return None
    best = cover[cover == cover.max()].index.max()
    return imd[imd["edition"] == best][["lsoa_code", "score", "decile"]]


def _practice_scores(store: Store, period: str) -> pd.DataFrame | None:
    attributes = practice_attributes(store, period)
    column = find_column(attributes.columns, ATTRIBUTE_PATTERNS["deprivation"])
    if column is None:
        return None
    return pd.DataFrame({"practice_code": attributes["practice_code"],
                         "score": pd.to_numeric(attributes[column], errors="coerce")})


def _quiet_units(store: Store, level: str, period: str) -> pd.DataFrame | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", levels.LevelWarning)
            units = (levels.lsoa_units(store, level) if levels.get(level).kind == levels.PLACE
                     else levels.practice_units(store, level, period))
    except (LookupError, KeyError, ValueError):
        return None
    return units if len(units) else None


class _Reads:
    """The reads the parts of the unit rows share, each made once: practices' deprivation scores
    and each level's units by period, and the IMD rows."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.made: dict[tuple[str, ...], pd.DataFrame | None] = {}

    def _once(self, key: tuple[str, ...], make: Callable[[], pd.DataFrame | None]
              ) -> pd.DataFrame | None:
        if key not in self.made:
            self.made[key] = make()
        return self.made[key]

    def practice_scores(self, period: str) -> pd.DataFrame | None:
        return self._once(("scores", period), lambda: _practice_scores(self.store, period))

    def units(self, level: str, period: str) -> pd.DataFrame | None:
        return self._once(("units", level, period),
                          lambda: _quiet_units(self.store, level, period))

    def imd(self) -> pd.DataFrame | None:
        return self._once(("imd",), lambda: _imd_rows(self.store))


#: The columns of ``prevalence_gap_lsoa`` the inequality views read.
LSOA_UNIT_COLUMNS = ["period", "level", "area_code", "lsoa_code", "group_code", "patients",
                     "observed", "expected", "list_size"]

Rows = pd.DataFrame | ibis.Table


def _lsoa_rows(lsoa: Rows, period: str | None = None, level: str | None = None,
               groups: list[str] | None = None,
               areas: tuple[str, str] | None = None,
               columns: Sequence[str] = LSOA_UNIT_COLUMNS) -> pd.DataFrame:
    """The LSOA gap rows of one period, level, set of groups and run of area codes (first and
    last, as text; None: all), from a frame or filtered inside the engine from the stored table,
    so only those rows reach pandas, in the table's order (a range keeps it: DuckDB may reorder
    rows filtered by a long list of codes, which it joins)."""
    if isinstance(lsoa, pd.DataFrame):
        if lsoa.empty:
            return lsoa
        keep = pd.Series(True, index=lsoa.index)
        for column, value in (("period", period), ("level", level)):
            if value is not None:
                keep &= lsoa[column] == value
        if groups is not None:
            keep &= lsoa["group_code"].isin(groups)
        if areas is not None:
            keep &= (lsoa["area_code"] >= areas[0]) & (lsoa["area_code"] <= areas[1])
        return lsoa[keep] if columns is LSOA_UNIT_COLUMNS else lsoa.loc[keep, list(columns)]
    t = lsoa
    if period is not None:
        t = t.filter(t.period == period)
    if level is not None:
        t = t.filter(t.level == level)
    if groups is not None:
        t = t.filter(t.group_code.isin(groups))
    if areas is not None:
        t = t.filter((t.area_code >= areas[0]) & (t.area_code <= areas[1]))
    # through Arrow: the frame ibis's to_pandas gives (text as Arrow-backed str, the same
    # columns, types and index), without its column by column conversion of millions of rows
    return t.select(*columns).to_pyarrow().to_pandas()


def _lsoa_summary(lsoa: Rows, period: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One period's LSOA gap rows summed up inside the engine: rows per level and area
    (level, area_code, rows), and the LSOAs of each level (level, lsoa_code)."""
    if isinstance(lsoa, pd.DataFrame):
        rows = _lsoa_rows(lsoa, period)
        if rows.empty:
            return (pd.DataFrame(columns=["level", "area_code", "rows"]),
                    pd.DataFrame(columns=["level", "lsoa_code"]))
        counts = rows.groupby(["level", "area_code"]).size().rename("rows").reset_index()
        return counts, rows[["level", "lsoa_code"]].drop_duplicates()
    t = lsoa.filter(lsoa.period == period)
    counts = t.group_by(["level", "area_code"]).agg(rows=t.count()).to_pandas()
    return counts, t.select("level", "lsoa_code").distinct().to_pandas()


@dataclass
class _Part:
    """One part of the unit rows (a period's indicators at one level, or uptake): ``index`` its
    place in the order the parts of one frame of every unit row come in, ``units`` its unit
    codes, and its rows: given (``frame``), or made by ``build(areas)`` for a run of area codes
    (first and last; None: all), read a block of areas at a time from the engine when ``sizes``
    (rows per area) is given, else made whole once for its level."""

    index: tuple[int, ...]
    level: str
    units: set
    frame: pd.DataFrame | None = None
    build: Callable[[tuple[str, str] | None], pd.DataFrame] | None = None
    sizes: pd.Series | None = None


def _known(values: pd.Series) -> set:
    """The codes among ``values`` (missing ones left out)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return {v for v in _used(values) if isinstance(v, str)}
    return {v for v in np.asarray(pd.unique(values.dropna()), dtype=object).tolist()
            if isinstance(v, str)}


def _used(values: pd.Series) -> list:
    """The categories a categorical column's rows use."""
    used = np.zeros(len(values.cat.categories) + 1, dtype=bool)
    used[values.cat.codes.to_numpy() + 1] = True  # code -1 (missing) at 0
    return values.cat.categories[used[1:]].astype(object).tolist()


def _plan(store: Store, practice: pd.DataFrame, lsoa: Rows,
          uptake: pd.DataFrame | None) -> list[_Part]:
    """The parts of the unit rows, in order, without their rows: counts per (area, unit,
    indicator) come from practices' expected registers (sub-ICB and ICB: practices as units),
    the LSOA apportioning at each level that has it (PCN: LSOAs as units), the whole-England
    LSOA rows within places (local and upper-tier authorities) and any uptake loaded. ``lsoa``
    (a frame, or the stored ``prevalence_gap_lsoa``) is summed up inside the engine here and
    read a block of areas at a time later."""
    parts = []
    reads = _Reads(store)
    periods = sorted(practice["period"].unique()) if len(practice) else []
    for pi, period in enumerate(periods):
        rows = practice[(practice["period"] == period) & practice["expected"].notna()]
        scores = reads.practice_scores(period)
        counts, codes = _lsoa_summary(lsoa, period)
        lsoa_scores = (_lsoa_scores(reads.imd(), codes["lsoa_code"].unique()) if len(counts)
                       else None)
        scored = _known(lsoa_scores["lsoa_code"]) if lsoa_scores is not None else set()
        for li, level in enumerate(levels.levels_for("inequality")):
            index = (0, pi, li)
            at_level = counts[counts["level"] == level]
            if lsoa_scores is not None and len(at_level):  # the level's own LSOA apportioning
                names = reads.units(level, period)
                parts.append(_Part(
                    index, level, _known(codes.loc[codes["level"] == level, "lsoa_code"]) & scored,
                    build=partial(_lsoa_part, lsoa, period, level, lsoa_scores, names),
                    sizes=2 * at_level.groupby("area_code")["rows"].sum()))
            elif levels.get(level).kind == levels.PLACE:
                places = reads.units(level, period)
                if places is None or lsoa_scores is None or not len(counts):
                    continue
                units = (_known(codes.loc[codes["level"] == "all", "lsoa_code"]) & scored
                         & _known(places["lsoa_code"]))
                parts.append(_Part(index, level, units, build=partial(
                    _place_part, lsoa, period, level, places, lsoa_scores)))
            elif scores is not None:
                units_of = reads.units(level, period)
                if units_of is None:
                    continue
                units = (_known(rows["practice_code"]) & _known(units_of["practice_code"])
                         & _known(scores["practice_code"]))
                parts.append(_Part(index, level, units, build=partial(
                    _practice_part, rows, units_of, scores, level, period)))
    if uptake is not None and len(uptake):
        parts.extend(_Part(index, level, _known(frame["unit_code"]), frame=frame)
                     for index, level, frame in _uptake_units(reads, uptake))
    return parts


#: The columns of a level's own LSOA rows its unit rows are made from (period and level given).
LSOA_PART_COLUMNS = [c for c in LSOA_UNIT_COLUMNS if c not in ("period", "level")]


def _lsoa_part(lsoa: Rows, period: str, level: str, lsoa_scores: pd.DataFrame,
               names: pd.DataFrame | None, areas: tuple[str, str] | None) -> pd.DataFrame:
    """A level's own LSOA apportioning as unit rows, for a run of area codes (None: all)."""
    units = _lsoa_rows(lsoa, period, level, areas=areas, columns=LSOA_PART_COLUMNS)
    units = units.merge(lsoa_scores, on="lsoa_code")
    units = units.merge(_names(names), on="area_code", how="left")
    return _prevalence_units(units.rename(columns={"lsoa_code": "unit_code"}), level, "lsoa", period)


def _place_part(lsoa: Rows, period: str, level: str, places: pd.DataFrame,
                lsoa_scores: pd.DataFrame, areas: tuple[str, str] | None = None) -> pd.DataFrame:
    """The whole-England LSOA rows within each place of a place-based level as unit rows."""
    units = _lsoa_rows(lsoa, period, "all").drop(columns="area_code")
    units = units.merge(places.rename(columns={"unit_code": "area_code",
                                               "unit_name": "area_name"}),
                        on="lsoa_code").merge(lsoa_scores, on="lsoa_code")
    out = _prevalence_units(units.rename(columns={"lsoa_code": "unit_code"}), level, "lsoa", period)
    return _within(out, areas)


def _practice_part(rows: pd.DataFrame, members: pd.DataFrame, scores: pd.DataFrame, level: str,
                   period: str, areas: tuple[str, str] | None = None) -> pd.DataFrame:
    """Practices' expected registers within each unit of a practice-based level as unit rows."""
    units = rows.merge(members, on="practice_code").merge(scores, on="practice_code")
    units = units.rename(columns={"unit_code": "area_code", "unit_name": "area_name"})
    units["patients"] = units.groupby("practice_code")["list_size"].transform("max")
    out = _prevalence_units(units.rename(columns={"practice_code": "unit_code"}), level,
                            "practice", period)
    return _within(out, areas)


def _within(frame: pd.DataFrame, areas: tuple[str, str] | None) -> pd.DataFrame:
    """The rows of a run of area codes (first and last; None: all)."""
    if areas is None or frame.empty:
        return frame
    codes = frame["area_code"]
    if isinstance(codes.dtype, pd.CategoricalDtype):  # compared once per category
        names = codes.cat.categories.astype(object)
        inside = np.append(np.asarray((names >= areas[0]) & (names <= areas[1]), dtype=bool), False)
        return frame[inside[codes.cat.codes.to_numpy()]]  # code -1 (missing): the False
    return frame[((codes >= areas[0]) & (codes <= areas[1])).to_numpy(dtype=bool)]


#: The text columns whose order (first seen over the parts, as one frame of every unit row would
#: hold them) orders the areas the SII is simulated for.
ORDER_COLUMNS = ["area_level", "area_code", "period", "indicator", "units"]


class _Order:
    """The categories each of ``ORDER_COLUMNS`` would have in one frame of every unit row
    (:func:`_concat_categorical` of the parts in order: each part's values sorted, prevalence
    ratios before prevalences, then new values part by part), gathered a block at a time."""

    def __init__(self) -> None:
        self.seen: dict[tuple[int, ...], dict[str, set]] = {}

    def add(self, index: tuple[int, ...], frame: pd.DataFrame) -> None:
        seen = self.seen.setdefault(index, {c: set() for c in ORDER_COLUMNS})
        for column in ORDER_COLUMNS:
            values = frame[column]
            seen[column].update(
                _used(values) if isinstance(values.dtype, pd.CategoricalDtype)
                else np.asarray(values.dropna().unique(), dtype=object).tolist())

    def categories(self) -> dict[str, list]:
        out = {}
        for column in ORDER_COLUMNS:
            union = {}
            for index in sorted(self.seen):
                key = _prevalence_order if index[0] == 0 and column == "indicator" else None
                union.update(dict.fromkeys(sorted(self.seen[index][column], key=key)))
            out[column] = list(union)
        return out


def _categorical(parts: list[_Part]) -> bool:
    """Whether one frame of the parts' rows would hold its text as categories: when any part
    has rows of an indicator (made by :func:`_prevalence_units`)."""
    return any(part.index[0] == 0 and part.units for part in parts)


def _prevalence_order(indicator: str) -> tuple[bool, str]:
    """``_prevalence_units``' order of its indicators: the ratios, then the prevalences, each
    by condition."""
    kind, _, group = indicator.partition(":")
    return kind != "prevalence_ratio", group


def _unit_blocks(parts: list[_Part], order: _Order | None = None) -> Iterator[pd.DataFrame]:
    """The unit rows a block of whole areas (about :data:`BLOCK_ROWS` rows) at a time, level by
    level: each block the rows of its areas in the order one frame of every unit row would hold
    them, unit codes as categories in that frame's order (they break ties of score); ``order``
    gathers the categories of the area columns."""
    units = {}
    for part in sorted(parts, key=lambda p: p.index):
        units.update(dict.fromkeys(sorted(part.units)))
    # categories only where one frame of them would have them: with any indicator's rows (text
    # as categories); uptake alone keeps its text, so its units sort as text
    unit_order = (pd.CategoricalDtype(list(units)) if _categorical(parts) else None)
    for level in dict.fromkeys(p.level for p in parts):
        mine = sorted((p for p in parts if p.level == level), key=lambda p: p.index)
        frames = {p.index: p.frame if p.frame is not None else p.build(None)
                  for p in mine if p.sizes is None}  # built whole: held while the level is
        sizes = [p.sizes if p.sizes is not None
                 else frames[p.index]["area_code"].value_counts(sort=False) for p in mine]
        sizes = pd.Series(np.concatenate([s.to_numpy(dtype=np.int64) for s in sizes]),
                          index=np.concatenate([np.asarray(s.index, dtype=object) for s in sizes]))
        sizes = sizes[sizes.index.notna()].groupby(level=0).sum().sort_index()
        block = np.cumsum(sizes.to_numpy()) // BLOCK_ROWS
        codes = sizes.index.to_numpy()
        blocks = ([None] if block.max(initial=0) == 0 else
                  [(codes[block == b][0], codes[block == b][-1]) for b in np.unique(block)])
        for areas in blocks:
            pieces = []
            for part in mine:
                if part.sizes is not None:
                    frame = part.build(areas)
                else:
                    frame = frames[part.index]
                    frame = _within(frame, areas)
                if len(frame):
                    pieces.append(frame)
                    if order is not None:
                        order.add(part.index, frame)
            if pieces:
                rows = _concat_categorical(pieces)
                del pieces
                if unit_order is not None:
                    rows["unit_code"] = rows["unit_code"].astype(unit_order)
                yield rows
        frames = None
        release_memory()  # the level's rows


def _names(units: pd.DataFrame | None) -> pd.DataFrame:
    if units is None:
        return pd.DataFrame(columns=["area_code", "area_name"])
    return (units[["unit_code", "unit_name"]].drop_duplicates("unit_code")
            .rename(columns={"unit_code": "area_code", "unit_name": "area_name"}))


def _prevalence_units(units: pd.DataFrame, level: str, unit_kind: str, period: str) -> pd.DataFrame:
    """Ratio (O, E) and recorded prevalence (O, list) rows per unit and condition (text columns
    as categoricals: millions of rows, few distinct values)."""
    if units.empty:
        return pd.DataFrame()
    units = units.reset_index(drop=True)
    n = len(units)

    def constant(value: str) -> pd.Categorical:
        return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[value])

    name = (units["area_name"] if "area_name" in units else pd.Series(None, index=units.index,
                                                                      dtype="string"))
    base = pd.DataFrame({
        "area_level": constant(level), "area_code": _as_category(units["area_code"]),
        "area_name": _as_category(name), "unit_code": _as_category(units["unit_code"]),
        "units": constant(unit_kind), "period": constant(period),
        "population": units["patients"].to_numpy(dtype=float),
        "score": units["score"].to_numpy(dtype=float),
    })
    group = _as_category(units["group_code"])
    labels = list(group.cat.categories)
    indicators = [f"prevalence_ratio:{g}" for g in labels] + [f"prevalence:{g}" for g in labels]
    codes = group.cat.codes.to_numpy()
    ratio = base.assign(
        indicator=pd.Categorical.from_codes(codes, categories=indicators),
        kind=pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=["ratio", "proportion"]),
        x=units["observed"].to_numpy(dtype=float), n=units["expected"].to_numpy(dtype=float))
    prevalence = base.assign(
        indicator=pd.Categorical.from_codes(codes + len(labels), categories=indicators),
        kind=pd.Categorical.from_codes(np.ones(n, dtype=np.int8), categories=["ratio", "proportion"]),
        x=units["observed"].to_numpy(dtype=float), n=units["list_size"].to_numpy(dtype=float))
    return pd.concat([ratio, prevalence], ignore_index=True)


def _as_category(values: pd.Series) -> pd.Series:
    """``values.astype("category")``: the sorted distinct values as categories. Arrow-backed text
    is numbered by Arrow (distinct values sorted by their UTF-8 bytes, which is the order of
    their code points, pandas' order), not turned into Python strings first as pandas does."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return values.astype("category")
    text = pa.chunked_array(values.array.__arrow_array__())
    distinct = pc.drop_null(pc.unique(text))
    distinct = distinct.take(pc.sort_indices(distinct))
    codes = pc.fill_null(pc.index_in(text, value_set=distinct), -1)
    return pd.Series(pd.Categorical.from_codes(
        codes.to_numpy().astype(np.int32), categories=pd.Index(distinct.to_pylist(), dtype=dtype)),
        index=values.index, name=values.name)


def _concat_categorical(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate frames keeping categorical columns categorical (categories unified)."""
    columns = [c for c in parts[0].columns
               if any(isinstance(p[c].dtype, pd.CategoricalDtype) for p in parts if c in p)]
    for column in columns:
        values = [p[column].astype("category") for p in parts]
        seen = dict.fromkeys(c for v in values for c in v.cat.categories.astype(object))
        union = pd.Index(list(seen), dtype=object)
        for p, v in zip(parts, values, strict=True):
            p[column] = pd.Categorical(v, categories=union)
    return pd.concat(parts, ignore_index=True)


def _uptake_units(reads: _Reads, uptake: pd.DataFrame
                  ) -> Iterator[tuple[tuple[int, ...], str, pd.DataFrame]]:
    """Uptake rows as units, as (index among the parts, level, rows): practices within PCNs,
    Sub-ICBs and ICBs (by practice IMD score); LSOAs (files by LSOA) within local authorities
    (by LSOA IMD score)."""
    usable = uptake[uptake["numerator"].notna() & uptake["denominator"].notna()
                    & (uptake["denominator"] > 0)]
    rows = usable[usable["area_level"] == "practice"]
    for pi, (period, by_period) in enumerate(rows.groupby("period")):
        scores = reads.practice_scores(period)
        if scores is None:
            continue
        for li, level in enumerate(levels.levels_for("inequality", levels.PRACTICE)):
            members = reads.units(level, period)
            if members is None:
                continue
            units = by_period.merge(members, left_on="area_code", right_on="practice_code")
            units = units.merge(scores, on="practice_code")
            part = _uptake_frame(units, level, "practice_code", "practice")
            if len(part):
                yield (1, pi, li), level, part
    lsoa_rows = usable[usable["area_level"] == "lsoa"]
    scores = _lsoa_scores(reads.imd(), lsoa_rows["area_code"].unique()) if len(lsoa_rows) else None
    for li, level in enumerate(levels.levels_for("inequality", levels.PLACE)
                               if scores is not None else ()):
        places = reads.units(level, "")
        if places is not None:
            units = lsoa_rows.merge(places, left_on="area_code", right_on="lsoa_code")
            units = units.merge(scores[["lsoa_code", "score"]], on="lsoa_code")
            part = _uptake_frame(units, level, "lsoa_code", "lsoa")
            if len(part):
                yield (2, li), level, part


def _uptake_frame(units: pd.DataFrame, level: str, unit_column: str, kind: str) -> pd.DataFrame:
    return pd.DataFrame({
        "area_level": level, "area_code": units["unit_code"].to_numpy(),
        "area_name": units["unit_name"].to_numpy(), "unit_code": units[unit_column].to_numpy(),
        "units": kind, "period": units["period"].to_numpy(),
        "population": units["denominator"].to_numpy(dtype=float),
        "score": units["score"].to_numpy(dtype=float),
        "indicator": ("uptake:" + units["indicator"] + " " + units["age"]).to_numpy(),
        "kind": "proportion", "x": units["numerator"].to_numpy(dtype=float),
        "n": units["denominator"].to_numpy(dtype=float)})


def quantile_values(units: pd.DataFrame, k: int) -> pd.DataFrame:
    """Indicator value and 95% limits per area, indicator and quantile."""
    keys = ["area_level", "area_code", "period", "indicator", "kind", "units"]
    # an area's LSOAs and its practices are quantiled apart: neither kind moves the other's cuts
    area = ["area_level", "area_code", "units"]
    # each (area, unit) once, its first row (a missing code a value of its own, as
    # drop_duplicates and merge take it); group ids from the codes, not pandas' multi-key joins
    unit = _group_ids(units, [*area, "unit_code"], missing=False)
    first = np.unique(unit, return_index=True)[1]  # ids numbered first seen: rows in order
    scored = units.iloc[first][[*area, "unit_code", "score", "population"]]
    quantiles = assign_quantiles(scored.assign(_unit=np.arange(len(first))), k, by=area)
    quantile = np.zeros(len(first), dtype=np.int64)  # 0: the unit's area has no quantiles
    quantile[quantiles["_unit"].to_numpy()] = quantiles["quantile"].to_numpy()
    quantile = quantile[unit]
    # the sums per area, indicator and quantile, over the rows in their order (pandas' sums)
    group = _group_ids(units, keys)  # -1: a key is missing (pandas drops those groups)
    rows = np.flatnonzero((quantile > 0) & (group >= 0))
    group = pd.factorize(group[rows] * (k + 1) + quantile[rows])[0]
    sums = pd.DataFrame({c: units[c].to_numpy(dtype=float)[rows]
                         for c in ("x", "n", "population")}).groupby(group, sort=True).sum()
    name = units["area_name"].iloc[rows].reset_index(drop=True).groupby(group, sort=True).first()
    heads = rows[np.unique(group, return_index=True)[1]]
    summed = units[keys].iloc[heads].reset_index(drop=True)
    summed["quantile"] = quantile[heads]
    for column in ("x", "n", "population"):
        summed[column] = sums[column].to_numpy()
    summed["area_name"] = name.reset_index(drop=True)
    summed = summed[summed["n"] > 0].reset_index(drop=True)
    parts = []
    ratio = summed[summed["kind"] == "ratio"].rename(columns={"x": "observed", "n": "expected"})
    if len(ratio):  # one row per group already: limits row by row, order kept
        limits = ratio_limits(ratio, [*keys, "quantile"], unique=True)
        parts.append(ratio[[*keys, "quantile", "population", "area_name"]].reset_index(drop=True)
                     .assign(value=limits["ratio"].to_numpy(),
                             lowercl=limits["ratio_lowercl"].to_numpy(),
                             uppercl=limits["ratio_uppercl"].to_numpy()))
    share = summed[summed["kind"] == "proportion"]
    if len(share):  # without group_by every row is its own unit, in order
        scored = proportion(pd.DataFrame({"x": np.minimum(share["x"], share["n"]).to_numpy(),
                                          "n": share["n"].to_numpy()}), x="x", n="n")
        parts.append(share[[*keys, "quantile", "population", "area_name"]].reset_index(drop=True)
                     .assign(value=scored["value"].to_numpy(),
                             lowercl=scored["lowercl"].to_numpy(),
                             uppercl=scored["uppercl"].to_numpy()))
    columns = [*keys, "quantile", "population", "area_name", "value", "lowercl", "uppercl"]
    return pd.concat([p[columns] for p in parts], ignore_index=True) if parts else \
        pd.DataFrame(columns=columns)


#: Units (rows) per block of areas in :func:`inequality_measures`: the quantile sums are taken a
#: block of areas at a time, so memory stays near the units themselves at England scale.
BLOCK_ROWS = 1_000_000


def _group_ids(units: pd.DataFrame, columns: list[str], missing: bool = True) -> np.ndarray:
    """An id per row for each combination of ``columns`` (first seen, first numbered), -1 where
    one is missing (``missing=False``: a missing value is one of its own): from the categorical
    codes, without the copies a pandas group-by makes of millions of rows."""
    key = np.zeros(len(units), dtype=np.int64)
    absent = np.zeros(len(units), dtype=bool)
    for column in columns:
        values = units[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes, size = values.cat.codes.to_numpy(), len(values.cat.categories)
        else:
            codes, uniques = pd.factorize(values)
            size = len(uniques)
        absent |= codes < 0
        if key.max(initial=0) > 2**62 // (size + 1):  # numbered afresh before it could overflow
            key = pd.factorize(key)[0].astype(np.int64)
        key = key * (size + 1) + (codes + 1)
    ids = pd.factorize(key)[0]
    if missing:
        ids[absent] = -1
    return ids


def _area_blocks(units: pd.DataFrame) -> list[np.ndarray]:
    """Row positions of ``units`` in blocks of whole areas (area_level, area_code) of about
    :data:`BLOCK_ROWS` rows, each in the rows' order."""
    area = _group_ids(units, ["area_level", "area_code"])
    area = np.where(area < 0, area.max() + 1, area)  # a missing code is an area of its own
    block = (np.cumsum(np.bincount(area)) // BLOCK_ROWS)[area]
    order = np.argsort(block, kind="stable")
    cuts = np.flatnonzero(np.diff(block[order])) + 1
    return np.split(order, cuts)


def inequality_measures(units: pd.DataFrame, repetitions: int = DEFAULT_REPETITIONS,
                        seed: int | None = 1) -> pd.DataFrame:
    """SII, RII and the quantile gap per area and indicator, over quintiles and (where the area
    has enough units) deciles. Quantiles and their sums are per area, so they are taken a block
    of areas at a time; the SII is then simulated for every area at once (one seeded stream)."""
    if units.empty:
        return empty(INEQUALITY_COLUMNS)
    return _measures((units.iloc[rows] for rows in _area_blocks(units)), repetitions, seed)


def _measures(blocks: Iterable[pd.DataFrame], repetitions: int, seed: int | None,
              categories: Callable[[], dict[str, list]] | None = None) -> pd.DataFrame:
    """:func:`inequality_measures` from unit rows given a block of whole areas at a time: each
    block's quantile values are kept, its rows let go. ``categories`` (called once the blocks
    are done): the order of the area columns' values the areas are simulated in, as one frame
    of every block would have them (default: the values' own categories)."""
    series = ["area_level", "area_code", "period", "indicator"]
    parts = {5: [], 10: []}
    for units in blocks:
        # each unit appears once per area and indicator, so rows count units
        which = _group_ids(units, series)  # -1: a key is missing
        known = which >= 0
        n_units = np.bincount(which[known])
        people = np.bincount(which[known], weights=np.nan_to_num(
            units["population"].to_numpy(dtype=float)[known]), minlength=len(n_units))
        for k in (5, 10):
            ok = n_units >= k
            if k == 10:
                ok &= (n_units >= DECILE_MIN_UNITS) & (people >= DECILE_MIN_POPULATION)
            eligible = known & ok[np.maximum(which, 0)]
            if eligible.any():
                parts[k].append(quantile_values(units[eligible], k))
        del units, which, known
    release_memory()  # the units are let go before the simulations
    order = {column: pd.CategoricalDtype(values) for column, values in
             (categories() if categories is not None else {}).items()}
    by_k = {}
    for k, values in parts.items():
        for part in values:  # each block's categories recoded to the order (same dtype: kept)
            for column, dtype in order.items():
                part[column] = part[column].astype(dtype)
        if values:
            by_k[k] = pd.concat(values, ignore_index=True)
    del parts
    out = []
    for k, values in by_k.items():
        values = values[values["value"].notna() & np.isfinite(values["value"])]
        complete = values.groupby(["area_level", "area_code", "period", "indicator"])["quantile"] \
            .transform("nunique") == k
        values = values[complete]
        if values.empty:
            continue
        group = ["area_level", "area_code", "period", "indicator", "units"]
        names = values.groupby(group)["area_name"].first().reset_index()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            slope = sii(values, quantile="quantile", population="population", value="value",
                        lower_cl="lowercl", upper_cl="uppercl", group_by=group,
                        repetitions=repetitions, rii=True, seed=seed)
            gap = quantile_gap(values, quantile="quantile", value="value", lower_cl="lowercl",
                               upper_cl="uppercl", group_by=group)
        for measure, value, lower, upper, frame in (
                ("sii", "sii", "sii_lowercl", "sii_uppercl", slope),
                ("rii", "rii", "rii_lowercl", "rii_uppercl", slope),
                ("gap", "gap", "gap_lowercl", "gap_uppercl", gap),
                ("gap_ratio", "ratio", "ratio_lowercl", "ratio_uppercl", gap)):
            part = frame[group].copy()
            part["measure"] = measure
            part["value"] = frame[value].to_numpy()
            part["lowercl"] = frame[lower].to_numpy()
            part["uppercl"] = frame[upper].to_numpy()
            part["method"] = frame["method"].to_numpy()
            part["quantiles"] = k
            out.append(part.merge(names, on=group, how="left"))
    if not out:
        return empty(INEQUALITY_COLUMNS)
    table = pd.concat(out, ignore_index=True)[INEQUALITY_COLUMNS]
    for column in ("area_level", "area_code", "area_name", "indicator", "period", "units"):
        table[column] = table[column].astype(object).where(table[column].notna(), None)
    return table


def inequality(store: Store, practice: pd.DataFrame, lsoa: Rows,
               repetitions: int = DEFAULT_REPETITIONS) -> pd.DataFrame:
    """The ``inequality`` table from practice expected registers, their LSOA apportioning and
    any uptake loaded: the unit rows are made (the LSOA rows read from the engine) a block of
    whole areas at a time and let go once the block's quantile values are taken, so never all
    held at once; the areas are simulated in the order one frame of every unit row would give."""
    uptake = store.read("uptake") if store.has("uptake") else None
    parts = _plan(store, practice, lsoa, uptake)
    order = _Order()

    def blocks() -> Iterator[pd.DataFrame]:
        yield from _unit_blocks(parts, order)
        store.release_cache()  # the pages of the rows read: not held through the simulations

    return _measures(blocks(), repetitions, seed=1,
                     categories=order.categories if _categorical(parts) else None)


def core20plus5(store: Store, gap: pd.DataFrame, lsoa: Rows,
                uptake_gap: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per PCN: Core20 share of patients and the clinical-area gaps, Core20 against the rest.
    ``lsoa``: the LSOA gap rows (a frame, or the stored table: only the PCN rows of the Core20
    clinical areas are read)."""
    groups = {g: area for area, gs in CORE20_AREAS.items() for g in gs}
    keys = ["period", "area_code", "group_code"]
    pcn_gap = gap[(gap["level"] == "pcn") & gap["group_code"].isin(list(groups))]
    long = pcn_gap.melt(id_vars=[*keys, "area_name"], value_vars=["ratio", "missing"],
                        var_name="measure", value_name="all_value")
    scopes = _lsoa_rows(lsoa, level="pcn", groups=list(groups))
    scores = _lsoa_scores(_imd_rows(store), scopes["lsoa_code"].unique()) if len(scopes) else None
    share = pd.DataFrame(columns=["period", "area_code", "core20_patients", "patients", "core20_share"])
    if scores is not None:
        scoped = scopes.merge(scores[["lsoa_code", "decile"]], on="lsoa_code", how="left")
        scoped["core20"] = scoped["decile"].isin([1, 2])
        people = scoped.drop_duplicates(["period", "area_code", "lsoa_code"])
        totals = (people.assign(c=people["patients"].where(people["core20"], 0))
                  .groupby(["period", "area_code"])[["c", "patients"]].sum())
        share = totals.rename(columns={"c": "core20_patients"}).reset_index()
        share["core20_share"] = share["core20_patients"] / share["patients"]
        summed = scoped.groupby([*keys, "core20"])[["observed", "expected"]].sum().reset_index()
        summed = summed[summed["expected"] > 0]
        # limits allow for the between-practice variation, as every need flag does
        practices = gap[gap["level"] == "practice"]
        tau2 = practices.groupby(["period", "group_code"], as_index=False)["tau2"].first()
        summed = summed.merge(tau2, on=["period", "group_code"], how="left")
        split = (ratio_limits(summed, [*keys, "core20"], tau2="tau2").merge(
            tau2, on=["period", "group_code"], how="left") if len(summed) else pd.DataFrame())
        for side, flag in (("core20", True), ("rest", False)):
            if split.empty:
                break
            part = split[split["core20"] == flag]
            for measure in ("ratio", "missing"):
                side_rows = part[keys].assign(measure=measure)
                side_rows[f"{side}_value"] = part[measure].to_numpy()
                side_rows[f"{side}_lowercl"] = part[f"{measure}_lowercl"].to_numpy()
                side_rows[f"{side}_uppercl"] = part[f"{measure}_uppercl"].to_numpy()
                side_rows[f"{side}_observed"] = part["observed"].to_numpy()
                side_rows[f"{side}_expected"] = part["expected"].to_numpy()
                side_rows["tau2"] = part["tau2"].to_numpy()
                long = long.merge(side_rows, on=[*keys, "measure"], how="left",
                                  suffixes=("", "_new"))
                for column in (f"{side}_value", f"{side}_lowercl", f"{side}_uppercl",
                               f"{side}_observed", f"{side}_expected", "tau2"):
                    if f"{column}_new" in long:
                        long[column] = long[column].fillna(long.pop(f"{column}_new"))
    long = long.merge(share, on=["period", "area_code"], how="left")
    long["clinical_area"] = long["group_code"].map(groups)
    long["indicator"] = "prevalence_gap:" + long["group_code"]
    parts = [long.rename(columns={"area_code": "pcn_code", "area_name": "pcn_name"})]
    if uptake_gap is not None and len(uptake_gap):
        u = uptake_gap[uptake_gap["area_level"] == "pcn"]
        parts.append(pd.DataFrame({
            "period": u["period"], "pcn_code": u["area_code"], "pcn_name": u["area_name"],
            "clinical_area": "uptake", "indicator": "uptake:" + u["indicator"] + " " + u["age"],
            "measure": "uptake", "all_value": u["uptake"]}))
    if len(share):
        parts.append(pd.DataFrame({
            "period": share["period"], "pcn_code": share["area_code"],
            "clinical_area": "population", "indicator": "core20_share", "measure": "share",
            "all_value": share["core20_share"], "core20_share": share["core20_share"],
            "core20_patients": share["core20_patients"], "patients": share["patients"]}))
    out = pd.concat(parts, ignore_index=True).reindex(columns=CORE20_COLUMNS)
    out["difference"] = out["core20_value"] - out["rest_value"]
    return out.sort_values(["period", "pcn_code", "clinical_area", "indicator", "measure"],
                           ignore_index=True)


#: The columns of ``prevalence_gap`` (practice and PCN rows) and ``uptake_gap`` the step reads.
GAP_READ = ["period", "level", "area_code", "area_name", "group_code", "observed", "expected",
               "list_size", "ratio", "missing", "tau2"]
UPTAKE_GAP_READ = ["period", "area_level", "area_code", "area_name", "indicator", "age",
                      "uptake"]


def compute(store: Store, repetitions: int = DEFAULT_REPETITIONS) -> dict[str, pd.DataFrame]:
    """``inequality`` and ``core20plus5`` from the need tables in the store (those it allows)."""
    gap = None
    if store.has("prevalence_gap"):  # the practice and PCN rows, the columns used
        t = store.table("prevalence_gap")
        gap = (t.filter((t.level == "practice") | (t.level == "pcn"))
               .select(*GAP_READ).to_pandas())
    # read a block of areas (or the Core20 rows) at a time inside the engine: 6M rows in England
    lsoa = (store.table("prevalence_gap_lsoa") if store.has("prevalence_gap_lsoa")
            else empty(LSOA_GAP_COLUMNS))
    uptake_gap = (store.table("uptake_gap").select(*UPTAKE_GAP_READ).to_pandas()
                  if store.has("uptake_gap") else None)
    if gap is None and uptake_gap is None:
        return {}
    practice = pd.DataFrame(columns=["period", "practice_code", "group_code", "observed",
                                     "expected", "list_size"])
    if gap is not None:
        rows = gap[gap["level"] == "practice"]
        practice = rows.rename(columns={"area_code": "practice_code"})[list(practice.columns)]
    tables = {"inequality": inequality(store, practice, lsoa, repetitions)}
    if gap is not None:
        tables["core20plus5"] = core20plus5(store, gap, lsoa, uptake_gap)
    return tables


def build(store: Store) -> dict[str, int]:
    """Build step (after need): compute the inequality tables and write each whole."""
    tables = compute(store)
    for name, frame in tables.items():
        store.replace_table(name, frame)
    return {name: len(frame) for name, frame in tables.items()}


__all__ = ["CORE20_AREAS", "DEFAULT_REPETITIONS", "assign_quantiles", "build", "compute",
           "core20plus5", "inequality", "inequality_measures", "quantile_values"]
