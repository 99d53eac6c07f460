"""Real data: outreach siting in Staffordshire & Stoke-on-Trent with real practices and pharmacies
as candidates and real missing-patient estimates.

Patients by practice and LSOA 2021 (NHS England, October 2025, the ICB subset), the practice
locations, the practice -> PCN map (October 2025), QOF 2021/22 prevalence (NHS Digital), IoD 2025,
the LSOA 2021 -> ward -> LTLA 2024 lookup, Code-Point Open postcodes placed in LSOAs (the derived
test-area lookup) and the NHS England dispensing contractors (edispensary, about April 2025). The
store's need is built by the need model; the siting answers are checked against brute force over
every subset of the candidates, computed here from the raw files.
"""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from typer.testing import CliRunner

from placehealth.analyses import need, profile, siting
from placehealth.outputs.cli import _register, app
from placehealth.outputs.cli.siting import pcn_inputs
from placehealth.sources import ReadOptions, read_file
from placehealth.sources.demo import read_options
from placehealth.store import Store

from support import shared_file

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

SSOT = "regional_subsets/staffordshire_stoke_2025/"
LOOKUP = "postcodes/postcode_lsoa21_lsoa11_test_areas_derived.csv.gz"
EDISPENSARY = "partners_and_venues/edispensary_2025-04.csv"
LOCATIONS = SSOT + "gp_practice_locations_ssot_2025-10.csv"
PCN = "U05734"  # Hanley, Bucknall & Bentilee (Stoke-on-Trent)
RADIUS = 1000.0

if not app.registered_commands:
    _register()


@pytest.fixture(scope="module")
def ssot(tmp_path_factory):
    started = time.perf_counter()
    path = tmp_path_factory.mktemp("siting") / "ssot.duckdb"
    store = Store(path)
    results = [
        read_file(shared_file(SSOT + "gp_patients_by_practice_lsoa21_ssot_2025-10.csv"),
                  options=ReadOptions(period="2025-10")),
        read_file(shared_file(LOCATIONS)),
        read_file(shared_file("pcn_practice_mapping/gp-reg-pat-prac-map_2025-10.csv")),
        read_file(shared_file("imd2025_lsoa21/imd2025_lsoa21_scores_ranks_deciles.csv")),
        read_file(shared_file("qof_prevalence/qof_2021-22_PREVALENCE_2122_V2_inferred.csv")),
        read_file(shared_file("geography_lookups/lsoa21_to_ward24_ltla24_lookup.csv")),
        read_file(shared_file(LOOKUP), options=ReadOptions(period="2025-10")),
    ]
    options = read_options(results)
    options.allow_unlocated = True  # Welsh and out-of-area pharmacies: kept, listed, unplaced
    results.append(read_file(shared_file(EDISPENSARY), options=options))
    store.ingest(results)
    profile.build(store)
    need.build(store)
    print(f"\nSSOT siting store built in {time.perf_counter() - started:.1f} s")
    store.close()  # tests and the command open it read-only, as users do
    with Store(path, read_only=True) as readable:
        yield readable, path


def _raw_inputs():
    """The PCN's need, LSOA points and candidate venues computed straight from the files and the
    stored gaps, independently of the siting code."""
    postcodes = pd.read_csv(shared_file(LOOKUP))
    points = postcodes.groupby("lsoa21cd")[["easting", "northing"]].mean()
    raw = pd.read_csv(shared_file(EDISPENSARY), header=None, dtype=str)
    day = "20250401"
    open_ = (raw[10] <= day) & (raw[11].isna() | (raw[11] > day))
    pharmacies = raw[open_].merge(postcodes[["postcode", "easting", "northing"]],
                                  left_on=9, right_on="postcode")
    pharmacies = pd.DataFrame({"site_id": pharmacies[0], "easting": pharmacies["easting"],
                               "northing": pharmacies["northing"]})
    locations = pd.read_csv(shared_file(LOCATIONS))
    to_bng = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    e, n = to_bng.transform(locations["Longitude_1m"].to_numpy(),
                            locations["Latitude_1m"].to_numpy())
    practices = pd.DataFrame({"site_id": locations["PRACTICE_CODE"], "easting": e,
                              "northing": n})
    return points, pd.concat([pharmacies, practices], ignore_index=True)


def _pcn_need(store) -> pd.Series:
    gaps = store.read("prevalence_gap_lsoa", level="pcn")
    gaps = gaps[(gaps["period"] == gaps["period"].max()) & (gaps["area_code"] == PCN)
                & (gaps["missing"] > 0)]
    footprint = store.read("pcn_lsoa")
    footprint = footprint[(footprint["pcn_code"] == PCN)
                          & footprint["in_footprint_95"].fillna(False).astype(bool)]
    by_lsoa = gaps.groupby("lsoa_code")["missing"].sum()
    return by_lsoa.reindex(footprint["lsoa_code"].unique()).fillna(0.0)


