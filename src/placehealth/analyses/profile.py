"""Place profiles: who each unit (practice, PCN, Sub-ICB, ICB, group, LSOA, ward, local authority)
serves and where its patients live, for every registration period.

One computation serves every level (see :mod:`placehealth.levels`). For a period:

1. the practice x LSOA registration matrix is read (persons: the sex = ALL rows, or male +
   female where a practice has no ALL rows) and moved onto the LSOA vintage of the IMD edition
   used (:mod:`placehealth.geography`);
2. each level's membership turns it into unit x practice x LSOA rows: all of a practice's
   patients for practice-based units, the patients living in the unit's LSOAs for place-based
   units;
3. every LSOA characteristic (IMD score, decile, domain scores, ethnic shares, rural-urban class)
   becomes a *registration-weighted mean* over the unit's patients, and every practice
   characteristic (age-sex structure) a weighted mean over the unit's patients at each practice.

Registration-weighted mean (the way the OHID National General Practice Profiles give a practice
an IMD score, "Deprivation score (IMD)": the LSOA scores weighted by the practice's registered
patients living in each LSOA, from NHS England's patients-registered-by-LSOA file):
``sum_l p_l x_l / sum_l p_l`` over the LSOAs ``l`` whose value ``x_l`` is known, where
``p_l`` is the unit's registered patients living in ``l``. The weights are renormalised after
every join: patients whose LSOA is unknown (NO2011, EMPTY, ...) or has no value (e.g. a Welsh
LSOA for the English IMD) are left out of the denominator, so weights sum to 1 over matched
patients; the share left out is reported (``unknown_lsoa_pct``, ``imd_matched_pct``), never
silently dropped.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd

from placehealth import levels as lv
from placehealth.analyses.footprint import (
    FRAGMENTED_COLUMNS,
    fragmented_lsoas,
    group_lsoa,
    pcn_footprint,
    pcn_la,
    pcn_lsoa,
)
from placehealth.analyses.matrix import (
    PeriodData,
    memberships,
    period_data,
    registration_vintages,
    unit_lsoa_sums,
    unit_rows,
)
from placehealth.store import Store, to_engine

#: Derived tables built here: level -> table.
PROFILE_TABLES = lv.profile_tables()
#: Each profile also carries its unit code under the level's own name (e.g. pcn_profile.pcn_code).
LEVEL_CODE = {level: lv.get(level).code_column for level in PROFILE_TABLES}
#: practice_profile columns naming each practice's PCN, Sub-ICB and ICB of the period.
PARENT_COLUMNS = ["pcn_code", "pcn_name", "sub_icb_code", "sub_icb_name", "icb_code", "icb_name"]
#: Practice characteristics profiled for practice-based units only (the age-sex pyramid).
PYRAMID = ("male_age_", "female_age_")
#: A practice "dominates" a place when it holds more than this share of its registered residents.
DOMINANT_PCT = 50.0


@dataclass
class BaseSums:
    """Weighted sums per practice and per LSOA, from which every level's means are summed.

    For each characteristic ``c``: ``n__c`` = sum of patients x value and ``d__c`` = patients
    whose value is known. A unit's weighted mean is sum(n__c) / sum(d__c) over its practices (or
    its LSOAs): the same sums, whatever the level, so every level is one roll-up of these.
    """

    practice: pd.DataFrame  # index (period, practice_code): patients, unknown, n__*/d__*
    lsoa: pd.DataFrame  # index (period, lsoa_code): patients, unknown (0), n__*/d__*


BY_PRACTICE = ["period", "practice_code"]
BY_LSOA = ["period", "lsoa_code"]
UNIT = ["period", "unit_code"]


def base_sums(data: PeriodData) -> BaseSums:
    """Join the registration matrix once to the LSOA characteristics (summed per practice) and
    once to the practice characteristics (summed per LSOA), every period in one query."""
    m = data.matrix
    by_practice = _joined_sums(m, data.lsoa_values, ["lsoa_code"], BY_PRACTICE,
                               extra=lambda t: {"unknown": t.patients.sum(where=~t.lsoa_known)})
    by_practice["unknown"] = by_practice["unknown"].fillna(0.0)
    by_practice = _own_sums(by_practice, data.practice_values, BY_PRACTICE)
    known = m.filter(m.lsoa_known)
    # the age-sex pyramid is kept to practice-based units: spreading 38 more practice columns
    # over every practice x LSOA row would half again the build time for an estimate
    per_place = data.practice_values[[c for c in data.practice_values.columns
                                      if not c.startswith(PYRAMID)]]
    by_lsoa = _joined_sums(known, per_place, BY_PRACTICE, BY_LSOA)
    by_lsoa["unknown"] = 0.0
    by_lsoa = _own_sums(by_lsoa, data.lsoa_values, ["lsoa_code"])
    return BaseSums(by_practice, by_lsoa)


def _value_columns(values: pd.DataFrame, keys: list[str]) -> list[str]:
    return [c for c in values.columns if c not in keys and c != "period"]


def _joined_sums(matrix: ibis.Table, values: pd.DataFrame, on: list[str], by: list[str],
                 extra: Callable[[ibis.Table], dict] | None = None) -> pd.DataFrame:
    """Per ``by``: patients and, for each column of ``values`` (joined on ``on``), the sums
    n = sum(patients x value) and d = sum(patients where the value is known).

    Columns known for the same rows (all the IMD scores, all the ethnic shares...) share one
    d, summed once as patients x a 0/1 column: a filtered sum per column costs the engine
    several times a product's sum, and the d are most of the work."""
    columns = _value_columns(values, on)
    joined = matrix
    known: dict[bytes, str] = {}  # which rows are known -> the 0/1 column saying so
    share: dict[str, str] = {}  # column -> its 0/1 column
    if columns:
        frame = values[[*on, *columns]].astype({c: "float64" for c in columns})
        for c in columns:
            mask = frame[c].notna().to_numpy()
            share[c] = known.setdefault(mask.tobytes(), f"__known{len(known)}")
            if share[c] not in frame:
                frame[share[c]] = mask.astype(float)
        table = to_engine(frame, matrix)
        joined = matrix.left_join(table, [matrix[k] == table[k] for k in on])
    extras = extra(joined) if extra else {}
    sums = {"patients": joined.patients.sum(), **extras}
    for i, c in enumerate(columns):
        sums[f"n{i}"] = (joined.patients * joined[c]).sum()
    for name in known.values():
        sums[name] = (joined.patients * joined[name]).sum()
    raw = joined.group_by(by).aggregate(**sums).to_pandas().set_index(by)
    out = {"patients": raw["patients"].to_numpy(dtype=float)}
    for name in extras:
        out[name] = raw[name].to_numpy(dtype=float)
    for i, c in enumerate(columns):
        out[f"n__{c}"] = np.nan_to_num(raw[f"n{i}"].to_numpy(dtype=float))
        out[f"d__{c}"] = np.nan_to_num(raw[share[c]].to_numpy(dtype=float))
    return pd.DataFrame(out, index=raw.index)


