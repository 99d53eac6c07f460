"""The registration matrix of a period, on the LSOA vintage of the IMD edition used, with
everything a profile of that period is computed from (:class:`PeriodData`).

The matrix is persons registered by practice and LSOA: a practice's sex = ALL rows where it has
them, else its MALE + FEMALE rows, so no patient is counted twice. When the IMD edition is on
the other LSOA vintage the matrix is moved onto it (:mod:`placehealth.geography`), and it
is cached in the backend once per period (``Table.cache``) for every level to read.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import ibis
import pandas as pd

from placehealth import levels as lv
from placehealth.analyses.characteristics import (
    age_values,
    ethnicity_values,
    imd_values,
    resident_age_values,
    rural_urban_values,
)
from placehealth.geography import (
    choose_edition,
    crosswalk,
    harmonise,
    harmonise_frame,
    population_totals,
)
from placehealth.store import Store


@dataclass
class PeriodData:
    """Everything one period's profiles are computed from."""

    period: str
    matrix: ibis.Table  # practice_code, lsoa_code, lsoa_known, patients (float)
    imd_edition: str | None
    lsoa_vintage: int | None
    harmonisation: str
    lsoa_values: pd.DataFrame  # lsoa_code + LSOA characteristics
    practice_values: pd.DataFrame  # practice_code + practice characteristics
    population: pd.Series | None  # residents by LSOA on lsoa_vintage
    pcn_members: pd.DataFrame | None  # practice_code, unit_code (PCN), unit_name
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- inputs
def registration_matrix(store: Store, period: str) -> tuple[ibis.Table, int | None]:
    """Persons registered by practice and LSOA in ``period`` and the LSOA vintage of the codes.

    A practice's sex = ALL rows are used where it has them, else its MALE + FEMALE rows, so no
    patient is counted twice.
    """
    t = store.table("registrations_lsoa")
    t = t.filter(t.period == period)
    has_all = (t.sex == "ALL").cast("int8").max().over(group_by="practice_code")
    t = t.mutate(has_all=has_all)
    t = t.filter((t.sex == "ALL") | (t.has_all == 0))
    vintage = t.lsoa_vintage.max().to_pandas()
    matrix = t.group_by(["practice_code", "lsoa_code", "lsoa_known"]).aggregate(
        patients=t.patients.sum().cast("float64"))
    return matrix, None if pd.isna(vintage) else int(vintage)


def period_data(store: Store, period: str, edition: str | None = None) -> PeriodData:
    """Read and harmonise everything the profiles of ``period`` need."""
    matrix, native = registration_matrix(store, period)
    chosen, vintage = choose_edition(store, native, edition)
    notes: list[str] = []
    harmonisation = "none (same vintage)"
    if native is not None and vintage is not None and native != vintage \
            and edition is None and not store.has("lsoa_changes"):
        warnings.warn(f"{period}: registrations are on LSOA {native} codes and the only IMD "
                      f"loaded ({chosen}) on LSOA {vintage}; without the ONS LSOA11 -> LSOA21 "
                      "lookup (lsoa_changes) the profiles carry no IMD", lv.LevelWarning,
                      stacklevel=2)
        chosen, vintage = None, native
    if native is not None and vintage is not None and native != vintage:
        walk = crosswalk(store, native, vintage)
        matrix = harmonise(matrix, walk, ["patients"])
        matrix = matrix.group_by(["practice_code", "lsoa_code", "lsoa_known"]).aggregate(
            patients=matrix.patients.sum())
        harmonisation = walk.label
        notes.append(f"registrations moved {walk.label}")
    walk_back = None
    if vintage is not None and vintage != 2021 and store.has("lsoa_changes"):
        walk_back = crosswalk(store, 2021, vintage)
    lsoa_values = imd_values(store, chosen)
    practice_ages = age_values(store, period)
    extras = [ethnicity_values(store, vintage, walk_back), rural_urban_values(store, vintage)]
    if len(practice_ages.columns) <= 1:  # no practice age file: the residents' ages instead
        extras.append(resident_age_values(store, vintage, walk_back))
        if len(extras[-1].columns) > 1:
            notes.append(f"{period}: ages are those of the usual residents (Census 2021) of "
                         "the LSOAs the patients live in (resident_age_*): no practice age file "
                         "is loaded")
            warnings.warn(notes[-1], UserWarning, stacklevel=2)
    for extra in extras:
        if len(extra.columns) > 1:
            lsoa_values = lsoa_values.merge(extra, on="lsoa_code", how="outer")
    population, _ = population_totals(store, vintage) if vintage else (None, "")
    if population is None and vintage == 2011 and walk_back is not None:
        census, _ = population_totals(store, 2021)
        if census is not None:
            frame = harmonise_frame(census.rename("population").rename_axis("lsoa_code")
                                    .reset_index(), walk_back, ["population"])
            population = frame.set_index("lsoa_code")["population"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lv.LevelWarning)
            pcn_members = lv.practice_units(store, "pcn", period)
    except LookupError:
        pcn_members = None
    return PeriodData(period, matrix.cache(), chosen, vintage or native, harmonisation,
                      lsoa_values, practice_ages, population, pcn_members, notes)


# ----------------------------------------------------------------------------- computation
def unit_rows(data: PeriodData, memberships: list[lv.Membership]) -> ibis.Table | None:
    """unit_code, practice_code, lsoa_code, lsoa_known, patients: the matrix seen by a level."""
    parts = []
    for m in memberships:
        if m.level == "lsoa":
            known = data.matrix.filter(data.matrix.lsoa_known)
            parts.append(known.mutate(unit_code=known.lsoa_code))
            continue
        members = m.members[[f"{m.kind}_code", "unit_code"]].drop_duplicates()
        if members.empty:
            continue
        parts.append(data.matrix.inner_join(ibis.memtable(members), f"{m.kind}_code"))
    if not parts:
        return None
    cols = ["unit_code", "practice_code", "lsoa_code", "lsoa_known", "patients"]
    rows = parts[0].select(*cols)
    for part in parts[1:]:
        rows = rows.union(part.select(*cols), distinct=False)
    return rows
