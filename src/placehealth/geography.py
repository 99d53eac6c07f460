"""Harmonised geography: moving counts between LSOA 2011 and LSOA 2021 codes.

Registrations, IMD editions and Census tables come on different LSOA vintages (IMD 2019 on 2011
codes, IoD 2025 and Census 2021 on 2021 codes, NHS England registrations on 2011 codes until
2022 and 2021 codes after). Counts are moved from one vintage to the other through the official
ONS LSOA 2011 -> LSOA 2021 lookup (``lsoa_changes``):

- U (unchanged): the code maps 1:1 to itself, weight 1;
- a source code with one target (U; M merges seen from 2011; S splits seen from 2021): all its
  count goes to that target, so merged areas combine;
- a source code with several targets (S splits seen from 2011; M merges seen from 2021; X
  complex changes): the count is apportioned in proportion to the resident population of each
  target LSOA on the target vintage (``lsoa_population`` of that vintage where loaded, else the
  Census 2021 TS021 usual residents for 2021 codes); if any target lacks a population, equal
  shares are used for that source code.

The weights of each source code sum to exactly 1 (they are renormalised after every join), so
totals are preserved: summed over all codes the moved counts equal the original counts up to
floating-point rounding. Codes not in the lookup (unknown LSOAs, Welsh codes absent from it) are
kept as they are. For complex (X) changes the target's whole population stands in for the
unknown population of the overlap, an approximation documented here and in docs/DATA.md.

Method: areal apportioning of counts with population weights (population-weighted
interpolation between two zone systems), applied to the change types of the ONS *LSOA (2011) to
LSOA (2021) to Local Authority District (2022) Lookup for England and Wales* (ONS, 2022), whose
U/S/M/X codes say which LSOAs map one to one, split, merge or change irregularly.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd

from placehealth.store import Store, to_engine

VINTAGES = (2011, 2021)
CENSUS_TOTAL = "Total"


@dataclass(frozen=True)
class Crosswalk:
    """Weights moving counts from ``from_vintage`` codes to ``to_vintage`` codes."""

    from_vintage: int
    to_vintage: int
    weights: pd.DataFrame  # from_code, to_code, weight (summing to 1 per from_code)
    weights_source: str

    @property
    def label(self) -> str:
        return f"LSOA{self.from_vintage}->LSOA{self.to_vintage} ({self.weights_source})"


def population_totals(store: Store, vintage: int) -> tuple[pd.Series | None, str]:
    """Resident population by LSOA code on ``vintage``, and where it came from.

    ``lsoa_population`` of that vintage (its latest period; the all-ages rows, persons) is
    preferred; for 2021 codes the Census 2021 TS021 'Total' (all usual residents) otherwise.
    """
    if store.has("lsoa_population"):
        t = store.table("lsoa_population")
        t = t.filter(t.lsoa_vintage == vintage)
        periods = sorted(p for p in t.select("period").distinct().to_pandas()["period"] if p)
        if periods:  # summed in the engine (a national period: 6M rows by sex and age)
            rows = t.filter(t.period == periods[-1])
            for wanted in (lambda r: r.age_from == -1, lambda r: r.sex.upper() == "ALL"):
                if rows.filter(wanted).count().execute():
                    rows = rows.filter(wanted)
            rows = rows.filter(rows.lsoa_code.notnull())
            totals = rows.group_by("lsoa_code").aggregate(population=rows.population.sum())
            totals = totals.order_by("lsoa_code").to_pandas().set_index("lsoa_code")
            return totals["population"].astype(float), f"lsoa_population {periods[-1]}"
    if vintage == 2021 and store.has("census"):
        t = store.table("census")
        t = t.filter((t.census_table == "TS021") & t.category.startswith(CENSUS_TOTAL))
        rows = t.to_pandas()
        if len(rows):
            return (rows.groupby("lsoa_code")["residents"].sum().astype(float),
                    "Census 2021 TS021 usual residents")
    return None, "equal shares (no population loaded)"


def crosswalk(store: Store, from_vintage: int, to_vintage: int) -> Crosswalk:
    """Population-weighted lookup from one LSOA vintage to the other (see module docstring)."""
    if from_vintage not in VINTAGES or to_vintage not in VINTAGES or from_vintage == to_vintage:
        raise ValueError(f"cannot cross from LSOA {from_vintage} to LSOA {to_vintage}")
    if not store.has("lsoa_changes"):
        raise LookupError(f"registrations are on LSOA {from_vintage} codes and the deprivation "
                          f"file on LSOA {to_vintage}: load the ONS LSOA11 -> LSOA21 lookup "
                          "(lsoa_changes) to harmonise them")
    changes = store.read("lsoa_changes")
    source, target = (("lsoa11_code", "lsoa21_code") if from_vintage == 2011
                      else ("lsoa21_code", "lsoa11_code"))
    pairs = changes[[source, target]].drop_duplicates()
    pairs.columns = ["from_code", "to_code"]
    population, population_source = population_totals(store, to_vintage)
    return Crosswalk(from_vintage, to_vintage, apportion(pairs, population), population_source)


def apportion(pairs: pd.DataFrame, population: pd.Series | None) -> pd.DataFrame:
    """Weights for each (from_code, to_code) pair summing to 1 per from_code: 1 for a single
    target, else proportional to the targets' population (equal shares where any is missing)."""
    pairs = pairs.copy()
    pop = (pairs["to_code"].map(population) if population is not None
           else pd.Series(float("nan"), index=pairs.index)).astype(float)
    pop = pop.where(pop > 0)
    by_source = pairs.groupby("from_code")
    targets = by_source["to_code"].transform("size")
    complete = pop.notna().groupby(pairs["from_code"]).transform("all")
    total = pop.groupby(pairs["from_code"]).transform("sum")
    weight = (pop / total).where(complete, 1.0 / targets)
    pairs["weight"] = weight.where(targets > 1, 1.0)
    # renormalise so each source's weights sum to exactly 1 after floating-point division
    pairs["weight"] = pairs["weight"] / pairs.groupby("from_code")["weight"].transform("sum")
    return pairs.reset_index(drop=True)


