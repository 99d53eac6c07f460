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
    fragmented_lsoas,
    group_lsoa,
    pcn_footprint,
    pcn_la,
    pcn_lsoa,
)
from placehealth.analyses.matrix import PeriodData, period_data, unit_rows
from placehealth.store import Store

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

    practice: pd.DataFrame  # index practice_code: patients, unknown, n__*/d__*
    lsoa: pd.DataFrame  # index lsoa_code: patients, unknown (0), n__*/d__*


def base_sums(data: PeriodData) -> BaseSums:
    """Join the registration matrix once to the LSOA characteristics (summed per practice) and
    once to the practice characteristics (summed per LSOA)."""
    m = data.matrix
    by_practice = _joined_sums(m, data.lsoa_values, "lsoa_code", "practice_code",
                               extra=lambda t: {"unknown": t.patients.sum(where=~t.lsoa_known)})
    by_practice["unknown"] = by_practice["unknown"].fillna(0.0)
    by_practice = _own_sums(by_practice, data.practice_values, "practice_code")
    known = m.filter(m.lsoa_known)
    # the age-sex pyramid is kept to practice-based units: spreading 38 more practice columns
    # over every practice x LSOA row would half again the build time for an estimate
    per_place = data.practice_values[[c for c in data.practice_values.columns
                                      if not c.startswith(PYRAMID)]]
    by_lsoa = _joined_sums(known, per_place, "practice_code", "lsoa_code")
    by_lsoa["unknown"] = 0.0
    by_lsoa = _own_sums(by_lsoa, data.lsoa_values, "lsoa_code")
    return BaseSums(by_practice, by_lsoa)


def _value_columns(values: pd.DataFrame, key: str) -> list[str]:
    return [c for c in values.columns if c != key]


def _joined_sums(matrix: ibis.Table, values: pd.DataFrame, key: str, by: str,
                 extra: Callable[[ibis.Table], dict] | None = None) -> pd.DataFrame:
    """Per ``by``: patients and, for each column of ``values`` (joined on ``key``), the sums
    n = sum(patients x value) and d = sum(patients where the value is known)."""
    columns = _value_columns(values, key)
    joined = matrix
    if columns:
        table = ibis.memtable(values[[key, *columns]].astype({c: "float64" for c in columns}))
        joined = matrix.left_join(table, matrix[key] == table[key])
    extras = extra(joined) if extra else {}
    sums = {"patients": joined.patients.sum(), **extras}
    for i, c in enumerate(columns):
        sums[f"n{i}"] = (joined.patients * joined[c]).sum()
        sums[f"d{i}"] = joined.patients.sum(where=joined[c].notnull())
    raw = joined.group_by(by).aggregate(**sums).to_pandas().set_index(by)
    out = {"patients": raw["patients"].astype(float)}
    for name in extras:
        out[name] = raw[name].astype(float)
    for i, c in enumerate(columns):
        out[f"n__{c}"] = raw[f"n{i}"].astype(float).fillna(0.0)
        out[f"d__{c}"] = raw[f"d{i}"].astype(float).fillna(0.0)
    return pd.DataFrame(out, index=raw.index)


def _own_sums(base: pd.DataFrame, values: pd.DataFrame, key: str) -> pd.DataFrame:
    """Add n/d sums for the base rows' own characteristics (weight = all their patients)."""
    columns = _value_columns(values, key)
    if not columns:
        return base
    own = values.drop_duplicates(key).set_index(key)[columns].astype(float).reindex(base.index)
    patients = base["patients"].to_numpy()[:, None]
    n = pd.DataFrame(np.nan_to_num(own.to_numpy() * patients), index=base.index,
                     columns=[f"n__{c}" for c in columns])
    d = pd.DataFrame(own.notna().to_numpy() * patients, index=base.index,
                     columns=[f"d__{c}" for c in columns])
    return pd.concat([base, n, d], axis=1)


