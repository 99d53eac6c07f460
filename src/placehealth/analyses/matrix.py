"""The registration matrix of a set of periods, on the LSOA vintage of the IMD edition used, with
everything the profiles of those periods are computed from (:class:`PeriodData`).

The matrix is persons registered by period, practice and LSOA: a practice's sex = ALL rows where
it has them, else its MALE + FEMALE rows, so no patient is counted twice. When the IMD edition is
on the other LSOA vintage the matrix is moved onto it (:mod:`placehealth.geography`). All the
periods on one LSOA vintage are profiled together: every aggregation groups by period as well,
so a national build of twelve months runs one query per level rather than twelve, and what does
not change from month to month (LSOA characteristics, populations, place memberships) is read
once. A matrix computed from the stored rows (sexes added, LSOAs moved) is cached in the backend
(``Table.cache``) for every level to read; the stored ALL rows as they are are read in place.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import ibis
import pandas as pd

from placehealth import levels as lv
from placehealth.analyses.characteristics import (
    age_values_many,
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
from placehealth.store import Store, to_engine

KEYS = ["period", "practice_code", "lsoa_code", "lsoa_known"]


@dataclass
class PeriodData:
    """Everything the profiles of some periods (all on one LSOA vintage) are computed from."""

    periods: list[str]
    matrix: ibis.Table  # period, practice_code, lsoa_code, lsoa_known, patients (float)
    imd_edition: str | None
    lsoa_vintage: int | None
    harmonisation: str
    lsoa_values: pd.DataFrame  # lsoa_code + LSOA characteristics (the same every period)
    practice_values: pd.DataFrame  # period, practice_code + practice characteristics
    population: pd.Series | None  # residents by LSOA on lsoa_vintage
    pcn_members: pd.DataFrame | None  # period, practice_code, unit_code (PCN), unit_name
    notes: list[str] = field(default_factory=list)
    #: the practice -> PCN mapping, read once for every period and practice-based level
    mappings: lv.Mappings | None = field(default=None, repr=False)
    _pcn_lsoa: ibis.Table | None = field(default=None, repr=False)

    def pcn_lsoa(self) -> ibis.Table | None:
        """period, unit_code (PCN), lsoa_code, patients (> 0): each PCN's patients in each known
        LSOA (None without a practice -> PCN mapping). Summed once and cached in the engine: the
        PCN footprints and every place profile's largest PCN read it."""
        if self._pcn_lsoa is None and self.pcn_members is not None:
            self._pcn_lsoa = unit_lsoa_sums(self, [pcn_membership(self)]).cache()
        return self._pcn_lsoa

    def release(self) -> None:
        """Drop what the engine holds for these periods (the matrix and the PCN x LSOA sums)."""
        if self._pcn_lsoa is not None:
            self._pcn_lsoa.release()
            self._pcn_lsoa = None
        if isinstance(self.matrix, ibis.expr.types.CachedTable):
            self.matrix.release()


# ----------------------------------------------------------------------------- inputs
def registration_vintages(store: Store, periods: list[str] | None = None) -> dict[str, int | None]:
    """The LSOA vintage of each registration period's codes (one query for all periods)."""
    t = store.table("registrations_lsoa")
    if periods is not None:
        t = t.filter(t.period.isin(periods))
    rows = t.group_by("period").aggregate(vintage=t.lsoa_vintage.max()).to_pandas()
    return {p: None if pd.isna(v) else int(v) for p, v in zip(rows["period"], rows["vintage"],
                                                               strict=True)}


def registration_matrix(store: Store, periods: str | list[str]) -> tuple[ibis.Table, int | None]:
    """Persons registered by period, practice and LSOA in ``periods`` (one or several) and the
    LSOA vintage of the codes (the latest, when the periods differ).

    A practice's sex = ALL rows are used where it has them, else its MALE + FEMALE rows, so no
    patient is counted twice.
    """
    matrix, vintage, _ = _registration_matrix(store, periods)
    return matrix, vintage


def _registration_matrix(store: Store, periods: str | list[str]
                         ) -> tuple[ibis.Table, int | None, bool]:
    """:func:`registration_matrix`, and whether the matrix is the stored rows as they are (a
    filter of the table, which the engine scans as fast as a cached copy: a national year's
    copy would hold 0.9 GB in DuckDB's memory)."""
    periods = [periods] if isinstance(periods, str) else list(periods)
    t = store.table("registrations_lsoa")
    t = t.filter(t.period == periods[0]) if len(periods) == 1 else t.filter(t.period.isin(periods))
    vintage = max((v for v in registration_vintages(store, periods).values() if v is not None),
                  default=None)
    if _every_practice_has_all_rows(t):
        # the table's key (period, practice, LSOA, sex) makes each ALL row its own matrix row:
        # no regrouping of every row (a national year: 14.7M rows, 4 s against 14 s in DuckDB)
        t = t.filter(t.sex == "ALL")
        return t.select(*KEYS, patients=t.patients.cast("float64")), vintage, True
    has_all = (t.sex == "ALL").cast("int8").max().over(group_by=["period", "practice_code"])
    t = t.mutate(has_all=has_all)
    t = t.filter((t.sex == "ALL") | (t.has_all == 0))
    matrix = t.group_by(KEYS).aggregate(patients=t.patients.sum().cast("float64"))
    return matrix, vintage, False


def _every_practice_has_all_rows(t: ibis.Table) -> bool:
    """Whether every practice of every period has sex = ALL rows (the published layout)."""
    per_practice = t.group_by(["period", "practice_code"]).aggregate(
        has_all=(t.sex == "ALL").cast("int8").max())
    return int(per_practice.has_all.min().execute() or 0) == 1