def harmonise(table: ibis.Table, walk: Crosswalk | None, values: list[str],
              code: str = "lsoa_code") -> ibis.Table:
    """Move ``values`` (counts) of an Ibis table from the crosswalk's source codes to its targets.

    Rows whose code is not in the lookup keep their code and counts; counts become floats.
    """
    if walk is None:
        return table
    weights = to_engine(walk.weights, table)
    joined = table.left_join(weights, table[code] == weights.from_code)
    moved = {c: joined[c].cast("float64") * joined.weight.fill_null(1.0) for c in values}
    moved[code] = joined.to_code.fill_null(joined[code])
    keep = [c for c in table.columns if c not in moved]
    return joined.select(*keep, **moved)


def harmonise_frame(frame: pd.DataFrame, walk: Crosswalk | None, values: list[str],
                    code: str = "lsoa_code") -> pd.DataFrame:
    """The pandas form of :func:`harmonise` for small tables (Census, populations), summed by
    the remaining columns so each target code appears once."""
    if walk is None:
        return frame
    joined = frame.merge(walk.weights, left_on=code, right_on="from_code", how="left")
    weight = joined["weight"].fillna(1.0)
    out = joined.drop(columns=["from_code", "to_code", "weight"])
    out[code] = joined["to_code"].where(joined["to_code"].notna(), joined[code])
    for column in values:
        out[column] = joined[column].astype(float) * weight
    keys = [c for c in out.columns if c not in values]
    return out.groupby(keys, as_index=False, dropna=False)[values].sum()


def imd_editions(store: Store) -> dict[str, int]:
    """Loaded IMD editions and the LSOA vintage each is on, oldest edition first."""
    if not store.has("imd"):
        return {}
    t = store.table("imd")
    rows = t.group_by("edition").aggregate(vintage=t.lsoa_vintage.max()).to_pandas()
    rows = rows.assign(year=rows["edition"].str.replace(r"\D", "", regex=True))
    return {r.edition: int(r.vintage) for r in rows.sort_values(["year", "edition"]).itertuples()}


def choose_edition(store: Store, native_vintage: int | None,
                   edition: str | None = None) -> tuple[str | None, int | None]:
    """The IMD edition to profile with and its vintage: ``edition`` if given, else the latest
    edition on the registrations' own vintage, else the latest edition loaded."""
    editions = imd_editions(store)
    if edition is not None:
        if edition not in editions:
            raise LookupError(f"IMD edition {edition!r} is not loaded; loaded: "
                              f"{', '.join(editions) or 'none'}")
        return edition, editions[edition]
    same = [e for e, v in editions.items() if v == native_vintage]
    if same:
        return same[-1], native_vintage
    if editions:
        latest = list(editions)[-1]
        return latest, editions[latest]
    return None, native_vintage