def test_pcn_demand_and_candidates_are_the_real_ones(ssot):
    store, _ = ssot
    demand, candidates, label = pcn_inputs(store, PCN, None, None, None, RADIUS)
    assert label.startswith("missing patients")
    expected = _pcn_need(store)
    assert len(demand) > 20 and set(demand["lsoa_code"]) == set(expected.index)
    assert np.allclose(demand.set_index("lsoa_code")["need"].reindex(expected.index), expected)
    assert expected.sum() > 100  # hundreds of estimated undiagnosed patients
    points, venues = _raw_inputs()
    xy = demand.set_index("lsoa_code")[["easting", "northing"]]
    assert np.allclose(xy.to_numpy(), points.loc[xy.index].to_numpy(), atol=0.01)
    # every real practice or pharmacy within the radius of one of the PCN's LSOAs is a candidate
    d = np.hypot(*(venues[["easting", "northing"]].to_numpy()[:, None, :]
                   - points.loc[xy.index].to_numpy()[None, :, :]).transpose(2, 0, 1))
    near = set(venues.loc[d.min(axis=1) <= RADIUS - 5, "site_id"])
    assert near <= set(candidates["partner_id"])
    assert {"pharmacy", "practice"} <= set(candidates["kind"])


@pytest.mark.parametrize("objective", ["mclp", "pmedian"])
def test_real_pcn_siting_equals_brute_force(ssot, objective):
    store, _ = ssot
    demand, candidates, _ = pcn_inputs(store, PCN, ["pharmacy"], None, None, RADIUS)
    problem = siting.SitingProblem(demand["lsoa_code"], demand["need"], candidates["site_id"],
                                   demand[["easting", "northing"]].to_numpy(),
                                   candidates[["easting", "northing"]].to_numpy(),
                                   core20=demand["core20"])
    p = 3
    started = time.perf_counter()
    result = (siting.mclp(problem, p, RADIUS) if objective == "mclp"
              else siting.pmedian(problem, p))
    seconds = time.perf_counter() - started
    assert result.optimal and result.status == "Optimal"
    diff = demand[["easting", "northing"]].to_numpy()[:, None, :] - \
        candidates[["easting", "northing"]].to_numpy()[None, :, :]
    d = np.hypot(diff[..., 0], diff[..., 1])
    w = demand["need"].to_numpy()
    subsets = itertools.combinations(range(len(candidates)), p)
    if objective == "mclp":
        covers = d <= RADIUS
        best = max(w[covers[:, list(s)].any(axis=1)].sum() for s in subsets)
        assert result.covered_weight == pytest.approx(best)
    else:
        best = min((w * d[:, list(s)].min(axis=1)).sum() for s in subsets)
        assert result.weighted_distance == pytest.approx(best, rel=1e-9)
    print(f"\n{PCN} {objective} p={p} among {len(candidates)} pharmacies: {seconds:.2f} s")


def test_real_set_cover_covers_or_names_the_unreachable(ssot):
    store, _ = ssot
    demand, candidates, _ = pcn_inputs(store, PCN, None, None, None, RADIUS)
    problem = siting.SitingProblem(demand["lsoa_code"], demand["need"], candidates["site_id"],
                                   demand[["easting", "northing"]].to_numpy(),
                                   candidates[["easting", "northing"]].to_numpy())
    d = np.hypot(*(demand[["easting", "northing"]].to_numpy()[:, None, :]
                   - candidates[["easting", "northing"]].to_numpy()[None, :, :])
                 .transpose(2, 0, 1))
    for radius in (300.0, RADIUS):
        unreachable = list(demand.loc[(d > radius).all(axis=1), "lsoa_code"])
        if unreachable:
            with pytest.raises(siting.UnreachableDemand) as caught:
                siting.lscp(problem, radius)
            assert caught.value.demand_ids == unreachable
        else:
            result = siting.lscp(problem, radius)
            assert result.optimal and result.assignments["covered"].all()
            assert 1 <= len(result.chosen) <= len(demand)


def test_cli_answers_in_seconds_with_disclosure_control(ssot):
    _, path = ssot
    runner = CliRunner()
    started = time.perf_counter()
    result = runner.invoke(app, ["target", "site", "pcn", PCN, "--objective", "mclp", "--p", "3",
                                 "--radius", "1000", "--kind", "pharmacy,practice",
                                 "--db", str(path), "--format", "json"])
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "Optimal" and data["optimal"] and len(data["chosen"]) == 3
    assert seconds < 30
    assert all(s["name"] for s in data["sites"])
    # need is shown as protected counts: multiples of 5, or hidden
    for value in [a["need"] for a in data["assignments"]] + [data["covered_weight"],
                                                             data["bound"]]:
        assert value is None or value % 5 == 0
    print(f"\ntarget site pcn {PCN}: {seconds:.2f} s, chosen {[s['name'] for s in data['sites']]}")