def _own_sums(base: pd.DataFrame, values: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Add n/d sums for the base rows' own characteristics (weight = all their patients);
    ``values`` keyed by ``keys``: the base's whole index, or its code alone (every period)."""
    columns = _value_columns(values, keys)
    if not columns:
        return base
    at = base.index if len(keys) == base.index.nlevels else base.index.get_level_values(keys[-1])
    own = values.drop_duplicates(keys).set_index(keys)[columns].astype(float).reindex(at)
    patients = base["patients"].to_numpy()[:, None]
    n = pd.DataFrame(np.nan_to_num(own.to_numpy() * patients), index=base.index,
                     columns=[f"n__{c}" for c in columns])
    d = pd.DataFrame(own.notna().to_numpy() * patients, index=base.index,
                     columns=[f"d__{c}" for c in columns])
    return pd.concat([base, n, d], axis=1)


#: Base columns summed together by :func:`rollup` (a block at a time, not the whole base).
ROLLUP_COLUMNS = 24


def rollup(base: pd.DataFrame, members: pd.DataFrame, code: str) -> pd.DataFrame:
    """Sum base rows (indexed by period and ``code``) into units: members has ``code`` and
    unit_code, and ``period`` when membership changes from period to period."""
    on = [c for c in ("period", code) if c in members.columns]
    # the keys joined, then the base rows taken by position: merging the base itself
    # (400k LSOA rows x 140 sums a national year) copied it three times for every level
    keys = base.index.to_frame(index=False).assign(row=np.arange(len(base)))
    joined = members[[*on, "unit_code"]].drop_duplicates().merge(keys, on=on, how="inner")
    joined = joined[joined["period"].notna() & joined["unit_code"].notna()]  # (groupby's dropna)
    # the units numbered once in sorted order (as grouping by the two index levels sorts
    # them), and the rows taken and summed a block of columns at a time: a whole copy of a
    # national year's LSOA base (0.45 GB) is not held beside it; each group's rows in the same
    # order as before, so the same sums
    units = pd.MultiIndex.from_arrays([joined["period"], joined["unit_code"]], names=UNIT)
    ids, index = pd.factorize(units, sort=True)
    at = joined["row"].to_numpy()
    blocks = []
    for lo in range(0, base.shape[1], ROLLUP_COLUMNS):
        rows = base.iloc[:, lo:lo + ROLLUP_COLUMNS].take(at)
        blocks.append(rows.groupby(ids).sum().set_axis(index.set_names(UNIT)))
        del rows
    summed = pd.concat(blocks, axis=1) if len(blocks) > 1 else blocks[0]
    summed["practices"] = (pd.Series(base["patients"].to_numpy()[at] > 0).groupby(ids).sum()
                           .to_numpy() if code == "practice_code" else np.nan)
    return summed


def unit_practice(data: PeriodData, m: lv.Membership, base: BaseSums) -> ibis.Table | pd.DataFrame:
    """period, unit_code, practice_code, patients: each unit's patients at each practice (for
    practice-based units a small frame from the base sums, else summed in the engine)."""
    if m.kind == "practice":
        members = m.members[[*BY_PRACTICE, "unit_code"]].drop_duplicates()
        patients = base.practice["patients"].rename("patients").reset_index()
        return members.merge(patients, on=BY_PRACTICE, how="inner")
    if m.level == "lsoa":  # the matrix holds one row per practice and LSOA already
        known = data.matrix.filter(data.matrix.lsoa_known)
        return known.select("period", "practice_code", "patients", unit_code=known.lsoa_code)
    rows = unit_rows(data, [m])
    return rows.group_by([*UNIT, "practice_code"]).aggregate(patients=rows.patients.sum())


def _lsoa_pcns(data: PeriodData) -> ibis.Table | None:
    """period, unit_code (LSOA), pcn_code, patients: each LSOA's patients in each PCN, from the
    PCN x LSOA sums the footprints read too."""
    sums = data.pcn_lsoa()
    if sums is None:
        return None
    return sums.select("period", unit_code=sums.lsoa_code, pcn_code=sums.unit_code,
                       patients=sums.patients)


def _largest(rows: ibis.Table | pd.DataFrame, by: str) -> pd.DataFrame:
    """Per period and unit: how many ``by`` hold patients, the largest (ties: the lowest code),
    its patients and the unit total (in the engine: hash aggregates and a join, cheaper than a
    sorted window; the per-unit aggregate is fetched and joined back as rows of its own, so
    the engine reads ``rows`` twice instead of holding them between the two: a national
    year's LSOA level is the whole 14.6M-row matrix, which DuckDB kept as a 0.7 GB CTE)."""
    if isinstance(rows, pd.DataFrame):
        grouped = rows.groupby(UNIT)
        first = rows.sort_values([*UNIT, "patients", by], ascending=[True, True, False, True])
        first = first.drop_duplicates(UNIT).set_index(UNIT)
        return pd.DataFrame({by: first[by], "patients": first["patients"],
                             "total": grouped["patients"].sum(), "count": grouped[by].count()})
    per_unit = rows.group_by(UNIT).aggregate(
        top=rows.patients.max(), total=rows.patients.sum(), count=rows[by].count())
    per_unit = to_engine(per_unit.to_pyarrow(), rows)
    joined = rows.inner_join(per_unit, UNIT)
    joined = joined.filter(joined.patients == joined.top)
    top = joined.group_by(UNIT).aggregate(
        **{by: joined[by].min()}, patients=joined.top.max(), total=joined.total.max(),
        count=joined["count"].max())
    return top.to_pandas().set_index(UNIT)


def top_shares(by_practice: ibis.Table | pd.DataFrame, pcn_members: pd.DataFrame | None,
               pcns: ibis.Table | None = None) -> pd.DataFrame:
    """Per unit: practices and PCNs holding its patients, the largest of each and its share (%).
    ``pcns``: the unit's patients in each PCN (period, unit_code, pcn_code, patients > 0) where
    they are summed already (LSOA units: the PCN x LSOA sums), else summed from
    ``by_practice``."""
    by_practice = by_practice[by_practice["patients"] > 0] if isinstance(
        by_practice, pd.DataFrame) else by_practice.filter(by_practice.patients > 0)
    top = _largest(by_practice, "practice_code")
    out = pd.DataFrame({"distinct_practices": top["count"].astype("int64"),
                        "largest_practice_code": top["practice_code"],
                        "largest_practice_pct": 100 * top["patients"] / top["total"]})
    if pcns is not None:
        top_pcn = _largest(pcns, "pcn_code").reindex(out.index)
        out["pcns"] = top_pcn["count"].fillna(0).astype("int64")
        out["largest_pcn_code"] = top_pcn["pcn_code"]
        out["largest_pcn_pct"] = 100 * top_pcn["patients"] / top["total"]
    elif pcn_members is not None:
        pcn_map = pcn_members[[*BY_PRACTICE, "unit_code"]].drop_duplicates(BY_PRACTICE)
        pcn_map = pcn_map.rename(columns={"unit_code": "pcn_code"})
        if isinstance(by_practice, pd.DataFrame):
            joined = by_practice.merge(pcn_map, on=BY_PRACTICE, how="inner")
            pcns = joined.groupby([*UNIT, "pcn_code"], as_index=False)["patients"].sum()
        else:
            pcn_map = to_engine(pcn_map, by_practice)
            joined = by_practice.inner_join(pcn_map, BY_PRACTICE)
            pcns = joined.group_by([*UNIT, "pcn_code"]).aggregate(
                patients=joined.patients.sum())
        top_pcn = _largest(pcns, "pcn_code").reindex(out.index)
        out["pcns"] = top_pcn["count"].fillna(0).astype("int64")
        out["largest_pcn_code"] = top_pcn["pcn_code"]
        out["largest_pcn_pct"] = 100 * top_pcn["patients"] / top["total"]
    return out


def level_profile(data: PeriodData, store: Store, level: str,
                  base: BaseSums | None = None) -> pd.DataFrame | None:
    """The profile of every unit of ``level`` in every period of ``data`` (None when the level
    has no units)."""
    if level == "lsoa":  # every LSOA with registered patients is a unit of its own
        found = [lv.Membership("lsoa", "lsoa", pd.DataFrame(columns=["lsoa_code", "unit_code",
                                                                     "unit_name"]))]
    else:
        try:
            found = [m for m in memberships(store, level, data) if len(m.members)]
        except LookupError:
            return None
    if not found:
        return None
    base = base or base_sums(data)
    sums, shares = [], []
    for m in found:
        if m.level == "lsoa":
            sums.append(base.lsoa.rename_axis(UNIT).assign(practices=np.nan))
        else:
            table = base.practice if m.kind == "practice" else base.lsoa
            sums.append(rollup(table, m.members, f"{m.kind}_code"))
        if level != "practice":
            by_practice = unit_practice(data, m, base)
            if m.kind == "lsoa" and m.level != "lsoa":  # summed once, read twice
                by_practice = by_practice.cache()
            try:
                shares.append(top_shares(by_practice, data.pcn_members,
                                         _lsoa_pcns(data) if m.level == "lsoa" else None))
            finally:
                if isinstance(by_practice, ibis.expr.types.CachedTable):
                    by_practice.release()
    summed = pd.concat(sums)
    summed = summed[summed["patients"] > 0]
    out = _columns(summed)
    if shares:
        extra = pd.concat(shares)
        out["practices"] = out["practices"].fillna(extra["distinct_practices"])
        out = out.join(extra.drop(columns="distinct_practices"))
        out["dominant_practice"] = out["largest_practice_pct"] > DOMINANT_PCT
    out["practices"] = out["practices"].astype("int64")
    out = out.reset_index()
    names = _names(found, data.periods)
    out = out.merge(names, on=[c for c in UNIT if c in names.columns], how="left")
    if level == "lsoa":
        named = out["unit_code"].map(lv.lsoa_names(store, data.lsoa_vintage))
        out["unit_name"] = named.fillna(out["unit_code"])
    if data.population is not None and found[0].kind == "lsoa":
        out = _coverage(out, found, data)
    front = {"period": out["period"], "level": level, LEVEL_CODE[level]: out["unit_code"],
             "unit_code": out["unit_code"], "unit_name": out["unit_name"]}
    rest = out.drop(columns=["period", "unit_code", "unit_name"])
    out = pd.concat([pd.DataFrame(front), rest], axis=1)
    if level == "practice":
        out = _parents(store, data.periods, out, data.mappings)
    out["imd_edition"] = data.imd_edition
    out["lsoa_vintage"] = data.lsoa_vintage
    out["lsoa_harmonisation"] = data.harmonisation
    return out.sort_values(UNIT).reset_index(drop=True)


#: Characteristics reported as percentages, and their published names where they differ.
_PERCENT = re.compile(r"imd_decile_\d+|core20|ethnic_\w+|ruc_\w+|rural|female|under_18|age_\w+"
                      r"|(fe)?male_age_\w+|resident_age_\w+")
_RENAME = {"under_18": "pct_under_18", "age_65_plus": "pct_65_plus", "age_85_plus": "pct_85_plus",
           "ethnic_non_white": "pct_non_white", "rural": "pct_rural"}


def _columns(summed: pd.DataFrame) -> pd.DataFrame:
    """Turn summed n/d pairs into the documented score and percentage columns (per period and
    unit; deciles rank the units of each period)."""
    # numpy arrays, not Series: every Series operation would align on the (string) unit index
    patients = summed["patients"].to_numpy(dtype=float)
    columns = {"patients": patients, "practices": summed["practices"].to_numpy(),
               "unknown_lsoa_pct": 100 * summed["unknown"].to_numpy(dtype=float) / patients}
    for n in [c for c in summed.columns if c.startswith("n__")]:
        c = n[3:]
        d = summed[f"d__{c}"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(d > 0, summed[n].to_numpy(dtype=float) / d, np.nan)
        if _PERCENT.fullmatch(c):
            columns[_RENAME.get(c, f"{c}_pct")] = 100 * mean
        else:
            columns[c] = mean
    out = pd.DataFrame(columns, index=summed.index)
    if "imd_score" in out:
        out["imd_matched_pct"] = 100 * summed["d__imd_score"].to_numpy(dtype=float) / patients
        out["imd_score_decile"] = score_decile(out["imd_score"], by="period")
    first = [c for c in ("patients", "practices", "unknown_lsoa_pct", "imd_score",
                         "imd_score_decile", "imd_matched_pct", "core20_pct") if c in out]
    return out[first + [c for c in out.columns if c not in first]]


def _parents(store: Store, periods: list[str], out: pd.DataFrame,
             mappings: lv.Mappings | None = None) -> pd.DataFrame:
    """Each practice's PCN, Sub-ICB and ICB in the mapping of its period (or the nearest)."""
    chosen = {p: lv.mapping_period_quiet(store, p, mappings) for p in periods}
    chosen = {p: c for p, c in chosen.items() if c is not None}
    if not chosen:
        return out
    sources = sorted(set(chosen.values()))
    mapping = store.read("practice_pcn", period=sources[0] if len(sources) == 1 else sources)
    parents = mapping.rename(columns={"period": "source"})[["source", "practice_code",
                                                           *PARENT_COLUMNS]]
    parents = parents.drop_duplicates(["source", "practice_code"])
    links = pd.DataFrame({"period": list(chosen), "source": list(chosen.values())})
    parents = links.merge(parents, on="source").drop(columns="source")
    merged = out.merge(parents, on=BY_PRACTICE, how="left")
    at = merged.columns.get_loc("unit_name") + 1
    return merged[[*merged.columns[:at], *PARENT_COLUMNS,
                   *[c for c in merged.columns[at:] if c not in PARENT_COLUMNS]]]


def _names(found: list[lv.Membership], periods: list[str]) -> pd.DataFrame:
    """Each unit's name (per period where membership changes with the period)."""
    frames = [m.members for m in found if m.level != "lsoa"]
    if not frames:
        return pd.DataFrame(columns=lv.UNIT_COLUMNS)
    keys = UNIT if any("period" in f.columns for f in frames) else ["unit_code"]
    every = pd.DataFrame({"period": periods})
    frames = [f if "period" in f.columns or len(keys) == 1 else every.merge(f, how="cross")
              for f in frames]
    names = pd.concat([f[[*keys, "unit_name"]] for f in frames])
    names = names.dropna(subset=["unit_code"]).sort_values("unit_name", na_position="last")
    return names.drop_duplicates(keys)


def score_decile(score: pd.Series, by: str | None = None) -> pd.Series:
    """Decile of each unit's score among the units of its level: 1 = the tenth with the highest
    (most deprived) scores; decile = ceil(10 x rank / n), rank 1 = highest, ties sharing the
    lower rank -- deciles from ranks, as the English Indices of Deprivation assign LSOA deciles
    (MHCLG, *The English Indices of Deprivation 2019: Technical report*). ``by``: an index
    level (e.g. period) whose groups are ranked apart."""
    if by is not None:
        groups = score.index.get_level_values(by)
        out = pd.Series(pd.NA, index=score.index, dtype="Int64")
        for value in pd.unique(groups):
            inside = groups == value
            out[inside] = score_decile(score[inside]).to_numpy()
        return out
    n = int(score.notna().sum())
    rank = score.rank(method="min", ascending=False)
    return (np.ceil(10 * rank / n)).astype("Int64") if n else pd.Series(pd.NA, index=score.index,
                                                                       dtype="Int64")


def _coverage(out: pd.DataFrame, found: list[lv.Membership], data: PeriodData) -> pd.DataFrame:
    """Residents (population on the profile's vintage) of place units and registered/residents."""
    frames = []
    for m in found:
        if m.level == "lsoa":
            codes = out["unit_code"].drop_duplicates()
            frames.append(pd.DataFrame({"unit_code": codes, "lsoa_code": codes}))
        elif m.kind == "lsoa":
            frames.append(m.members[["unit_code", "lsoa_code"]])
    members = pd.concat(frames).drop_duplicates()
    members["residents"] = members["lsoa_code"].map(data.population)
    residents = members.groupby("unit_code")["residents"].sum(min_count=1)
    out["residents"] = out["unit_code"].map(residents)
    out["coverage_pct"] = 100 * out["patients"] / out["residents"]
    return out


# ----------------------------------------------------------------------------- build step
#: Periods profiled together at most (their matrix is cached in the engine at once).
PERIODS_AT_ONCE = 12


def build_profiles(store: Store, *, imd_edition: str | None = None,
                   progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Build every profile table for every registration period; returns rows per table.
    Periods on one LSOA vintage are profiled together, up to :data:`PERIODS_AT_ONCE` at once.
    The PCN (and group) x LSOA tables are written by the engine from its own rows: straight
    into the store when one batch holds every period, else from each batch's rows kept in the
    engine."""
    if not store.has("registrations_lsoa"):
        return {}
    tables: dict[str, list[pd.DataFrame]] = {}
    parts: dict[str, list[ibis.Table]] = {}
    written: dict[str, int] = {}
    batches = _batches(registration_vintages(store))

    def keep(name: str, rows: ibis.Table) -> ibis.Table:
        if len(batches) > 1:
            parts.setdefault(name, []).append(rows.cache())
            return parts[name][-1]
        store.replace_table(name, rows)
        written[name] = int(store.table(name).count().execute())
        return store.table(name)

    def put(name: str, frame: pd.DataFrame) -> None:
        # one batch (every period on one vintage): written now, so a national table is not
        # held while the next is computed; else each batch's part kept for the whole
        if len(batches) > 1:
            tables.setdefault(name, []).append(frame)
        else:
            _write(store, name, [frame], written, False)

    try:
        for periods in batches:
            if progress:
                for period in periods:
                    progress(period)
            data = period_data(store, periods, imd_edition)
            try:
                _tables(store, data, keep, put)
            finally:
                data.release()
        for name, cached in parts.items():  # period order: each batch's rows in table order
            rows = cached[0]
            for part in cached[1:]:
                rows = rows.union(part, distinct=False)
            key = rows.columns[1]  # pcn_code or group_name
            store.replace_table(name, rows.order_by(
                ["period", key, ibis.desc(rows.patients), rows.lsoa_code]))
            written[name] = int(store.table(name).count().execute())
    finally:
        for cached in parts.values():
            for part in cached:
                part.release()
    for name in list(tables):
        _write(store, name, tables.pop(name), written, len(batches) > 1)
    return written


def _write(store: Store, name: str, frames: list[pd.DataFrame], written: dict[str, int],
           batched: bool) -> None:
    """Write a profile table from its parts (one per batch of periods; empty ones: nothing)."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return
    frame = pd.concat(frames, ignore_index=True)
    frames.clear()
    if batched:  # period order, each period's rows as built
        frame = frame.sort_values("period", kind="stable", ignore_index=True)
    store.replace_table(name, frame)
    written[name] = len(frame)
    del frame
    store.let_go()


def _batches(vintages: dict[str, int | None]) -> list[list[str]]:
    """Periods in order, split where the LSOA vintage changes and every PERIODS_AT_ONCE."""
    batches: list[list[str]] = []
    for vintage in dict.fromkeys(vintages[p] for p in sorted(vintages)):
        same = [p for p in sorted(vintages) if vintages[p] == vintage]
        batches += [same[i:i + PERIODS_AT_ONCE] for i in range(0, len(same), PERIODS_AT_ONCE)]
    return batches


def period_tables(store: Store, period: str, imd_edition: str | None = None) -> dict[str, pd.DataFrame]:
    """Every profile table of one registration period."""
    return periods_tables(store, [period], imd_edition)


def periods_tables(store: Store, periods: list[str],
                   imd_edition: str | None = None) -> dict[str, pd.DataFrame]:
    """Every profile table of some registration periods on one LSOA vintage, built together
    (as pandas: the tables the build writes from the engine are read back)."""
    data = period_data(store, periods, imd_edition)
    kept: dict[str, ibis.Table] = {}

    def keep(name: str, rows: ibis.Table) -> ibis.Table:
        kept[name] = rows.cache()
        return kept[name]

    out: dict[str, pd.DataFrame] = {}
    try:
        _tables(store, data, keep, out.__setitem__)
        for name in ENGINE_TABLES:
            if name in kept:
                out[name] = kept[name].to_pandas()
            elif name == "pcn_lsoa" or "group_footprint" in out:
                out[name] = pd.DataFrame()
        return {name: out[name] for name in sorted(out, key=_ORDER.get)}
    finally:
        for rows in kept.values():
            rows.release()
        data.release()


#: Tables written by the engine from its own rows (their footprints read them back).
ENGINE_TABLES = ("pcn_lsoa", "group_lsoa")


def _tables(store: Store, data: PeriodData, keep: Callable[[str, ibis.Table], ibis.Table],
            put: Callable[[str, pd.DataFrame], None]) -> None:
    """The tables of ``data``'s periods: the pandas ones handed to ``put`` as each is made
    (with what is computed from it), the PCN and group x LSOA tables to ``keep`` (which writes
    or caches them, and returns their rows)."""
    # the PCN x LSOA table first: its window is the step's largest working set in the
    # engine, best met before the profiles are held in memory
    lsoas = pcn_lsoa(data)
    if lsoas is not None and data.pcn_lsoa().count().execute():  # (no rows: not written)
        lsoas = keep("pcn_lsoa", lsoas)
    else:
        lsoas = None
    store.let_go()  # (the window's sort leaves DuckDB holding ~0.6 GB it no longer uses)
    base = base_sums(data)
    store.let_go()
    lsoa_profile = None
    for level in PROFILE_TABLES:
        with warnings.catch_warnings():
            if level != "practice":  # the mapping-period warning is given once
                warnings.simplefilter("ignore", lv.LevelWarning)
            frame = level_profile(data, store, level, base)
        if frame is not None and len(frame):
            put(PROFILE_TABLES[level], frame)
            if level == "lsoa":
                lsoa_profile = frame[[c for c in frame.columns if c in FRAGMENTED_COLUMNS]]
        del frame
    # the registered residents of each LSOA, apart: the base sums (a national year's LSOAs x
    # ~130 sums) are let go here
    registered = base.lsoa["patients"].copy()
    del base
    put("fragmented_lsoas", fragmented_lsoas(lsoa_profile))
    del lsoa_profile
    footprint = pcn_footprint(lsoas)
    put("pcn_footprint", footprint)
    try:
        la_members = lv.lsoa_units(store, "la", vintage=data.lsoa_vintage)
    except LookupError:
        la_members = None
    put("pcn_la", pcn_la(data, la_members, footprint, registered))
    groups = memberships(store, "group", data)
    if groups:
        sums = unit_lsoa_sums(data, groups)
        rows = None
        if sums is not None and sums.count().execute():
            rows = keep("group_lsoa", group_lsoa(data, groups, sums))
        put("group_footprint", pcn_footprint(rows, "group"))


#: The order of period_tables' tables (as they were built before the x LSOA tables were
#: written by the engine).
_ORDER = {name: i for i, name in enumerate(
    [*PROFILE_TABLES.values(), "pcn_lsoa", "pcn_footprint", "pcn_la", "fragmented_lsoas",
     "group_lsoa", "group_footprint"])}


def build(store: Store) -> dict[str, int]:
    """The ``placehealth build`` step (see analyses.BUILD_STEPS)."""
    return build_profiles(store)


__all__ = ["base_sums", "build", "build_profiles", "level_profile", "period_data",
           "period_tables", "periods_tables", "rollup", "score_decile"]