def rollup(base: pd.DataFrame, members: pd.DataFrame, code: str) -> pd.DataFrame:
    """Sum base rows (indexed by ``code``) into units: members has ``code`` and unit_code."""
    joined = members[[code, "unit_code"]].drop_duplicates().merge(
        base, left_on=code, right_index=True, how="inner")
    summed = joined.drop(columns=code).groupby("unit_code").sum()
    summed["practices"] = (joined["patients"].gt(0).groupby(joined["unit_code"]).sum()
                           if code == "practice_code" else np.nan)
    return summed


def unit_practice(data: PeriodData, m: lv.Membership, base: BaseSums) -> ibis.Table:
    """unit_code, practice_code, patients: each unit's patients at each practice."""
    if m.kind == "practice":
        members = m.members[["practice_code", "unit_code"]].drop_duplicates()
        patients = members["practice_code"].map(base.practice["patients"])
        frame = members.assign(patients=patients.to_numpy()).dropna(subset=["patients"])
        return ibis.memtable(frame.astype({"patients": "float64"}))
    rows = unit_rows(data, [m])
    if m.level == "lsoa":  # the matrix holds one row per practice and LSOA already
        return rows.select("unit_code", "practice_code", "patients")
    return rows.group_by(["unit_code", "practice_code"]).aggregate(patients=rows.patients.sum())


def _largest(rows: ibis.Table, by: str) -> pd.DataFrame:
    """Per unit: how many ``by`` hold patients, the largest (ties: the lowest code), its patients
    and the unit total (hash aggregates and a join: cheaper than a sorted window)."""
    per_unit = rows.group_by("unit_code").aggregate(
        top=rows.patients.max(), total=rows.patients.sum(), count=rows[by].count())
    joined = rows.inner_join(per_unit, "unit_code")
    joined = joined.filter(joined.patients == joined.top)
    top = joined.group_by("unit_code").aggregate(
        **{by: joined[by].min()}, patients=joined.top.max(), total=joined.total.max(),
        count=joined["count"].max())
    return top.to_pandas().set_index("unit_code")


def top_shares(by_practice: ibis.Table, pcn_members: pd.DataFrame | None) -> pd.DataFrame:
    """Per unit: practices and PCNs holding its patients, the largest of each and its share (%)."""
    by_practice = by_practice.filter(by_practice.patients > 0)
    top = _largest(by_practice, "practice_code")
    out = pd.DataFrame({"distinct_practices": top["count"].astype("int64"),
                        "largest_practice_code": top["practice_code"],
                        "largest_practice_pct": 100 * top["patients"] / top["total"]})
    if pcn_members is not None:
        pcn_map = pcn_members[["practice_code", "unit_code"]].drop_duplicates("practice_code")
        pcn_map = ibis.memtable(pcn_map.rename(columns={"unit_code": "pcn_code"}))
        joined = by_practice.inner_join(pcn_map, "practice_code")
        pcns = joined.group_by(["unit_code", "pcn_code"]).aggregate(
            patients=joined.patients.sum())
        top_pcn = _largest(pcns, "pcn_code").reindex(out.index)
        out["pcns"] = top_pcn["count"].fillna(0).astype("int64")
        out["largest_pcn_code"] = top_pcn["pcn_code"]
        out["largest_pcn_pct"] = 100 * top_pcn["patients"] / top["total"]
    return out


