"""Every real file in ../shared/data ingests (auto-detected, or with --as/--map/--period), into
one store, and the stored numbers match the facts PROVENANCE.md and the publishers state.

The files are loaded once (module fixture); each test then checks one publication. Expected
values come from PROVENANCE.md, the publishers' own figures or the files' first lines read by
eye, never from this reader's output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from placehealth.sources import ReadOptions, read_file
from placehealth.store import Store

from support import FORCED, SHARED_DATA, real_files

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """All real files read and ingested into one store: (store, {relative path: result info})."""
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not present: {SHARED_DATA}")
    files = real_files()
    store = Store(tmp_path_factory.mktemp("real") / "real.duckdb")
    info = {}
    for path in files:
        relative = str(path.relative_to(SHARED_DATA))
        kind, period, *mapping = FORCED.get(relative, (None, None))
        # partner lists are read before the postcode lookups (file order): kept unplaced, listed
        result = read_file(path, kind, ReadOptions(period=period, allow_unlocated=True,
                                                   mapping=mapping[0] if mapping else {}))
        store.ingest([result])
        info[relative] = {"kind": result.kind, "period": result.period,
                          "warnings": list(result.warnings),
                          "rows": {t: len(f) for t, f in result.tables.items()}}
    yield store, info
    store.close()


def _one(store: Store, sql: str):
    return store.con.con.execute(sql).fetchall()


def test_every_file_was_read_and_is_in_the_ledger(loaded):
    store, info = loaded
    expected = {str(p.relative_to(SHARED_DATA)) for p in real_files()}
    assert set(info) == expected and len(expected) >= 60
    assert len(store.loads()) == len(expected)  # every file its own load; none skipped


def test_imd2019_official_files_and_mysociety_scores(loaded):
    store, info = loaded
    assert info["imd2019_lsoa11/File_1_-_IMD2019_Index_of_Multiple_Deprivation.csv.gz"][
        "period"] == "IMD2019"
    imd = store.table("imd")
    e19 = imd.filter((imd.edition == "IMD2019") & (imd.domain == "imd"))
    assert e19.count().execute() == 32_844
    row = e19.filter(e19.lsoa_code == "E01000001").to_pandas().iloc[0]
    # File 1: "29,199" (quoted thousands separator), decile 9; mySociety: score 6.208
    assert (row["rank"], row["decile"], row["score"]) == (29_199, 9, 6.208)
    assert set(e19.to_pandas()["lsoa_vintage"]) == {2011}
    # deciles are tenths of 32,844 LSOAs: 3,284 or 3,285 each
    per_decile = e19.group_by("decile").count().to_pandas().set_index("decile")["CountStar()"]
    assert per_decile.between(3_284, 3_285).all() and len(per_decile) == 10
    wanted = {("income", "rank"): 32_831, ("education", "rank"): 32_842,
              ("idaci", "rank"): 32_806, ("idaopi", "rank"): 32_820,
              ("environment", "rank"): 7_789, ("outdoors", "rank"): 1_615}
    first = imd.filter((imd.edition == "IMD2019") & (imd.lsoa_code == "E01000001")).to_pandas()
    for (domain, measure), value in wanted.items():
        assert first.set_index("domain").loc[domain, measure] == value, domain
    income = first.set_index("domain").loc["income", "score"]
    assert income == pytest.approx(0.007)  # mySociety 0.7 % -> official rate 0.007


def test_imd2025_scores_ranks_deciles_and_subdomains(loaded):
    store, _ = loaded
    imd = store.table("imd")
    e25 = imd.filter((imd.edition == "IoD2025") & (imd.domain == "imd"))
    assert e25.count().execute() == 33_755
    first = imd.filter((imd.edition == "IoD2025") & (imd.lsoa_code == "E01000001")).to_pandas()
    first = first.set_index("domain")
    assert tuple(first.loc["imd", ["score", "rank", "decile"]]) == (8.742, 26_525, 8)
    assert tuple(first.loc["indoors", ["score", "rank", "decile"]]) == (1.207, 1_105, 1)
    assert first.loc["housing", "score"] == 10.95
    assert set(first.index) >= {"income", "employment", "education", "health", "crime",
                                "housing", "environment", "children_young_people"}


def test_iod_population_indicators_and_area_summaries(loaded):
    store, _ = loaded
    rows = _one(store, "select value from lsoa_attributes where period='IMD2019' and "
                "lsoa_code='E01000001' and attribute='iod_population_total'")
    assert rows == [(1296.0,)]  # File 6: "1,296"
    indicators = _one(store, "select count(distinct attribute), count(distinct lsoa_code) "
                      "from lsoa_attributes where period='IoD2025'")
    assert indicators == [(28, 33_755)]  # File 8: 29 columns = LSOA code + 28 indicators
    icbs = _one(store, "select count(distinct area_code) from area_attributes "
                "where level='icb' and period='IoD2025'")
    lads = _one(store, "select count(distinct area_code) from area_attributes "
                "where level='lad' and period='IoD2025'")
    assert (icbs[0][0], lads[0][0]) == (42, 296)


def test_qof_prevalence_two_years_side_by_side(loaded):
    store, info = loaded
    assert info["qof_prevalence/qof_2020-21_PREVALENCE_2021_v2.csv"]["period"] == "2020-21"
    assert store.periods("qof_prevalence") == ["2019-20", "2020-21", "2021-22"]
    y19 = _one(store, "select count(*), count(distinct practice_code), "
                      "count(distinct group_code) from qof_prevalence where period='2019-20'")
    # PROVENANCE: 141,120 rows, 6,720 practices; 21 groups (CVDPP on list type 30_74, no NDH)
    assert y19 == [(141_120, 6_720, 21)]
    q = store.table("qof_prevalence")
    y20 = q.filter(q.period == "2020-21")
    assert y20.count().execute() == 137_991
    assert y20.practice_code.nunique().execute() == 6_571
    assert y20.group_code.nunique().execute() == 21
    hyp = {p: _one(store, f"select sum(register) from qof_prevalence where group_code='HYP' "
                          f"and period='{p}'")[0][0] for p in ("2020-21", "2021-22")}
    assert round(hyp["2020-21"] / 1e6, 2) == 8.46 and round(hyp["2021-22"] / 1e6, 2) == 8.60
    indicators = store.read("qof_indicators")
    assert len(indicators) == 68
    assert indicators.set_index("indicator_code").loc["AF001", "group_description"] == \
        "Atrial fibrillation"


def test_practice_to_pcn_from_every_source(loaded):
    store, info = loaded
    pp = store.table("practice_pcn")
    qof = pp.filter(pp.period == "2020-21").to_pandas()
    assert len(qof) == 6_571 and (qof["pcn_code"] == "U").sum() == 70
    nat = pp.filter(pp.period == "2025-10").to_pandas()  # national map + Staffordshire files
    assert len(nat) == 6_202 and nat.loc[nat.pcn_code != "U", "pcn_code"].nunique() == 1_297
    loc = pp.filter(pp.period == "2024-01").to_pandas()
    assert len(loc) == 6_325 and (loc["pcn_code"] == "U").sum() == 69
    pcns = store.table("pcns")
    assert pcns.filter(pcns.period == "2023-01").count().execute() == 1_329
    assert info["pcn_practice_mapping/ePCN_2022-04.xlsx"]["rows"]["pcns"] == 1_318
    epcn = pp.filter(pp.period == "2023-01").to_pandas()
    assert epcn["practice_code"].is_unique and epcn["pcn_code"].str.match(r"^U\d{5}$").all()
    assert 6_300 < len(epcn) < 6_600  # current memberships of ~6,400 English practices


def test_epraccur_keeps_every_practice_and_warns_about_quirks(loaded):
    store, info = loaded
    practices = store.read("practices", period="2023-04")
    gp = practices[practices["prescribing_setting"] == "4"]
    assert len(gp) == 8_641  # PROVENANCE: col25 == '4'
    assert (gp["status"] == "A").sum() == 6_848
    assert (gp["status"].eq("A") & gp["practice_code"].str.startswith("W")).sum() == 403
    warning = " ".join(info["gp_practices/epraccur_2023-04.csv"]["warnings"])
    assert "139 organisations with non-practice codes" in warning and "403" in warning


def test_practice_locations_national_and_staffordshire(loaded):
    store, _ = loaded
    loc = store.read("practice_locations", period="2024-01")
    assert len(loc) == 6_325
    a81001 = loc.set_index("practice_code").loc["A81001"]
    assert (a81001["latitude"], a81001["longitude"]) == (54.561625, -1.318986)
    assert a81001["lsoa21_code"] == "E01035199"
    ssot = store.read("practice_locations", period="2025-10")
    assert len(ssot) == 141 and ssot["latitude"].between(52, 54).all()


def test_census_tables_and_populations(loaded):
    store, _ = loaded
    totals = dict(_one(store, "select census_table, sum(residents) from census "
                   "where category='Total' group by census_table"))
    # ONS: 59,597,542 usual residents in England and Wales; LSOA cells are perturbed slightly
    assert totals["TS021"] == pytest.approx(59_597_542, rel=1e-4)
    assert _one(store, "select count(distinct lsoa_code) from census where census_table='TS021'"
                )[0][0] == 35_672
    disabled = _one(store, "select residents from census where census_table='TS038' and "
                    "lsoa_code='E01000001' and category='Disabled under the Equality Act'")
    assert disabled == [(152,)]
    pop = dict(_one(store, "select period, sum(population) from lsoa_population where "
                    "age_from = -1 group by period"))
    assert pop["census-2021"] == 59_597_114 and pop["2020"] == 59_719_724
    ages = _one(store, "select sum(population) from lsoa_population where period='2020' and "
                "age_from >= 0")
    assert ages[0][0] == 59_719_724  # single years add up to the total


def test_geography_lookups(loaded):
    store, _ = loaded
    changes = store.read("lsoa_changes")
    assert len(changes) == 35_795 and set(changes["change_code"]) == {"U", "S", "M", "X"}
    assert changes["lsoa11_code"].nunique() == 34_753 and changes["lsoa21_code"].nunique() == 35_672

    def count(level: str, edition: str) -> int:
        return _one(store, f"select count(distinct lsoa_code) from geography_lookup where "
                    f"level='{level}' and edition='{edition}'")[0][0]

    assert count("ward", "2024") == 35_672 and count("ruc", "2021") == 35_672
    assert count("sub_icb", "2024") == 33_755 and count("msoa", "2011") == 34_753
    assert _one(store, "select count(distinct area_code) from geography_lookup where "
                "level='icb_ods' and edition='2024'")[0][0] == 42
    ods = dict(_one(store, "select level, area_code from geography_lookup where "
                    "lsoa_code='E01012392' and edition='2024' and level like '%_ods'"))
    assert ods == {"sub_icb_ods": "01F", "icb_ods": "QYG"}
    assert _one(store, "select count(*) from area_lookup where from_level='lad24' and "
                "to_level='region24'")[0][0] == 296
    assert _one(store, "select count(*) from area_names where name_type='hocl'")[0][0] == 7_201
    points = _one(store, "select count(*) from lsoa_attributes where period='2011' and "
                  "attribute='latitude'")[0][0]
    assert points == 34_753
    msoa_points = _one(store, "select count(*) from area_attributes where level='msoa11' and "
                       "attribute='latitude'")[0][0]
    assert msoa_points == 7_198  # 7,200 rows; W02000422 given twice with different points


def test_boundaries_every_level(loaded):
    store, _ = loaded
    counts = dict(_one(store, "select level, count(*) from boundaries group by level"))
    assert counts == {"lsoa21": 35_672, "lsoa11": 34_753, "msoa21": 7_264, "msoa11": 7_201,
                      "lad": 361, "icb": 42}


def test_national_registrations_2022_with_mapped_columns(loaded):
    store, info = loaded
    national = info["gp_registrations/gp_patients_by_practice_lsoa11_2022_national.csv.gz"]
    assert national["rows"] == {"registrations_lsoa": 865_965}
    rows = _one(store, "select count(distinct practice_code), sum(patients) "
                "from registrations_lsoa where period='2022-01'")
    practices, patients = rows[0]
    assert practices == 6_484 and round(patients / 1e6, 1) == 61.8  # PROVENANCE.md


def test_generic_routes(loaded):
    store, info = loaded
    covid = info["covid19/covid-19-cases-uk_tomwhite_2020-01-to-2020-08.csv"]
    assert covid["kind"] == "area-attributes"
    assert _one(store, "select count(distinct area_code) from area_attributes where "
                "level='utla' and attribute='total_cases'")[0][0] == 149
    imd = store.read("practice_attributes", period="2023-01", attribute="imd_score")
    assert len(imd) == 6_437
    groups = store.read("practice_groups")
    pcn = groups[groups["grouping"] == "pcn"]
    assert len(pcn) == 74 and set(groups["grouping"]) == {"pcn", "ccg"}


def test_loading_everything_again_changes_nothing(loaded, tmp_path):
    store, _ = loaded
    before = store.loads()
    path = SHARED_DATA / "qof_prevalence" / "qof_2020-21_PREVALENCE_2021_v2.csv"
    summary = store.ingest([read_file(Path(path))])
    assert summary[0]["new"] is False and len(store.loads()) == len(before)


def test_postcode_lookups_and_partner_lists(loaded):
    """PROVENANCE.md section 14: Code-Point Open England 1,492,125 postcodes; the derived test-area
    lookup 96,794; edispensary 20,932 contractors (11,276 active); 2,564 libraries; 675 hubs."""
    store, info = loaded
    assert info["postcodes/codepoint_open_2025-10_england.csv.gz"]["kind"] == "postcodes"
    editions = dict(_one(store, "SELECT edition, count(*) FROM postcodes GROUP BY 1"))
    assert editions == {"codepoint-2025-10": 1_492_125, "lookup-2025-10": 96_794}
    registers = dict(_one(store, "SELECT register, count(*) FROM partners GROUP BY 1"))
    assert registers == {"edispensary": 20_932, "ace_libraries": 2_564, "family_hubs": 675}
    open_ = _one(store, "SELECT count(*) FROM partners WHERE register = 'edispensary' "
                        "AND valid_to IS NULL")[0][0]
    assert open_ >= 11_276  # active, plus proposed contractors not yet open
