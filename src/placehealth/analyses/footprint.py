"""PCN footprints: where each PCN's patients live (``pcn_lsoa``), how few LSOAs hold most of them
(``pcn_footprint``), which local authorities they fall in (``pcn_la``, with a coterminosity
score) and the neighbourhoods no PCN holds a majority of (``fragmented_lsoas``).

The unit x LSOA rows (millions at national scale: every PCN x LSOA of every month) are summed,
shared out and ordered inside the engine, for every period at once, and written from there
(:func:`pcn_lsoa` and :func:`group_lsoa` return engine expressions); pandas sees only the
per-unit aggregates.
"""

from __future__ import annotations

import ibis
import pandas as pd

from placehealth import levels as lv
from placehealth.analyses.matrix import PeriodData, pcn_membership
from placehealth.store import to_engine

FOOTPRINT_SHARES = (50, 80, 95)
UNIT = ["period", "unit_code"]


def pcn_lsoa(data: PeriodData) -> ibis.Table | None:
    """Each PCN x LSOA: patients, the LSOA's share of the PCN's patients living in a known LSOA,
    the PCN's share of the LSOA's registered residents, and whether the LSOA is among the fewest
    (largest first) that together hold 50/80/95% of the PCN's patients (None without a
    practice -> PCN mapping)."""
    rows = data.pcn_lsoa()
    if rows is None:
        return None
    return unit_lsoa(data, rows, [pcn_membership(data)], "pcn")


def group_lsoa(data: PeriodData, memberships: list[lv.Membership],
               sums: ibis.Table) -> ibis.Table:
    """The same as :func:`pcn_lsoa` for user groups (columns group_name, group_share_pct...),
    from their sums (:func:`placehealth.analyses.matrix.unit_lsoa_sums`)."""
    return unit_lsoa(data, sums, memberships, "group")


def unit_lsoa(data: PeriodData, rows: ibis.Table, memberships: list[lv.Membership],
              prefix: str) -> ibis.Table:
    """Each unit x LSOA of a level from its sums (``rows``: period, unit_code, lsoa_code,
    patients > 0), as an engine expression in table order (``prefix`` names its columns:
    pcn_code/pcn_name or group_name): patients, shares both ways, cumulative share and the
    50/80/95% footprints.

    The cumulative share runs over the unit's LSOAs from the largest (ties: the lowest code);
    an LSOA is in the x% footprint when the LSOAs before it hold less than x%.
    """
    code, name = _columns(prefix)
    # each unit's total by a hash aggregate joined back: a window over every partition sorts
    # the rows (4.4M at national scale) once more than the cumulative window below; summed
    # from the sums themselves, so the LSOA totals (an aggregate of the whole matrix) are
    # summed once, not again inside this one's input
    units = rows.group_by(UNIT).aggregate(total=rows.patients.sum())
    known = data.matrix.filter(data.matrix.lsoa_known)
    totals = known.group_by(["period", "lsoa_code"]).aggregate(registered=known.patients.sum())
    rows = rows.left_join(totals, ["period", "lsoa_code"]).select(rows, totals.registered)
    share = f"{prefix}_share_pct"
    rows = rows.inner_join(units, UNIT)
    rows = rows.mutate(**{share: 100 * rows.patients / rows.total}).drop("total")
    order = ibis.cumulative_window(group_by=UNIT,
                                   order_by=[ibis.desc(rows.patients), rows.lsoa_code])
    rows = rows.mutate(lsoa_share_pct=100 * rows.patients / rows.registered,
                       cumulative_pct=rows[share].sum().over(order))
    before = rows.cumulative_pct - rows[share]
    rows = rows.mutate(**{f"in_footprint_{s}": before < s - 1e-9 for s in FOOTPRINT_SHARES})
    columns = [c for c in rows.columns if c != "registered"]
    if name:
        names = _names(memberships)
        on = [c for c in UNIT if c in names.columns]
        table = to_engine(names.rename(columns={"unit_name": name}), rows)
        rows = rows.left_join(table, on).select(*columns[:2], table[name], *columns[2:])
        columns = rows.columns
    rows = rows.select(*columns).mutate(
        lsoa_vintage=ibis.literal(data.lsoa_vintage).cast("int64")).rename(**{code: "unit_code"})
    return rows.order_by(["period", code, ibis.desc(rows.patients), rows.lsoa_code])


def _names(memberships: list[lv.Membership]) -> pd.DataFrame:
    """Each unit's name (the first its members give), per period where members have one."""
    members = pd.concat([m.members for m in memberships], ignore_index=True)
    on = [c for c in UNIT if c in members.columns]
    return members.drop_duplicates(on)[[*on, "unit_name"]]


def _columns(prefix: str) -> tuple[str, str | None]:
    return ("group_name", None) if prefix == "group" else (f"{prefix}_code", f"{prefix}_name")