def period_data(store: Store, periods: str | list[str], edition: str | None = None) -> PeriodData:
    """Read and harmonise everything the profiles of ``periods`` need (periods whose
    registrations are on one LSOA vintage: see :func:`registration_vintages`)."""
    periods = [periods] if isinstance(periods, str) else list(periods)
    matrix, native, stored = _registration_matrix(store, periods)
    chosen, vintage = choose_edition(store, native, edition)
    notes: list[str] = []
    harmonisation = "none (same vintage)"
    if native is not None and vintage is not None and native != vintage \
            and edition is None and not store.has("lsoa_changes"):
        for period in periods:
            warnings.warn(f"{period}: registrations are on LSOA {native} codes and the only IMD "
                          f"loaded ({chosen}) on LSOA {vintage}; without the ONS LSOA11 -> "
                          "LSOA21 lookup (lsoa_changes) the profiles carry no IMD",
                          lv.LevelWarning, stacklevel=2)
        chosen, vintage = None, native
    if native is not None and vintage is not None and native != vintage:
        walk = crosswalk(store, native, vintage)
        matrix = harmonise(matrix, walk, ["patients"])
        matrix = matrix.group_by(KEYS).aggregate(patients=matrix.patients.sum())
        stored = False
        harmonisation = walk.label
        notes.append(f"registrations moved {walk.label}")
    walk_back = None
    if vintage is not None and vintage != 2021 and store.has("lsoa_changes"):
        walk_back = crosswalk(store, 2021, vintage)
    lsoa_values = imd_values(store, chosen)
    practice_ages = age_values_many(store, periods)
    extras = [ethnicity_values(store, vintage, walk_back), rural_urban_values(store, vintage)]
    unaged = [p for p in periods if not _has_ages(practice_ages, p)]
    if unaged:  # no practice age file: the residents' ages instead
        extras.append(resident_age_values(store, vintage, walk_back))
        if len(extras[-1].columns) > 1:
            for period in unaged:
                notes.append(f"{period}: ages are those of the usual residents (Census 2021) of "
                             "the LSOAs the patients live in (resident_age_*): no practice age "
                             "file is loaded")
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
    mappings = lv.Mappings(store)
    return PeriodData(periods, matrix if stored else matrix.cache(), chosen, vintage or native,
                      harmonisation, lsoa_values, practice_ages, population,
                      _pcn_members(store, periods, mappings), notes, mappings)


def _has_ages(practice_ages: pd.DataFrame, period: str) -> bool:
    """Whether a practice age file gives ``period`` any practice characteristic."""
    return len(practice_ages.columns) > 2 and bool((practice_ages["period"] == period).any())


def _pcn_members(store: Store, periods: list[str],
                 mappings: lv.Mappings | None = None) -> pd.DataFrame | None:
    """Each period's practice -> PCN membership (period, practice_code, unit_code, unit_name)."""
    frames = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lv.LevelWarning)
            for period in periods:
                frames.append(lv.practice_units(store, "pcn", period, mappings)
                              .assign(period=period))
    except LookupError:
        return None
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- computation
def unit_rows(data: PeriodData, memberships: list[lv.Membership]) -> ibis.Table | None:
    """period, unit_code, practice_code, lsoa_code, lsoa_known, patients: the matrix seen by a
    level. Practice-based members carry a period column (each period's own membership)."""
    parts = []
    for m in memberships:
        if m.level == "lsoa":
            known = data.matrix.filter(data.matrix.lsoa_known)
            parts.append(known.mutate(unit_code=known.lsoa_code))
            continue
        on = [c for c in ("period", f"{m.kind}_code") if c in m.members.columns]
        members = m.members[[*on, "unit_code"]].drop_duplicates()
        if members.empty:
            continue
        parts.append(data.matrix.inner_join(to_engine(members, data.matrix), on))
    if not parts:
        return None
    cols = ["period", "unit_code", "practice_code", "lsoa_code", "lsoa_known", "patients"]
    rows = parts[0].select(*cols)
    for part in parts[1:]:
        rows = rows.union(part.select(*cols), distinct=False)
    return rows


def pcn_membership(data: PeriodData) -> lv.Membership:
    """The practice -> PCN membership of every period of ``data``."""
    return lv.Membership("pcn", "practice", data.pcn_members)


def unit_lsoa_sums(data: PeriodData, memberships: list[lv.Membership]) -> ibis.Table | None:
    """period, unit_code, lsoa_code, patients (> 0): each unit's patients in each known LSOA."""
    rows = unit_rows(data, memberships)
    if rows is None:
        return None
    rows = rows.filter(rows.lsoa_known)
    rows = rows.group_by(["period", "unit_code", "lsoa_code"]).aggregate(
        patients=rows.patients.sum())
    return rows.filter(rows.patients > 0)


def memberships(store: Store, level: str, data: PeriodData) -> list[lv.Membership]:
    """Every membership making up ``level`` over the periods of ``data``: practice-based
    members (a period's practice -> PCN mapping, practice groups) carry a ``period`` column,
    one set per period; LSOA-based members are the same every period and read once.
    LookupError when the level has no membership (as :func:`placehealth.levels.membership`)."""
    spec = lv.get(level)
    if spec.kind == lv.PLACE:
        return lv.membership(store, level, data.periods[0], vintage=data.lsoa_vintage)
    by_kind: dict[str, list[pd.DataFrame]] = {}
    for period in data.periods:
        for m in lv.membership(store, level, period, vintage=data.lsoa_vintage,
                               mappings=data.mappings):
            if m.kind == "practice":
                by_kind.setdefault("practice", []).append(m.members.assign(period=period))
            else:  # LSOA groups: the same every period
                by_kind.setdefault(m.kind, [m.members])
    return [lv.Membership(level, kind, pd.concat(frames, ignore_index=True))
            for kind, frames in by_kind.items()]
