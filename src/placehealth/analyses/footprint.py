"""PCN footprints: where each PCN's patients live (``pcn_lsoa``), how few LSOAs hold most of them
(``pcn_footprint``), which local authorities they fall in (``pcn_la``, with a coterminosity
score) and the neighbourhoods no PCN holds a majority of (``fragmented_lsoas``).
"""

from __future__ import annotations

import pandas as pd

from placehealth import levels as lv
from placehealth.analyses.matrix import PeriodData, unit_rows

FOOTPRINT_SHARES = (50, 80, 95)


def pcn_lsoa(data: PeriodData) -> pd.DataFrame:
    """Each PCN x LSOA: patients, the LSOA's share of the PCN's patients living in a known LSOA,
    the PCN's share of the LSOA's registered residents, and whether the LSOA is among the fewest
    (largest first) that together hold 50/80/95% of the PCN's patients."""
    if data.pcn_members is None:
        return pd.DataFrame()
    return unit_lsoa(data, [lv.Membership("pcn", "practice", data.pcn_members)], "pcn")


def group_lsoa(data: PeriodData, memberships: list[lv.Membership]) -> pd.DataFrame:
    """The same as :func:`pcn_lsoa` for user groups (columns group_name, group_share_pct...)."""
    return unit_lsoa(data, memberships, "group")


def unit_lsoa(data: PeriodData, memberships: list[lv.Membership], prefix: str) -> pd.DataFrame:
    """Each unit x LSOA of a level (``prefix`` names its columns: pcn_code/pcn_name or
    group_name): patients, shares both ways, cumulative share and the 50/80/95% footprints."""
    rows = unit_rows(data, memberships)
    if rows is None:
        return pd.DataFrame()
    code, name = _columns(prefix)
    rows = rows.filter(rows.lsoa_known)
    frame = rows.group_by(["unit_code", "lsoa_code"]).aggregate(
        patients=rows.patients.sum()).to_pandas()
    frame = frame[frame["patients"] > 0].rename(columns={"unit_code": code})
    totals = data.matrix.filter(data.matrix.lsoa_known)
    totals = totals.group_by("lsoa_code").aggregate(registered=totals.patients.sum()).to_pandas()
    frame = frame.merge(totals, on="lsoa_code", how="left")
    if name:
        members = pd.concat([m.members for m in memberships])
        names = members.drop_duplicates("unit_code").set_index("unit_code")["unit_name"]
        frame.insert(1, name, frame[code].map(names))
    frame = frame.sort_values([code, "patients", "lsoa_code"],
                              ascending=[True, False, True]).reset_index(drop=True)
    unit_total = frame.groupby(code)["patients"].transform("sum")
    frame[f"{prefix}_share_pct"] = 100 * frame["patients"] / unit_total
    frame["lsoa_share_pct"] = 100 * frame["patients"] / frame.pop("registered")
    cumulative = frame.groupby(code)[f"{prefix}_share_pct"].cumsum()
    frame["cumulative_pct"] = cumulative
    before = cumulative - frame[f"{prefix}_share_pct"]
    for share in FOOTPRINT_SHARES:
        frame[f"in_footprint_{share}"] = before < share - 1e-9
    frame.insert(0, "period", data.period)
    frame["lsoa_vintage"] = data.lsoa_vintage
    return frame


def _columns(prefix: str) -> tuple[str, str | None]:
    return ("group_name", None) if prefix == "group" else (f"{prefix}_code", f"{prefix}_name")


def pcn_footprint(lsoas: pd.DataFrame, prefix: str = "pcn") -> pd.DataFrame:
    """Per PCN (or group): LSOAs with any patients, and how few hold 50/80/95% of its patients."""
    if lsoas.empty:
        return pd.DataFrame()
    keys = ["period", *[c for c in _columns(prefix) if c]]
    grouped = lsoas.groupby(keys, dropna=False)
    out = grouped.agg(lsoas=("lsoa_code", "size"), patients=("patients", "sum")).reset_index()
    for share in FOOTPRINT_SHARES:
        out[f"lsoas_{share}"] = grouped[f"in_footprint_{share}"].sum().values
    return out


def pcn_la(lsoas: pd.DataFrame, la_members: pd.DataFrame, data: PeriodData) -> pd.DataFrame:
    """Each PCN x local authority: patients, shares both ways, the main authority (holding most
    of the PCN's patients) and a coterminosity score.

    Coterminosity = the Jaccard index (Jaccard 1901) of the PCN's patients and the main
    authority's registered residents: patients in both / patients in either
    = p / (P + L - p), with p the PCN's patients living in the authority, P the PCN's patients
    in known LSOAs and L all registered residents of the authority. 1 = the PCN serves exactly
    the authority's registered population; it falls as the PCN spills over the boundary or
    shares the authority with other PCNs.
    """
    if lsoas.empty or la_members is None or la_members.empty:
        return pd.DataFrame()
    areas = la_members.rename(columns={"unit_code": "la_code", "unit_name": "la_name"})
    rows = lsoas.merge(areas, on="lsoa_code", how="inner")
    frame = rows.groupby(["period", "pcn_code", "pcn_name", "la_code", "la_name"],
                         dropna=False)["patients"].sum().reset_index()
    totals = data.matrix.filter(data.matrix.lsoa_known)
    totals = totals.group_by("lsoa_code").aggregate(registered=totals.patients.sum()).to_pandas()
    la_registered = totals.merge(areas, on="lsoa_code").groupby("la_code")["registered"].sum()
    pcn_total = lsoas.groupby("pcn_code")["patients"].sum()
    frame["pcn_share_pct"] = 100 * frame["patients"] / frame["pcn_code"].map(pcn_total)
    frame["la_share_pct"] = 100 * frame["patients"] / frame["la_code"].map(la_registered)
    frame = frame.sort_values(["pcn_code", "patients", "la_code"], ascending=[True, False, True])
    main = frame.groupby("pcn_code").head(1)
    main_la = dict(zip(main["pcn_code"], main["la_code"], strict=True))
    p = main["patients"].to_numpy()
    jaccard = p / (main["pcn_code"].map(pcn_total).to_numpy()
                   + main["la_code"].map(la_registered).to_numpy() - p)
    frame["is_main_la"] = frame["la_code"] == frame["pcn_code"].map(main_la)
    frame["main_la_code"] = frame["pcn_code"].map(main_la)
    frame["main_la_pct"] = frame["pcn_code"].map(
        dict(zip(main["pcn_code"], main["pcn_share_pct"], strict=True)))
    frame["coterminosity"] = frame["pcn_code"].map(
        dict(zip(main["pcn_code"], jaccard, strict=True)))
    return frame.reset_index(drop=True)


def fragmented_lsoas(lsoa_profile: pd.DataFrame) -> pd.DataFrame:
    """LSOAs where no PCN holds a majority of the registered residents (largest PCN <= 50%)."""
    if lsoa_profile is None or "largest_pcn_pct" not in lsoa_profile:
        return pd.DataFrame()
    cols = ["period", "unit_code", "patients", "pcns", "largest_pcn_code", "largest_pcn_pct",
            "imd_score", "lsoa_vintage"]
    frame = lsoa_profile[lsoa_profile["largest_pcn_pct"] <= 50.0]
    frame = frame[[c for c in cols if c in frame]].rename(columns={"unit_code": "lsoa_code"})
    return frame.reset_index(drop=True)
