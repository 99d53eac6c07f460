"""LSOA and practice characteristics a profile averages, as wide tables keyed by code.

- LSOA characteristics (keyed by lsoa_code): IMD score and domain scores of one edition, 0/1
  indicators of the national IMD decile and Core20, Census 2021 TS021 ethnic-group shares of usual
  residents, 0/1 indicators of the rural-urban class, and shares of usual residents in the six
  Census 2021 age groups (where no practice age file is loaded);
- practice characteristics (keyed by practice_code): shares of patients by 5-year age band,
  under 18, 65+, 85+ and female, from the registrations by age.

:mod:`placehealth.analyses.profile` turns each into registration-weighted means per unit.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from placehealth import levels as lv
from placehealth.geography import Crosswalk, harmonise_frame
from placehealth.store import Store

AGE_BANDS = [(a, a + 4) for a in range(0, 90, 5)] + [(90, None)]


def imd_values(store: Store, edition: str | None) -> pd.DataFrame:
    """LSOA columns from one IMD edition: imd_score, {domain}_score for each domain with scores,
    and 0/1 indicators of the overall IMD decile (imd_decile_1..10) and Core20 (deciles 1-2)."""
    if edition is None:
        return pd.DataFrame(columns=["lsoa_code"])
    imd = store.read("imd", edition=edition)
    scores = imd.pivot_table(index="lsoa_code", columns="domain", values="score", aggfunc="first")
    scores = scores.dropna(axis=1, how="all")
    scores.columns = [f"{_slug(d)}_score" for d in scores.columns]
    out = scores.reset_index()
    overall = imd[imd["domain"] == "imd"].set_index("lsoa_code")["decile"]
    if overall.notna().any():
        decile = out["lsoa_code"].map(overall).reindex(out.index)
        extra = overall.index.difference(out["lsoa_code"])
        if len(extra):
            out = pd.concat([out, pd.DataFrame({"lsoa_code": extra})], ignore_index=True)
            decile = out["lsoa_code"].map(overall)
        decile = decile.astype("Float64").astype(float)
        for d in range(1, 11):
            out[f"imd_decile_{d}"] = np.where(decile.isna(), np.nan, (decile == d).astype(float))
        out["core20"] = np.where(decile.isna(), np.nan, (decile <= 2).astype(float))
    return out


#: Census 2021 TS021 high-level ethnic groups, by the first word of the category.
ETHNIC_GROUPS = {"asian": "asian", "black": "black", "mixed": "mixed", "white": "white",
                 "other": "other"}


def ethnicity_values(store: Store, vintage: int | None, walk_back: Crosswalk | None) -> pd.DataFrame:
    """LSOA shares of usual residents in each high-level TS021 ethnic group (ethnic_asian, ...).

    Detailed categories ('Group: Detail') are summed to their group when present; Census counts on
    2021 codes are moved to 2011 codes (by :func:`harmonise_frame`) when the profile is on 2011.
    """
    if not store.has("census"):
        return pd.DataFrame(columns=["lsoa_code"])
    t = store.table("census")
    rows = t.filter(t.census_table == "TS021").to_pandas()
    if rows.empty:
        return pd.DataFrame(columns=["lsoa_code"])
    labels = pd.Series(rows["category"].unique())
    clean = labels.str.replace(r"^Ethnic group:\s*", "", regex=True)
    first = clean.str.split(r"[\s,:]", n=1, regex=True).str[0].str.lower().map(ETHNIC_GROUPS)
    category = rows["category"].map(dict(zip(labels, clean, strict=True)))
    group = rows["category"].map(dict(zip(labels, first, strict=True)))
    total = category.str.startswith("Total")
    detailed = category.str.contains(":") & ~total
    use = detailed if detailed.any() else ~total
    counts = rows[use & group.notna()].assign(group=group[use & group.notna()])
    wide = counts.pivot_table(index="lsoa_code", columns="group", values="residents",
                              aggfunc="sum", fill_value=0).astype(float)
    wide.columns = [f"ethnic_{c}" for c in wide.columns]
    wide = wide.reset_index()
    if walk_back is not None and vintage != 2021:
        wide = harmonise_frame(wide, walk_back, [c for c in wide.columns if c != "lsoa_code"])
    parts = [c for c in wide.columns if c != "lsoa_code"]
    residents = wide[parts].sum(axis=1)
    for c in parts:
        wide[c] = (wide[c] / residents).where(residents > 0)
    if "ethnic_white" in wide:
        wide["ethnic_non_white"] = 1.0 - wide["ethnic_white"]
    return wide


def rural_urban_values(store: Store, vintage: int | None) -> pd.DataFrame:
    """0/1 indicators of each LSOA's rural-urban class (ruc_{code}) and of being rural, from
    geography_lookup level 'ruc' on the profile's LSOA vintage (none when not loaded)."""
    rows = lv.lookup_rows(store, "ruc", vintage=vintage) if vintage else None
    if rows is None or rows.empty:
        return pd.DataFrame(columns=["lsoa_code"])
    out = pd.DataFrame({"lsoa_code": rows["lsoa_code"].values})
    codes = rows["area_code"].astype(str).values
    for code in sorted(set(codes)):
        out[f"ruc_{_slug(code)}"] = (codes == code).astype(float)
    names = rows["area_name"].fillna(rows["area_code"]).astype(str).str.lower().values
    out["rural"] = pd.Series(names).str.contains("rural").astype(float).values
    return out.drop_duplicates("lsoa_code")