def level_profile(data: PeriodData, store: Store, level: str,
                  base: BaseSums | None = None) -> pd.DataFrame | None:
    """The profile of every unit of ``level`` in one period (None when the level has no units)."""
    try:
        memberships = lv.membership(store, level, data.period, vintage=data.lsoa_vintage)
    except LookupError:
        return None
    memberships = [m for m in memberships if len(m.members) or m.level == "lsoa"]
    if not memberships:
        return None
    base = base or base_sums(data)
    sums, shares = [], []
    for m in memberships:
        if m.level == "lsoa":
            members = pd.DataFrame({"lsoa_code": base.lsoa.index, "unit_code": base.lsoa.index})
            m = lv.Membership("lsoa", "lsoa", members.assign(unit_name=members["unit_code"]))
        table = base.practice if m.kind == "practice" else base.lsoa
        sums.append(rollup(table, m.members, f"{m.kind}_code"))
        if level != "practice":
            shares.append(top_shares(unit_practice(data, m, base), data.pcn_members))
    summed = pd.concat(sums)
    summed = summed[summed["patients"] > 0]
    out = _columns(summed)
    if shares:
        extra = pd.concat(shares)
        out["practices"] = out["practices"].fillna(extra["distinct_practices"])
        out = out.join(extra.drop(columns="distinct_practices"))
        out["dominant_practice"] = out["largest_practice_pct"] > DOMINANT_PCT
    out["practices"] = out["practices"].astype("int64")
    out = out.rename_axis("unit_code").reset_index()
    out = out.merge(_names(memberships), on="unit_code", how="left")
    if level == "lsoa":
        named = out["unit_code"].map(lv.lsoa_names(store, data.lsoa_vintage))
        out["unit_name"] = named.fillna(out["unit_code"])
    if data.population is not None and memberships[0].kind == "lsoa":
        out = _coverage(out, memberships, data)
    front = {"period": data.period, "level": level, LEVEL_CODE[level]: out["unit_code"],
             "unit_code": out["unit_code"], "unit_name": out["unit_name"]}
    rest = out.drop(columns=["unit_code", "unit_name"])
    out = pd.concat([pd.DataFrame(front), rest], axis=1)
    if level == "practice":
        out = _parents(store, data.period, out)
    out["imd_edition"] = data.imd_edition
    out["lsoa_vintage"] = data.lsoa_vintage
    out["lsoa_harmonisation"] = data.harmonisation
    return out.sort_values("unit_code").reset_index(drop=True)


#: Characteristics reported as percentages, and their published names where they differ.
_PERCENT = re.compile(r"imd_decile_\d+|core20|ethnic_\w+|ruc_\w+|rural|female|under_18|age_\w+"
                      r"|(fe)?male_age_\w+|resident_age_\w+")
_RENAME = {"under_18": "pct_under_18", "age_65_plus": "pct_65_plus", "age_85_plus": "pct_85_plus",
           "ethnic_non_white": "pct_non_white", "rural": "pct_rural"}


def _columns(summed: pd.DataFrame) -> pd.DataFrame:
    """Turn summed n/d pairs into the documented score and percentage columns."""
    patients = summed["patients"]
    columns = {"patients": patients, "practices": summed["practices"],
               "unknown_lsoa_pct": 100 * summed["unknown"] / patients}
    for n in [c for c in summed.columns if c.startswith("n__")]:
        c = n[3:]
        d = summed[f"d__{c}"]
        mean = (summed[n] / d).where(d > 0)
        if _PERCENT.fullmatch(c):
            columns[_RENAME.get(c, f"{c}_pct")] = 100 * mean
        else:
            columns[c] = mean
    out = pd.DataFrame(columns, index=summed.index)
    if "imd_score" in out:
        out["imd_matched_pct"] = 100 * summed["d__imd_score"] / patients
        out["imd_score_decile"] = score_decile(out["imd_score"])
    first = [c for c in ("patients", "practices", "unknown_lsoa_pct", "imd_score",
                         "imd_score_decile", "imd_matched_pct", "core20_pct") if c in out]
    return out[first + [c for c in out.columns if c not in first]]


def _parents(store: Store, period: str, out: pd.DataFrame) -> pd.DataFrame:
    """Each practice's PCN, Sub-ICB and ICB in the mapping of the period (or the nearest)."""
    chosen = lv.mapping_period_quiet(store, period)
    if chosen is None:
        return out
    mapping = store.read("practice_pcn", period=chosen)
    parents = mapping[["practice_code", *PARENT_COLUMNS]].drop_duplicates("practice_code")
    merged = out.merge(parents, on="practice_code", how="left")
    at = merged.columns.get_loc("unit_name") + 1
    return merged[[*merged.columns[:at], *PARENT_COLUMNS,
                   *[c for c in merged.columns[at:] if c not in PARENT_COLUMNS]]]


