"""Disclosure on the real Staffordshire & Stoke-on-Trent registrations (October 2025, IoD 2025,
rural-urban classification): protection neither over-hides large shares nor lets a published
share give back the count its rounding hides."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from placehealth import levels as lv
from placehealth.analyses.profile import period_tables
from placehealth.outputs.disclosure import PROFILE_FAMILIES, PROFILE_SUBSETS, get_policy, protect
from placehealth.sources import ReadOptions, read_file
from placehealth.store import Store

from support import shared_file

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

SSOT = "regional_subsets/staffordshire_stoke_2025/gp_patients_by_practice_lsoa21_ssot_2025-10.csv"
IOD2025 = "imd2025_lsoa21/imd2025_lsoa21_scores_ranks_deciles.csv"
RUC = "geography_lookups/lsoa21_rural_urban_classification_2021.csv"
POLICY = get_policy("opensafely")


def _read(relative: str, codes: set[str] | None = None, **options):
    result = read_file(shared_file(relative), None, ReadOptions(**options))
    if codes is not None:
        for name, frame in result.tables.items():
            if "lsoa_code" in frame:
                result.tables[name] = frame[frame["lsoa_code"].isin(codes)]
    return result


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, pd.DataFrame]:
    with Store(tmp_path_factory.mktemp("ssot") / "ssot.duckdb") as store:
        registrations = _read(SSOT, period="2025-10")
        codes = set(registrations.tables["registrations_lsoa"]["lsoa_code"])
        store.ingest([registrations, _read(IOD2025, codes), _read(RUC, codes)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lv.LevelWarning)
            return period_tables(store, "2025-10")


def _implied(frame: pd.DataFrame, column: str) -> pd.Series:
    return np.floor(frame[column] / 100 * frame["patients"] + 0.5)


def test_core20_of_a_large_practice_is_shown(tables):
    raw = tables["practice_profile"]
    shown = protect(raw, "practice_profile").set_index("unit_code")
    # M83146: 13,370 patients, 72.8% in Core20; its decile shares that add up to it are shown
    assert shown.loc["M83146", "core20_pct"] == pytest.approx(72.84, abs=0.01)
    assert pd.notna(shown.loc["M83146", "imd_decile_1_pct"])
    # Core20 is hidden only where the number of patients it stands for is small
    hidden = shown["core20_pct"].isna() & raw.set_index("unit_code")["core20_pct"].notna()
    assert hidden.sum() < 48
    assert (_implied(raw.set_index("unit_code"), "core20_pct")[hidden] <= POLICY.suppress_max).all()


def test_pct_rural_is_shown_for_pcns(tables):
    raw = tables["pcn_profile"]
    shown = protect(raw, "pcn_profile")
    assert shown["pct_rural"].notna().sum() == raw["pct_rural"].notna().sum() == 25


@pytest.mark.parametrize("table", ["practice_profile", "pcn_profile"])
def test_a_shown_sum_never_gives_a_hidden_share_away(table, tables):
    raw = tables[table].reset_index(drop=True)
    shown = protect(raw, table).reset_index(drop=True)
    for computed, pattern in PROFILE_SUBSETS.items():
        if computed not in raw:
            continue
        members = next(f for f, computed_columns in PROFILE_FAMILIES if computed in computed_columns)
        family = [c for c in raw.columns if re.fullmatch(members, c)]
        inside = [c for c in family if re.fullmatch(pattern, c)]
        outside = [c for c in family if c not in inside]
        for part in (inside, outside):
            hidden = shown[part].isna() & raw[part].notna()
            counts = pd.DataFrame({c: _implied(raw, c) for c in part})
            n = hidden.sum(axis=1)
            total = counts.where(hidden).sum(axis=1)
            risky = shown[computed].notna() & ((n == 1) | ((n >= 2) & (total <= POLICY.suppress_max)))
            assert not risky.any(), (table, computed, list(raw.loc[risky, "unit_code"]))


def test_neighbourhood_shares_give_back_only_the_rounded_count(tables):
    raw = tables["pcn_lsoa"]
    shown = protect(raw, "pcn_lsoa")
    totals = raw.groupby("pcn_code")["patients"].transform("sum")
    published_total = np.floor(totals / 5 + 0.5) * 5
    ok = shown["pcn_share_pct"].notna()
    assert ok.sum() > 1000
    back = shown.loc[ok, "pcn_share_pct"] / 100 * published_total[ok]
    # a shown share times the (published, rounded) PCN total is the published count, never the raw
    assert np.allclose(back, shown.loc[ok, "patients"].astype(float), atol=1e-6)
    unrounded = raw.loc[ok, "patients"] != shown.loc[ok, "patients"].astype(float)
    assert unrounded.sum() > 100
    assert not np.allclose(back[unrounded], raw.loc[ok & unrounded, "patients"])


def test_profile_breakdowns_give_back_only_rounded_counts(tables):
    shown = protect(tables["practice_profile"], "practice_profile")
    deciles = [f"imd_decile_{d}_pct" for d in range(1, 11)]
    back = shown[deciles].mul(shown["patients"].astype(float), axis=0) / 100
    ok = back.notna() & (back > 0)
    assert ok.to_numpy().sum() > 500
    # each shown share of a practice's (rounded) list is a multiple of 5 patients of it
    remainder = (back[ok] / 5 - np.round(back[ok] / 5)).abs()
    assert np.nanmax(remainder.to_numpy()) < 1e-6
