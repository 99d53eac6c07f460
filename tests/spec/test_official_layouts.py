"""The official layouts of the file-layout contract (what the demo writes) are auto-detected and
read faithfully: small files written here with the publishers' exact headers."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from placehealth.sources import ReadOptions, read_file

from support import SHARED_DATA
from support.layouts import file7_header, square, write_csv, write_file7, write_geojson


def test_iod2025_file7_with_bom_and_thousands_separators(tmp_path: Path):
    path = write_file7(tmp_path / "File_7_IoD2025_All_Ranks_Scores_Deciles_Population_Denominators.csv")
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf" and b'"1,234"' in path.read_bytes()
    result = read_file(path)
    assert (result.kind, result.period) == ("imd", "IoD2025")
    imd = result.tables["imd"].set_index(["lsoa_code", "domain"])
    assert set(imd.index.get_level_values("domain")) == {
        "imd", "income", "employment", "education", "health", "crime", "housing", "environment"}
    assert tuple(imd.loc[("E01900001", "imd"), ["score", "rank", "decile"]]) == (45.123, 1234, 1)
    assert imd.loc[("E01900003", "environment"), "rank"] == 32_999 + 6
    assert imd.loc[("E01900002", "income"), "score"] == 0.05
    assert (imd["lsoa_vintage"] == 2021).all()
    population = result.tables["lsoa_attributes"].set_index("lsoa_code")
    assert population.loc["E01900001", "value"] == 1520
    assert set(population["attribute"]) == {"iod_population_total"}


def test_iod2019_file7_layout_is_imd2019_on_lsoa11(tmp_path: Path):
    header = [h.replace("(2021)", "(2011)").replace("(2024)", "(2019)") for h in file7_header()]
    rows = [["E01000001", "City of London 001A", "E09000001", "City of London", "6.208",
             "29,199", "9", *["0.007", "32,831", "10"] * 7, "1,296"]]
    result = read_file(write_csv(tmp_path / "File_7_IoD2019.csv", header, rows, bom=True))
    assert result.period == "IMD2019"
    imd = result.tables["imd"].set_index("domain")
    assert tuple(imd.loc["imd", ["score", "rank", "decile"]]) == (6.208, 29_199, 9)
    assert (imd["lsoa_vintage"] == 2011).all()


def test_qof_prevalence_and_indicators_period_from_file_name(tmp_path: Path):
    prevalence = write_csv(tmp_path / "PREVALENCE_2425.csv",
                           ["PRACTICE_CODE", "GROUP_CODE", "REGISTER", "PATIENT_LIST_TYPE",
                            "PRACTICE_LIST_SIZE"], [["Y90001", "HYP", "812", "TOTAL", "6020"]])
    mapping = write_csv(tmp_path / "MAPPING_INDICATORS_2425.csv",
                        ["INDICATOR_CODE", "INDICATOR_POINT_VALUE", "GROUP_CODE",
                         "GROUP_DESCRIPTION", "DOMAIN_CODE", "DOMAIN_DESCRIPTION",
                         "PATIENT_LIST_TYPE"],
                        [["HYP008", "10", "HYP", "Hypertension", "CL", "Clinical", "TOTAL"]])
    assert read_file(prevalence).period == "2024-25"
    assert read_file(prevalence,
                     options=ReadOptions(period="2023/24")).period == "2023-24"
    indicators = read_file(mapping)
    assert indicators.kind == "qof-indicators" and indicators.period == "2024-25"
    assert indicators.tables["qof_indicators"].iloc[0]["point_value"] == 10.0


def test_census_ts021_nomis_bulk_layout(tmp_path: Path):
    real = SHARED_DATA / "census2021_population" / "census2021-ts021-lsoa.csv"
    if real.exists():
        with real.open(encoding="utf-8") as handle:
            header = next(csv.reader(handle))
    else:
        header = ["date", "geography", "geography code",
                  "Ethnic group: Total: All usual residents", "Ethnic group: White"]
    counts = [str(100 + i) for i in range(len(header) - 4)]
    rows = [["2021", "Demo 001A", "E01900001", str(sum(map(int, counts))), *counts]]
    result = read_file(write_csv(tmp_path / "census2021-ts021-lsoa.csv", header, rows))
    census = result.tables["census"].set_index("category")
    assert result.period == "TS021" and census.loc["Total", "residents"] == sum(map(int, counts))
    assert len(census) == len(header) - 3


def test_ons_lookups_official_column_names(tmp_path: Path):
    ward = write_csv(tmp_path / "LSOA21_WD24_LAD24_EW_LU.csv",
                     ["LSOA21CD", "LSOA21NM", "WD24CD", "WD24NM", "LAD24CD", "LAD24NM"],
                     [["E01900001", "Demo 001A", "E05900001", "Middle", "E06000901", "Demo"]])
    sicbl = write_csv(tmp_path / "LSOA21_SICBL24_ICB24_LAD24_EN_LU.csv",
                      ["LSOA21CD", "LSOA21NM", "SICBL24CD", "SICBL24CDH", "SICBL24NM", "ICB24CD",
                       "ICB24CDH", "ICB24NM", "LAD24CD", "LAD24NM"],
                      [["E01900001", "Demo 001A", "E38000901", "9A1", "Demo Sub-ICB",
                        "E54000901", "QZ1", "Demo ICB", "E06000901", "Demo"]])
    ruc = write_csv(tmp_path / "RUC21_LSOA21_EW.csv",
                    ["LSOA21CD", "LSOA21NM", "RUC21CD", "RUC21NM", "Urban_rural_flag"],
                    [["E01900001", "Demo 001A", "UN1", "Urban: Nearer to a major town or city",
                      "Urban"]])
    rows = {}
    for path in (ward, sicbl, ruc):
        result = read_file(path)
        assert result.kind == "geography-lookup"
        for _, row in result.tables["geography_lookup"].iterrows():
            rows[(row["level"], row["edition"])] = row["area_code"]
            assert row["lsoa_vintage"] == 2021
    assert rows == {("ward", "2024"): "E05900001", ("lad", "2024"): "E06000901",
                    ("sub_icb", "2024"): "E38000901", ("sub_icb_ods", "2024"): "9A1",
                    ("icb", "2024"): "E54000901", ("icb_ods", "2024"): "QZ1",
                    ("ruc", "2021"): "UN1", ("urban_rural", "2021"): "Urban"}


def test_boundaries_plain_and_gzipped(tmp_path: Path):
    lsoa = write_geojson(tmp_path / "LSOA21_boundaries.geojson", [
        ({"LSOA21CD": "E01900001", "LSOA21NM": "Demo 001A"}, square(-2.0, 52.5)),
        ({"LSOA21CD": "E01900002", "LSOA21NM": "Demo 001B"}, square(-2.01, 52.5))])
    lad = write_geojson(tmp_path / "LAD24_boundaries.geojson.gz", [
        ({"LAD24CD": "E06000901", "LAD24NM": "Demo"}, square(-2.0, 52.5, 0.1))], gz=True)
    first, second = read_file(lsoa), read_file(lad)
    assert (first.period, second.period) == ("lsoa21", "lad")
    table = first.tables["boundaries"]
    assert list(table["area_name"]) == ["Demo 001A", "Demo 001B"]
    assert table.iloc[0]["geometry"].startswith('{"type":"Polygon"')


def test_sapelsoasyoa_single_year_by_sex(tmp_path: Path):
    header = ["LAD 2021 Code", "LAD 2021 Name", "LSOA 2021 Code", "LSOA 2021 Name", "Total",
              *[f"F{a}" for a in range(91)], *[f"M{a}" for a in range(91)]]
    females, males = [str(a % 7) for a in range(91)], [str(a % 5) for a in range(91)]
    total = sum(map(int, females + males))
    rows = [["E06000901", "Demo", "E01900001", "Demo 001A", str(total), *females, *males]]
    result = read_file(write_csv(tmp_path / "sapelsoasyoa2022.csv", header, rows))
    pop = result.tables["lsoa_population"]
    assert result.period == "2022" and len(pop) == 1 + 182
    top = pop[(pop.sex == "FEMALE") & (pop.age_from == 90)].iloc[0]
    assert pd.isna(top["age_to"]) and top["population"] == 90 % 7
    assert int(pop.loc[pop.sex == "MALE", "population"].sum()) == sum(map(int, males))


def test_practice_locations_layout_needs_a_period_from_name_or_option(tmp_path: Path):
    header = ["PRAC_CODE", "PRAC_NAME", "PRAC_POSTCODE", "PRAC_LAT", "PRAC_LNG", "PRAC_LSOA21",
              "PCN_CODE", "PCN_NAME", "LOC_CODE", "ICB_CODE"]
    row = [["Y90001", "ONE", "ZZ1 1ZZ", "52.51", "-2.01", "E01900001", "U90001", "DEMO PCN",
            "9A1", "QZ1"]]
    named = read_file(write_csv(tmp_path / "practice_locations_2025-10.csv", header, row))
    assert named.period == "2025-10"
    assert named.tables["practice_pcn"].iloc[0]["sub_icb_code"] == "9A1"
    plain = read_file(write_csv(tmp_path / "practice_locations.csv", header, row),
                      options=ReadOptions(period="2025-10"))
    assert plain.tables["practice_locations"].iloc[0]["latitude"] == 52.51


def test_iod_column_names_map_to_domain_and_measure():
    from placehealth.sources.imd import classify

    cases = {
        "Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)": ("imd", "rank"),
        "Index of Multiple Deprivation (IMD) Decile": ("imd", "decile"),
        "Income Score (rate)": ("income", "score"),
        "Income Deprivation Affecting Children Index (IDACI) Score (rate)": ("idaci", "score"),
        "Income Deprivation Affecting Older People (IDAOPI) Rank (where 1 is most deprived)":
            ("idaopi", "rank"),
        "Education, Skills and Training Decile (where 1 is most deprived 10% of LSOAs)":
            ("education", "decile"),
        "Barriers to Housing and Services Score": ("housing", "score"),
        "Living Environment Rank (where 1 is most deprived)": ("environment", "rank"),
        "Children and Young People Sub-domain Score": ("children_young_people", "score"),
        "Geographical Barriers Sub-domain Rank (where 1 is most deprived)":
            ("geographical_barriers", "rank"),
        "Housing_and_Services_score": ("housing", "score"),
        "Housing_and_Access_decile": ("housing", "decile"),
        "imd2019_score": ("imd", "score"),
        "income_score_pct": ("income", "score"),
        "wider_barriers_rank": ("wider_barriers", "rank"),
        "LSOA code (2021)": None,
        "Total population: mid 2022 (excluding prisoners)": None,
        "imd_average_rank": None,
    }
    for column, expected in cases.items():
        assert classify(column) == expected, column


def test_nomis_bulk_layout_with_measures_suffix(tmp_path: Path):
    header = ["date", "geography", "geography code",
              "Residence type: Total; measures: Value",
              "Residence type: Lives in a household; measures: Value",
              "Residence type: Lives in a communal establishment; measures: Value"]
    rows = [["2021", "Demo 001A", "E01900001", "1500", "1490", "10"]]
    result = read_file(write_csv(tmp_path / "census2021-ts001-lsoa.csv", header, rows))
    census = result.tables["census"].set_index("category")["residents"]
    assert result.period == "TS001"
    assert census.to_dict() == {"Total": 1500, "Lives in a household": 1490,
                                "Lives in a communal establishment": 10}


def test_map_reads_a_non_official_deprivation_layout(tmp_path: Path):
    path = write_csv(tmp_path / "our_imd.csv", ["Area", "Score", "Band"],
                     [["E01000001", "6.208", "9"], ["E01000002", "5.143", "10"]])
    result = read_file(path, "imd", ReadOptions(
        mapping={"lsoa_code": "Area", "imd_score": "Score", "imd_decile": "Band"},
        period="IMD2019"))
    imd = result.tables["imd"].set_index("lsoa_code")
    assert tuple(imd.loc["E01000001", ["domain", "score", "decile"]]) == ("imd", 6.208, 9)
    assert (imd["lsoa_vintage"] == 2011).all()