def _names(memberships: list[lv.Membership]) -> pd.DataFrame:
    names = pd.concat([m.members[["unit_code", "unit_name"]] for m in memberships
                       if m.level != "lsoa"] or [pd.DataFrame(columns=lv.UNIT_COLUMNS)])
    names = names.dropna(subset=["unit_code"]).sort_values("unit_name", na_position="last")
    return names.drop_duplicates("unit_code")


def score_decile(score: pd.Series) -> pd.Series:
    """Decile of each unit's score among the units of its level: 1 = the tenth with the highest
    (most deprived) scores; decile = ceil(10 x rank / n), rank 1 = highest, ties sharing the
    lower rank -- deciles from ranks, as the English Indices of Deprivation assign LSOA deciles
    (MHCLG, *The English Indices of Deprivation 2019: Technical report*)."""
    n = int(score.notna().sum())
    rank = score.rank(method="min", ascending=False)
    return (np.ceil(10 * rank / n)).astype("Int64") if n else pd.Series(pd.NA, index=score.index,
                                                                       dtype="Int64")


def _coverage(out: pd.DataFrame, memberships: list[lv.Membership], data: PeriodData) -> pd.DataFrame:
    """Residents (population on the profile's vintage) of place units and registered/residents."""
    frames = []
    for m in memberships:
        if m.level == "lsoa":
            codes = out["unit_code"]
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
def build_profiles(store: Store, *, imd_edition: str | None = None,
                   progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Build every profile table for every registration period; returns rows per table."""
    if not store.has("registrations_lsoa"):
        return {}
    tables: dict[str, list[pd.DataFrame]] = {}
    for period in store.periods("registrations_lsoa"):
        if progress:
            progress(period)
        for name, frame in period_tables(store, period, imd_edition).items():
            tables.setdefault(name, []).append(frame)
    written = {}
    for name, frames in tables.items():
        frame = pd.concat([f for f in frames if not f.empty], ignore_index=True) if any(
            not f.empty for f in frames) else pd.DataFrame()
        if frame.empty:
            continue
        store.replace_table(name, frame)
        written[name] = len(frame)
    return written


def period_tables(store: Store, period: str, imd_edition: str | None = None) -> dict[str, pd.DataFrame]:
    """Every profile table of one registration period."""
    data = period_data(store, period, imd_edition)
    base = base_sums(data)
    out: dict[str, pd.DataFrame] = {}
    for level in PROFILE_TABLES:
        with warnings.catch_warnings():
            if level != "practice":  # the mapping-period warning is given once
                warnings.simplefilter("ignore", lv.LevelWarning)
            frame = level_profile(data, store, level, base)
        if frame is not None and len(frame):
            out[PROFILE_TABLES[level]] = frame
    lsoas = pcn_lsoa(data)
    out["pcn_lsoa"] = lsoas
    out["pcn_footprint"] = pcn_footprint(lsoas)
    try:
        la_members = lv.lsoa_units(store, "la", vintage=data.lsoa_vintage)
    except LookupError:
        la_members = None
    out["pcn_la"] = pcn_la(lsoas, la_members, data)
    out["fragmented_lsoas"] = fragmented_lsoas(out.get("lsoa_profile"))
    groups = lv.membership(store, "group", period)
    if groups:
        out["group_lsoa"] = group_lsoa(data, groups)
        out["group_footprint"] = pcn_footprint(out["group_lsoa"], "group")
    data.matrix.release()
    return out


def build(store: Store) -> dict[str, int]:
    """The ``placehealth build`` step (see analyses.BUILD_STEPS)."""
    return build_profiles(store)


__all__ = ["base_sums", "build", "build_profiles", "level_profile", "period_data",
           "period_tables", "rollup", "score_decile"]
