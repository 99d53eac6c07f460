"""Partner registers and postcode lookups: reading, locating, history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from placehealth.sources import ReadOptions, read_file
from placehealth.sources.grid import to_grid, to_wgs84
from placehealth.sources.postcodes import locate, normalise_postcodes
from placehealth.store import Store

ONSPD = (
    "pcd,pcd2,pcds,dointr,doterm,oseast1m,osnrth1m,osgrdind,oslaua,lsoa11,lsoa21,lat,long\n"
    "ST4 1AA,ST4  1AA,ST4 1AA,198001,,388000,345000,1,E06000021,E01014200,E01014200,52.99,-2.18\n"
    "ST4 2BB,ST4  2BB,ST4 2BB,198001,,389000,346000,1,E06000021,E01014201,E01014201,53.0,-2.16\n"
    "ST5 9ZZ,ST5  9ZZ,ST5 9ZZ,198001,202001,,,9,E07000195,E01029600,E01029600,99.999999,0\n"
)
REGISTER = (
    "partner_id,name,kind,services,postcode,easting,northing,lsoa_code,capacity,contact\n"
    "P1,Hope Centre,Community centre,Flu clinics | blood pressure,st41aa,,,,3,hope@example.org\n"
    "P2,St Mark's,place of worship,,,389500,346500,,,\n"
    "P3,Food for All,food bank,food,,,,E01014202,1,\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def lookup_from(frame: pd.DataFrame):
    return lambda codes: locate(codes, [frame])


def test_postcodes_take_the_pcds_form_and_nonsense_is_none():
    got = normalise_postcodes(pd.Series(["st41aa", "ST4  1AA", " b1 1aa ", "SW1A1AA", "XX", ""]))
    assert got.tolist() == ["ST4 1AA", "ST4 1AA", "B1 1AA", "SW1A 1AA", None, None]


def test_onspd_layout_reads_points_lsoas_and_no_grid_markers(tmp_path):
    result = read_file(write(tmp_path / "ONSPD_FEB_2025_UK.csv", ONSPD))
    assert result.kind == "postcodes" and result.period == "2025-02"
    rows = result.tables["postcodes"].set_index("postcode")
    assert rows.loc["ST4 1AA", "edition"] == "onspd-2025-02"
    assert rows.loc["ST4 1AA", ["easting", "northing"]].tolist() == [388000, 345000]
    assert rows.loc["ST4 2BB", "lsoa21_code"] == "E01014201"
    # no grid reference (blank) and the ONSPD's 99.999999 latitude: no point at all
    assert np.isnan(rows.loc["ST5 9ZZ", "easting"]) and np.isnan(rows.loc["ST5 9ZZ", "latitude"])
    assert rows.loc["ST5 9ZZ", "terminated"] == "202001"


def test_codepoint_open_as_published_has_no_header(tmp_path):
    text = ('"ST4 1AA",10,388000,345000,"E92000001","E19000001","E18000005","","E06000021",'
            '"E05008000"\n"ST4 2BB",10,389000,346000,"E92000001","E19000001","E18000005","",'
            '"E06000021","E05008001"\n')
    result = read_file(write(tmp_path / "st.csv", text), options=ReadOptions(period="2025-10"))
    assert result.kind == "codepoint-open"
    rows = result.tables["postcodes"]
    assert rows["edition"].unique().tolist() == ["codepoint-2025-10"]
    assert rows["lad_code"].tolist() == ["E06000021", "E06000021"]
    assert rows["lsoa21_code"].isna().all()


def test_locate_takes_each_column_from_the_newest_edition_that_has_it():
    old = pd.DataFrame({"edition": "onspd-2024-02", "postcode": ["ST4 1AA"], "easting": [1.0],
                        "northing": [2.0], "lsoa21_code": ["E01000001"]})
    new = pd.DataFrame({"edition": "onspd-2025-02", "postcode": ["ST4 1AA"], "easting": [3.0],
                        "northing": [4.0], "lsoa21_code": [None]})
    got = locate(["st4 1aa", "ZZ1 1ZZ"], [old, new]).set_index("postcode")
    assert got.index.tolist() == ["ST4 1AA"]
    assert got.loc["ST4 1AA", ["easting", "northing"]].tolist() == [3.0, 4.0]
    assert got.loc["ST4 1AA", "lsoa21_code"] == "E01000001"


def test_wgs84_to_national_grid_matches_a_published_postcode_point():
    # Code-Point Open / ONSPD: B74 3AA at 409003 E, 299175 N; lat 52.590303, long -1.868539
    e, n = to_grid(np.array([52.590303]), np.array([-1.868539]))
    assert abs(e[0] - 409003) < 2 and abs(n[0] - 299175) < 2
    lat, lon = to_wgs84(e, n)
    assert abs(lat[0] - 52.590303) < 1e-6 and abs(lon[0] + 1.868539) < 1e-6


def test_a_register_is_located_by_coordinates_then_postcode_then_lsoa(tmp_path):
    lookup = read_file(write(tmp_path / "ONSPD_FEB_2025_UK.csv", ONSPD)).tables["postcodes"]
    options = ReadOptions(postcodes=lookup_from(lookup))
    result = read_file(write(tmp_path / "stoke_partners_2025-10.csv", REGISTER), "partners",
                       options)
    rows = result.tables["partners"].set_index("partner_id")
    assert result.period == "2025-10"
    assert rows["register"].unique().tolist() == ["stoke_partners"]
    assert rows.loc["P1", ["kind", "postcode", "located_by", "lsoa_code"]].tolist() == [
        "community_centre", "ST4 1AA", "postcode", "E01014200"]
    assert rows.loc["P1", ["easting", "northing"]].tolist() == [388000, 345000]
    assert rows.loc["P1", "services"] == "blood pressure;flu clinics"
    assert rows.loc["P2", ["kind", "located_by", "easting"]].tolist() == ["faith_venue", "grid",
                                                                         389500]
    assert rows.loc["P3", ["kind", "located_by", "lsoa_code"]].tolist() == [
        "food_bank", "lsoa", "E01014202"]
    assert np.isnan(rows.loc["P3", "easting"])
    assert rows.loc["P1", "contact"] == "hope@example.org"  # kept in the store, never output


def test_snapshots_are_kept_beside_each_other_and_a_changed_row_is_refused(tmp_path):
    lookup = read_file(write(tmp_path / "ONSPD_FEB_2025_UK.csv", ONSPD)).tables["postcodes"]
    options = ReadOptions(postcodes=lookup_from(lookup))
    first = write(tmp_path / "reg_2025-04.csv", REGISTER)
    later = write(tmp_path / "reg_2025-10.csv", REGISTER.replace(
        "P3,Food for All,food bank,food,,,,E01014202,1,",
        "P3,Food for All,food bank,food,,,,E01014202,1,\nP4,New Hub,council,,ST4 2BB,,,,,"))
    with Store(tmp_path / "s.duckdb") as store:
        store.ingest([read_file(first, "partners", options), read_file(later, "partners", options)])
        rows = store.read("partners")
    assert sorted(rows.groupby("period")["partner_id"].apply(sorted).to_dict().items()) == [
        ("2025-04", ["P1", "P2", "P3"]), ("2025-10", ["P1", "P2", "P3", "P4"])]
    clash = write(tmp_path / "reg_2025-04b.csv", "register,period," + REGISTER.splitlines()[0]
                  + "\nreg,2025-04,P1,Hope Centre Renamed,community centre,,ST4 1AA,,,,,\n")
    from placehealth.sources.validate import InputError
    with Store(tmp_path / "s.duckdb") as store, pytest.raises(InputError, match="contradicts"):
        store.ingest([read_file(clash, "partners", options)])


def test_dispensing_contractors_load_as_pharmacies_with_history(tmp_path):
    def row(code, postcode, opened, closed, status):
        fields = [code, "BOOTS", "Y61", "QNC", "1 HIGH ST", "", "STOKE", "", "", postcode,
                  opened, closed, status, "1", "P08F", opened, closed, "01782 000000"] + [""] * 9
        return ",".join(f'"{f}"' for f in fields)
    text = "\n".join([row("FA001", "ST4 1AA", "20060601", "", "A"),
                      row("FA002", "ZZ9 9ZZ", "19960115", "20240113", "C")]) + "\n"
    lookup = read_file(write(tmp_path / "ONSPD_FEB_2025_UK.csv", ONSPD)).tables["postcodes"]
    result = read_file(write(tmp_path / "edispensary_2025-04.csv", text),
                       options=ReadOptions(postcodes=lookup_from(lookup)))
    assert result.kind == "edispensary"
    rows = result.tables["partners"].set_index("partner_id")
    assert rows.loc["FA001", ["kind", "name", "valid_from", "located_by"]].tolist() == [
        "pharmacy", "Boots", "2006-06-01", "postcode"]
    # closed before the snapshot: kept as history, no location needed
    assert rows.loc["FA002", "valid_to"] == "2024-01-13"
    assert pd.isna(rows.loc["FA002", "located_by"])


def test_practice_locations_load_as_gp_sites(tmp_path):
    text = ("PRAC_CODE,PRAC_NAME,PRAC_POSTCODE,PRAC_LAT,PRAC_LNG,PRAC_LSOA21\n"
            "M83001,HORSEFAIR PRACTICE,WS15 2FH,52.590303,-1.868539,E01029514\n")
    result = read_file(write(tmp_path / "locations_2025-10.csv", text), "gp-sites")
    row = result.tables["partners"].iloc[0]
    assert (row["register"], row["kind"], row["located_by"]) == ("gp_sites", "gp_site", "latlon")
    assert abs(row["easting"] - 409003) < 2 and row["lsoa_code"] == "E01029514"


def test_travel_times_long_matrix_and_dft_layout(tmp_path):
    long = read_file(write(tmp_path / "times.csv", "origin,destination,minutes,mode\n"
                           "E01014200,P1,12.5,walk\nE01014200,P2,30,walk\n"), "travel-times")
    assert long.tables["travel_times"]["minutes"].tolist() == [12.5, 30.0]
    jts = read_file(write(tmp_path / "jts0505_2019.csv",
                          "LSOA_code,LA_Code,LA_Name,GPPTt,GPCyct,GPCart\n"
                          "E01014200,E06000021,Stoke-on-Trent,9.1,6.2,4.0\n"))
    rows = jts.tables["travel_times"].set_index("mode")
    assert jts.kind == "travel-times"
    assert rows.loc["pt", ["origin", "destination", "minutes"]].tolist() == [
        "E01014200", "nearest:gp_site", 9.1]
    assert rows.loc["car", "minutes"] == 4.0


def test_published_venue_lists_load_as_they_are(tmp_path):
    lookup = read_file(write(tmp_path / "ONSPD_FEB_2025_UK.csv", ONSPD)).tables["postcodes"]
    options = ReadOptions(postcodes=lookup_from(lookup))
    libraries = read_file(write(tmp_path / "ace_libraries_2022-12.csv",
                                "\ufeffLocal authority,Library name,Postcode\n"
                                "Stoke-on-Trent,Hanley Library,ST4 1AA\n"
                                '"Bournemouth, Christchurch and Poole",Boscombe Library,ST4 2BB\n'
                                "Stoke-on-Trent,Hanley Library,ST4 1AA\n"), options=options)
    assert libraries.kind == "ace-libraries" and libraries.period == "2022-12"
    rows = libraries.tables["partners"]
    assert rows["kind"].unique().tolist() == ["library"] and len(rows) == 2   # the repeat kept once
    assert rows["partner_id"].tolist() == ["hanley-library-ST41AA", "boscombe-library-ST42BB"]
    assert any("listed twice" in w for w in libraries.warnings)
    hubs = read_file(write(tmp_path / "family_hubs.csv",
                           "Region,Family_Hub,Postcode,Local_Authority,Programme\n"
                           "West Midlands,Bentilee Family Hub,st41aa,Stoke-on-Trent,Family Hubs\n"),
                     options=ReadOptions(postcodes=lookup_from(lookup), period="2025-01"))
    hub = hubs.tables["partners"].iloc[0]
    assert (hub["register"], hub["kind"], hub["lsoa_code"]) == ("family_hubs", "community_centre",
                                                                "E01014200")
