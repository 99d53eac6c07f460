"""Peer features on the real Staffordshire & Stoke-on-Trent place with national practice
attribute files loaded beside it (IMD 2019 practice scores and Census 2021 practice ethnicity as
fractions): one source per feature, the one covering the practices compared (said), fractions
become percentages, coverage is reported, and no pair "differs" on a value one of them lacks."""

from __future__ import annotations

import pandas as pd
import pytest

from placehealth.analyses import peers, profile
from placehealth.sources import ReadOptions, read_file
from placehealth.store import Store

from support import shared_file

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

REGISTRATIONS = ("regional_subsets/staffordshire_stoke_2025/"
                 "gp_patients_by_practice_lsoa21_ssot_2025-10.csv")
FILES = ["imd2025_lsoa21/imd2025_lsoa21_scores_ranks_deciles.csv",
         "geography_lookups/lsoa21_rural_urban_classification_2021.csv",
         "qof_prevalence/qof_2020-21_PREVALENCE_2021_v2.csv"]
ATTRIBUTES = ["derived_reference/practice_imd2019_blackwellrd_2023-01.csv",
              "derived_reference/practice_ethnicity_census2021_blackwellrd_2023-01.csv"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with Store(tmp_path_factory.mktemp("peers") / "s.duckdb") as s:
        s.ingest([read_file(shared_file(REGISTRATIONS), None, ReadOptions(period="2025-10"))]
                 + [read_file(shared_file(f)) for f in FILES])
        profile.build(s)
        s.ingest([read_file(shared_file(f), "practice-attributes", ReadOptions(period="2023-01"))
                  for f in ATTRIBUTES])
        yield s


def test_the_source_covering_the_compared_practices_is_chosen_and_said(store):
    # The profile's IoD 2025 covers the place's 141 practices; the IMD 2019 file covers 6,437
    # across England. National peers need the feature for every practice, so one source, the
    # national file, serves every practice, and the note says so with both counts.
    with pytest.warns(peers.PeerWarning, match=r"imd_score: from the practice_attributes "
                      r"2023-01 \(6,437 practices\), not the practice profile .*\(141\)"):
        features = peers.practice_features(store)
    assert features.attrs["sources"]["imd_score"] == "practice_attributes 2023-01"
    prof = store.read("practice_profile").set_index("practice_code")["imd_score"]
    attrs = store.read("practice_attributes", attribute="imd_score").set_index("practice_code")
    assert features.loc["M83146", "imd_score"] == pytest.approx(attrs.loc["M83146", "value"])
    assert features.loc["M83146", "imd_score"] != pytest.approx(prof["M83146"])  # never mixed
    assert features.loc["A81001", "imd_score"] == pytest.approx(attrs.loc["A81001", "value"])


def test_a_fraction_file_becomes_percentages(store):
    with pytest.warns(peers.PeerWarning, match="pct_non_white: .* fractions"):
        features = peers.practice_features(store)
    # the file says 0.192147183419442 for A81001 (The Densham Surgery)
    assert features.loc["A81001", "pct_non_white"] == pytest.approx(19.2147183419442)
    assert features.attrs["sources"]["pct_non_white"] == "practice_attributes 2023-01"


def test_coverage_is_reported_and_no_pair_differs_on_a_missing_value(store):
    with pytest.warns(peers.PeerWarning):
        written = peers.build(store)
    assert written["peer_coverage"] > 0
    coverage = store.read("peer_coverage")
    pcn = coverage[coverage["level"] == "pcn"].set_index("feature")
    assert pcn.loc["imd_score", "units"] == 25 and pcn.loc["imd_score", "coverage_pct"] == 100
    assert pcn["used"].all() and pcn.loc["imd_score", "source"] == "practice_attributes 2023-01"
    assert (coverage.loc[coverage["used"], "coverage_pct"] >= 50).all()
    pairs = store.read("peer_features")
    unknown = pairs["unit_value"].isna() | pairs["peer_value"].isna()
    assert pairs.loc[unknown, "share"].isna().all()
    assert pairs.loc[~unknown, "share"].notna().all()
    top = pairs.dropna(subset=["share"]).sort_values("share").groupby(
        ["level", "within", "unit_code", "peer_code"]).tail(1)
    assert top[["unit_value", "peer_value"]].notna().all().all()
    assert len(pd.unique(pairs["unit_code"])) > 25