def pcn_footprint(lsoas: ibis.Table | None, prefix: str = "pcn") -> pd.DataFrame:
    """Per PCN (or group): LSOAs with any patients, and how few hold 50/80/95% of its patients
    (summed in the engine from the rows of :func:`pcn_lsoa` / :func:`group_lsoa`)."""
    if lsoas is None:
        return pd.DataFrame()
    keys = ["period", *[c for c in _columns(prefix) if c]]
    out = lsoas.group_by(keys).aggregate(
        lsoas=lsoas.count(), patients=lsoas.patients.sum(),
        **{f"lsoas_{s}": lsoas[f"in_footprint_{s}"].cast("int64").sum()
           for s in FOOTPRINT_SHARES}).to_pandas()
    if out.empty:
        return pd.DataFrame()
    return out.sort_values(keys, ignore_index=True)


def pcn_la(data: PeriodData, la_members: pd.DataFrame | None, footprint: pd.DataFrame,
           registered: pd.Series) -> pd.DataFrame:
    """Each PCN x local authority: patients, shares both ways, the main authority (holding most
    of the PCN's patients) and a coterminosity score.

    Coterminosity = the Jaccard index (Jaccard 1901) of the PCN's patients and the main
    authority's registered residents: patients in both / patients in either
    = p / (P + L - p), with p the PCN's patients living in the authority, P the PCN's patients
    in known LSOAs and L all registered residents of the authority. 1 = the PCN serves exactly
    the authority's registered population; it falls as the PCN spills over the boundary or
    shares the authority with other PCNs. ``registered``: the registered residents of each
    period's LSOAs (indexed by period and lsoa_code).
    """
    if footprint.empty or la_members is None or la_members.empty or data.pcn_members is None:
        return pd.DataFrame()
    areas = la_members.rename(columns={"unit_code": "la_code", "unit_name": "la_name"})
    table = to_engine(areas[["lsoa_code", "la_code", "la_name"]], data.matrix)
    lsoas = data.pcn_lsoa()
    rows = lsoas.inner_join(table, "lsoa_code")
    frame = rows.group_by([*UNIT, "la_code", "la_name"]).aggregate(
        patients=rows.patients.sum()).to_pandas()
    lsoas = registered.rename("registered").reset_index().merge(
        areas[["lsoa_code", "la_code"]], on="lsoa_code")
    la_registered = lsoas.groupby(["period", "la_code"])["registered"].sum()
    names = _names([pcn_membership(data)]).set_index(UNIT)["unit_name"]
    pcn_total = footprint.groupby(["period", "pcn_code"])["patients"].sum()
    frame = frame.rename(columns={"unit_code": "pcn_code"})
    frame.insert(2, "pcn_name", _lookup(names, frame, ["period", "pcn_code"]))
    frame["pcn_share_pct"] = 100 * frame["patients"] / _lookup(pcn_total, frame,
                                                               ["period", "pcn_code"])
    frame["la_share_pct"] = 100 * frame["patients"] / _lookup(la_registered, frame,
                                                              ["period", "la_code"])
    frame = frame.sort_values(["period", "pcn_code", "patients", "la_code"],
                              ascending=[True, True, False, True], ignore_index=True)
    main = frame.groupby(["period", "pcn_code"]).head(1).set_index(["period", "pcn_code"])
    p = main["patients"]
    jaccard = p / (pcn_total.reindex(main.index) + la_registered.reindex(
        pd.MultiIndex.from_arrays([main.index.get_level_values(0), main["la_code"]])).to_numpy()
        - p)
    main_la = _lookup(main["la_code"], frame, ["period", "pcn_code"])
    frame["is_main_la"] = frame["la_code"].to_numpy() == main_la
    frame["main_la_code"] = main_la
    frame["main_la_pct"] = _lookup(main["pcn_share_pct"], frame, ["period", "pcn_code"])
    frame["coterminosity"] = _lookup(jaccard, frame, ["period", "pcn_code"])
    return frame


def _lookup(values: pd.Series, frame: pd.DataFrame, keys: list[str]):
    """``values`` (indexed by ``keys``) for each row of ``frame``, as an array."""
    return values.reindex(pd.MultiIndex.from_frame(frame[keys])).to_numpy()


#: The lsoa_profile columns :func:`fragmented_lsoas` keeps.
FRAGMENTED_COLUMNS = ("period", "unit_code", "patients", "pcns", "largest_pcn_code",
                      "largest_pcn_pct", "imd_score", "lsoa_vintage")


def fragmented_lsoas(lsoa_profile: pd.DataFrame) -> pd.DataFrame:
    """LSOAs where no PCN holds a majority of the registered residents (largest PCN <= 50%)."""
    if lsoa_profile is None or "largest_pcn_pct" not in lsoa_profile:
        return pd.DataFrame()
    frame = lsoa_profile[lsoa_profile["largest_pcn_pct"] <= 50.0]
    frame = frame[[c for c in FRAGMENTED_COLUMNS if c in frame]].rename(columns={"unit_code": "lsoa_code"})
    return frame.reset_index(drop=True)