#: The Census 2021 age groups of usual residents (TS007A's six broad groups); finer bands
#: (single years of age, 5-year bands) are summed into them.
RESIDENT_AGE_GROUPS = [(0, 15), (16, 24), (25, 34), (35, 49), (50, 64), (65, None)]


def resident_age_values(store: Store, vintage: int | None,
                        walk_back: Crosswalk | None) -> pd.DataFrame:
    """LSOA shares of usual residents in the six Census 2021 age groups (resident_age_0_15 ...
    resident_age_65_plus), from ``lsoa_population`` (its latest period on the profile's LSOA
    vintage, else 2021 counts moved to 2011 codes). A band that does not fit inside one group
    is left out of both the group and the total. Used for an age profile where no practice age
    file is loaded: the ages of the people living where a unit's patients live, not of the
    patients themselves."""
    empty = pd.DataFrame(columns=["lsoa_code"])
    if vintage is None or not store.has("lsoa_population"):
        return empty
    t = store.table("lsoa_population")
    t = t.filter(t.age_from >= 0)
    on = sorted(v for v in t.select("lsoa_vintage").distinct().to_pandas()["lsoa_vintage"]
                if pd.notna(v))
    source = vintage if vintage in on else (2021 if 2021 in on and walk_back is not None
                                            else None)
    if source is None:
        return empty
    t = t.filter(t.lsoa_vintage == source)
    periods = sorted(p for p in t.select("period").distinct().to_pandas()["period"] if p)
    rows = t.filter(t.period == periods[-1]).to_pandas()
    if (rows["sex"].str.upper() == "ALL").any():
        rows = rows[rows["sex"].str.upper() == "ALL"]
    top = rows["age_to"].astype("Float64").fillna(np.inf).astype(float)
    group = pd.Series(pd.NA, index=rows.index, dtype=object)
    for a, b in RESIDENT_AGE_GROUPS:
        inside = (rows["age_from"] >= a) & (top <= (np.inf if b is None else b))
        group = group.where(~inside | group.notna(), _band_name(a, b).replace("age_",
                                                                               "resident_age_"))
    rows = rows.assign(group=group).dropna(subset=["group"])
    if rows.empty:
        return empty
    wide = rows.pivot_table(index="lsoa_code", columns="group", values="population",
                            aggfunc="sum", fill_value=0).astype(float).reset_index()
    if source != vintage:
        wide = harmonise_frame(wide, walk_back, [c for c in wide.columns if c != "lsoa_code"])
    parts = [c for c in wide.columns if c != "lsoa_code"]
    residents = wide[parts].sum(axis=1)
    for c in parts:
        wide[c] = (wide[c] / residents).where(residents > 0)
    return wide


def age_values(store: Store, period: str) -> pd.DataFrame:
    """Practice shares of patients by 5-year age band (age_0_4 ... age_90_plus; and by sex,
    male_age_0_4 ... female_age_90_plus, each a share of all patients), under 18, 65+, 85+ and
    female, from registrations_age of ``period`` (or the nearest period, with a note).

    A 5-year band share is left empty for a practice whose bands straddle it; under 18, 65+ and
    85+ split a closed band across the cut by its years (5-year files give 3/5 of 15-19 to
    under 18), and are empty where an open band crosses the cut.
    """
    return age_values_many(store, [period]).drop(columns="period")


def age_values_many(store: Store, periods: list[str]) -> pd.DataFrame:
    """:func:`age_values` of several registration periods at once (column ``period``): the age
    files they use are read in one query and every practice of every file shared in one pass."""
    empty = pd.DataFrame(columns=["period", "practice_code"])
    if not store.has("registrations_age"):
        return empty
    available = store.periods("registrations_age")
    chosen = {p: lv.nearest_period(available, p)[0] for p in periods}
    chosen = {p: c for p, c in chosen.items() if c is not None}
    if not chosen:
        return empty
    sources = sorted(set(chosen.values()))
    ages = store.read("registrations_age", period=sources[0] if len(sources) == 1 else sources)
    shares = _age_shares(ages)
    links = pd.DataFrame({"period": list(chosen), "source": list(chosen.values())})
    return links.merge(shares, on="source").drop(columns="source")


def _age_shares(ages: pd.DataFrame) -> pd.DataFrame:
    """The shares of :func:`age_values` for every practice of every period of ``ages``
    (columns source = the age file's period, practice_code, ...)."""
    # group by integers, not strings: one code per period and practice, numbered in order of
    # first appearance (as factorising the pairs would, without making a tuple of each row)
    periods, period_values = pd.factorize(ages["period"])
    practices, practice_values = pd.factorize(ages["practice_code"])
    codes, pairs = pd.factorize(periods.astype(np.int64) * len(practice_values) + practices)
    keys = pd.MultiIndex.from_arrays([period_values.take(pairs // len(practice_values)),
                                      practice_values.take(pairs % len(practice_values))])
    ages = ages.assign(practice_code=codes, patients=ages["patients"].astype(float))
    has_sexes = ages["sex"].ne("ALL").groupby(ages["practice_code"]).transform("any")
    ages = ages[(ages["sex"] != "ALL") | ~has_sexes]
    top = ages["age_to"].astype("Float64").fillna(np.inf).astype(float)
    low = ages["age_from"].astype(float)
    total = ages.groupby("practice_code")["patients"].sum().astype(float)
    out = pd.DataFrame(index=total.index)

    # 5-year bands (and by sex, the pyramid) in one grouping: each row's band is the one its
    # first year falls in; a practice with any row wider than its band gets no band shares
    start = np.minimum((low // 5) * 5, 90)
    fits = top <= np.where(start >= 90, np.inf, start + 4)
    broken = (~fits).groupby(ages["practice_code"]).any()
    labels = [_band_name(a, b) for a, b in AGE_BANDS]
    names = dict(zip([a for a, _ in AGE_BANDS], labels, strict=True))

    def bands(rows: pd.Series, prefix: str = "") -> pd.DataFrame:
        # grouped by each band's first year (a number), named after: the same sums as grouping
        # by the band names, without hashing a string per row
        counted = ages["patients"].where(rows & fits, 0.0).groupby(
            [ages["practice_code"], start]).sum().unstack(fill_value=0.0)
        counted = counted.rename(columns=names).reindex(index=total.index, columns=labels,
                                                        fill_value=0.0)
        shares = counted.div(total, axis=0).where(~broken.reindex(total.index), np.nan)
        return shares.add_prefix(prefix)

    everyone = pd.Series(True, index=ages.index)
    parts = [bands(everyone)]
    sexed = ages["sex"].isin(["MALE", "FEMALE"]).groupby(ages["practice_code"]).any()
    if sexed.any():  # the pyramid: each sex's band as a share of all patients
        for sex in ("MALE", "FEMALE"):
            parts.append(bands(ages["sex"] == sex, f"{sex.lower()}_").where(
                sexed.reindex(total.index), np.nan))
    out = pd.concat([out, *parts], axis=1)
    for name, cut in (("under_18", 18), ("age_65_plus", 65), ("age_85_plus", 85)):
        # a closed band across the cut (e.g. 15-19 for under 18) is split in proportion to the
        # years on each side (people spread evenly over the band's years: linear interpolation);
        # an open band across it (e.g. 60+ for 65+) cannot be split
        below = ((cut - low) / (top - low + 1)).clip(0, 1).where(np.isfinite(top), (low < cut) * 1.0)
        part = below if name == "under_18" else 1 - below
        counted = (ages["patients"] * part).groupby(ages["practice_code"]).sum()
        broken = (~np.isfinite(top) & (low < cut)).groupby(ages["practice_code"]).any()
        out[name] = (counted / total).where(~broken)
    sexes = ages[ages["sex"].isin(["MALE", "FEMALE"])]
    if len(sexes):
        by_sex = sexes.pivot_table(index="practice_code", columns="sex", values="patients",
                                   aggfunc="sum", fill_value=0)
        if {"MALE", "FEMALE"} <= set(by_sex.columns):
            out["female"] = by_sex["FEMALE"] / (by_sex["MALE"] + by_sex["FEMALE"])
    keys = keys[out.index]
    out.index = pd.RangeIndex(len(out))
    front = pd.DataFrame({"source": keys.get_level_values(0), "practice_code":
                          keys.get_level_values(1)})
    return pd.concat([front, out], axis=1)


def _band_name(a: int, b: int | None) -> str:
    return f"age_{a}_plus" if b is None else f"age_{a}_{b}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")
