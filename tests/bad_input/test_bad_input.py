"""Bad input: a clear error naming file, line and field, a non-zero exit, and nothing stored.

Each case writes one malformed file, runs ``placehealth ingest`` on a store that already holds a
good load, and checks the message and that the DuckDB file is byte-for-byte unchanged.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from placehealth.outputs.cli import _register, app
from placehealth.store import Store

from support.layouts import (
    QOF_HEADER,
    QOF_ROWS,
    file7_row,
    square,
    write_csv,
    write_file7,
    write_geojson,
)

if not app.registered_commands:
    _register()

runner = CliRunner()


def ingest(db: Path, *paths: Path, args: tuple[str, ...] = ()):
    return runner.invoke(app, ["ingest", *map(str, paths), "--db", str(db), *args])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def good_db(tmp_path: Path) -> Path:
    """A store holding one good load (QOF 2024-25 prevalence of two demo practices)."""
    db = tmp_path / "store.duckdb"
    good = write_csv(tmp_path / "PREVALENCE_2425.csv", QOF_HEADER, QOF_ROWS)
    result = ingest(db, good)
    assert result.exit_code == 0, result.output
    return db


def _qof(rows: list[list[str]], header: list[str] = QOF_HEADER):
    return lambda path: write_csv(path, header, rows)


def _text(text: str | bytes):
    def write(path: Path) -> Path:
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path
    return write


def _xlsx_without_partner_sheet(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "PCNDetails"
    sheet.append(["PCN Code", "PCN Name", "Current Sub ICB\nLoc Code", "Sub ICB Location",
                  "Open Date", "Close Date", "Postcode"])
    sheet.append(["U90001", "DEMO PCN", "9A1", "DEMO SUB-ICB", "20190701", None, "ZZ1 1ZZ"])
    book.save(path)
    return path


def _truncated_gzip(path: Path) -> Path:
    body = "lsoa21_code,total_residents,Disabled under the Equality Act,Not disabled\n" + "".join(
        f"E019{i:05d},{1000 + i},{100 + i},{900}\n" for i in range(2000))
    data = gzip.compress(body.encode())
    path.write_bytes(data[: len(data) // 2])
    return path


def _sya_not_adding_up(path: Path) -> Path:
    header = ["LAD 2021 Code", "LAD 2021 Name", "LSOA 2021 Code", "LSOA 2021 Name", "Total",
              *[f"F{a}" for a in range(91)], *[f"M{a}" for a in range(91)]]
    good = ["E06000901", "Demo", "E01900001", "Demo 001A", str(182 * 10)] + ["10"] * 182
    bad = ["E06000901", "Demo", "E01900002", "Demo 001B", "999"] + ["10"] * 182
    return write_csv(path, header, [good, bad])


@dataclass
class Case:
    """One malformed file: how to write it, extra CLI args, and what the error must say."""

    name: str
    file_name: str
    write: object
    says: list[str]
    line: int | None = None
    field: str | None = None
    args: tuple[str, ...] = ()


CASES = [
    Case("missing column", "PREVALENCE_2324.csv",
         _qof([r[:2] + r[3:] for r in QOF_ROWS], [h for h in QOF_HEADER if h != "REGISTER"]),
         ["missing column 'REGISTER'"], line=1, field="REGISTER", args=("--as", "qof-prevalence")),
    Case("renamed column", "PREVALENCE_2324.csv",
         _qof(QOF_ROWS, [*QOF_HEADER[:4], "LIST_SIZE"]),
         ["missing column 'PRACTICE_LIST_SIZE'", "did you mean", "--map list_size=YOUR_COLUMN"],
         line=1, field="PRACTICE_LIST_SIZE"),
    Case("bad practice code", "PREVALENCE_2324.csv",
         _qof([QOF_ROWS[0], ["Y9001", "DM", "1", "17OV", "10"]]),
         ["practice code 'Y9001'"], line=3, field="practice_code"),
    Case("bad PCN code", "MAPPING_NHS_GEOGRAPHIES_2324.csv",
         _text("PRACTICE_CODE,PRACTICE_NAME,PCN_ODS_CODE,PCN_NAME\n"
               "Y90001,ONE,U90001,A PCN\nY90002,TWO,P90002,B PCN\n"),
         ["PCN code 'P90002'"], line=3, field="pcn_code"),
    Case("bad LSOA code", "File_7_IoD2025.csv",
         lambda p: write_file7(p, [file7_row("E01900001", 1.0, 5, 1, 10),
                                   file7_row("E0190002", 1.0, 6, 1, 10)]),
         ["LSOA code 'E0190002'"], line=3, field="lsoa_code"),
    Case("non-numeric count", "PREVALENCE_2324.csv",
         _qof([QOF_ROWS[0], ["Y90002", "DM", "lots", "17OV", "10"]]),
         ["'lots' is not a non-negative whole number"], line=3, field="register"),
    Case("negative count", "PREVALENCE_2324.csv",
         _qof([QOF_ROWS[0], QOF_ROWS[1], ["Y90002", "DM", "5", "17OV", "-10"]]),
         ["'-10' is not a non-negative whole number"], line=4, field="list_size"),
    Case("duplicate key", "PREVALENCE_2324.csv",
         _qof([QOF_ROWS[0], QOF_ROWS[1], ["Y90001", "HYP", "5", "TOTAL", "6020"]]),
         ["duplicate practice x group row", "also at line 2"], line=4, field="group_code"),
    Case("mixed periods", "practice_locations.csv",
         _text("EXTRACT_DATE,PRACTICE_CODE,PCN_CODE,Latitude_1m,Longitude_1m\n"
               "01Oct2025,Y90001,U90001,52.5,-2.0\n01Nov2025,Y90002,U90001,52.6,-2.1\n"),
         ["mixed extract dates", "01Nov2025"], line=3, field="extract_date"),
    Case("empty file", "PREVALENCE_2324.csv", _text(b""), ["the file is empty"]),
    Case("header only", "PREVALENCE_2324.csv", _text(",".join(QOF_HEADER) + "\n"),
         ["header but no data rows"]),
    Case("wrong encoding", "PREVALENCE_2324.csv",
         _text((",".join(QOF_HEADER) + "\nY90001,HYP,1,TOTAL,10\nY90002,CAF\xc9,1,TOTAL,10\n"
                ).encode("cp1252")),
         ["not UTF-8", "0xc9", "iconv"], line=3),
    Case("truncated file", "PREVALENCE_2324.csv",
         _text(",".join(QOF_HEADER) + "\nY90001,HYP,1,TOTAL,10\nY90002,HYP,2,TOT"),
         ["row has 4 fields, the header has 5", "truncated"], line=3),
    Case("unrecognised layout", "mystery.csv", _text("colour,shape\nred,square\n"),
         ["unrecognised layout", "layouts tried:", "qof-prevalence", "imd", "--as KIND",
          "--map canonical=source_column"], line=1),
    Case("truncated gzip", "census2021-ts038-lsoa.csv.gz", _truncated_gzip,
         ["gzip data is truncated or corrupt"]),
    Case("bad GeoJSON", "LSOA21_boundaries.geojson",
         _text('{"type": "FeatureCollection", "features": [{"type": "Feature", "prop'),
         ["not valid GeoJSON"], line=1),
    Case("xlsx missing sheet", "ePCN.xlsx", _xlsx_without_partner_sheet,
         ["no sheet 'PCN Core Partner Details'", "PCNDetails"], field="PCN Core Partner Details"),
    Case("decile out of range", "File_7_IoD2025.csv",
         lambda p: write_file7(p, [file7_row("E01900001", 1.0, 5, 1, 10),
                                   file7_row("E01900002", 1.0, 6, 11, 10)]),
         ["decile 11 is not 1-10"], line=3,
         field="Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)"),
    Case("boundaries not in WGS84", "LAD24_boundaries.geojson",
         lambda p: write_geojson(p, [({"LAD24CD": "E06000901", "LAD24NM": "Demo"},
                                      square(350000.0, 450000.0, 100.0))]),
         ["not in WGS84", "EPSG:4326"], field="geometry"),
    Case("bad epraccur status", "epraccur.csv",
         _text('"Y90001","ONE","Y99","QZ1","","","","","","ZZ1 1ZZ","20190101","","Z","B",'
               '"9A1","20190101","","","","","","0","","9A1","","4",""\n'),
         ["status 'Z' is not A, C, D or P"], line=1, field="column 13 (status)"),
    Case("ages do not add up", "sapelsoasyoa2022.csv", _sya_not_adding_up,
         ["ages of E01900002 add up to 1820, not the total 999"], field="Total"),
    Case("bad change code", "LSOA11_LSOA21_LAD22_EW_LU.csv",
         _text("LSOA11CD,LSOA11NM,LSOA21CD,LSOA21NM,CHGIND,LAD22CD,LAD22NM\n"
               "E01000001,A,E01000001,A,U,E09000001,City\n"
               "E01000002,B,E01000002,B,Q,E09000001,City\n"),
         ["change code 'Q'"], line=3, field="change_code"),
    Case("attributes without a period", "practice_imd.csv",
         _text("practice_code,imd_score\nY90001,12.5\n"),
         ["no period", "--period"], line=1, args=("--as", "practice-attributes")),
    Case("non-numeric attribute value", "covid.csv",
         _text("Date,AreaCode,Area,TotalCases\n2020-04-01,E06000901,Demo,5\n"
               "2020-04-02,E06000901,Demo,10\n2020-04-03,E06000901,Demo,1O\n"),
         ["value '1O' is not a number"], line=4, field="TotalCases"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_file_is_refused_and_the_store_is_unchanged(case: Case, good_db: Path,
                                                         tmp_path: Path):
    before = sha256(good_db)
    path = case.write(tmp_path / case.file_name)
    result = ingest(good_db, path, args=case.args)
    assert result.exit_code != 0
    message = str(result.exception)
    assert case.file_name in message
    for text in case.says:
        assert text in message, message
    if case.line is not None:
        assert f"line {case.line}" in message, message
    if case.field is not None:
        assert f"field {case.field!r}" in message, message
    assert sha256(good_db) == before


def test_contradicting_reload_of_a_period_is_refused(good_db: Path, tmp_path: Path):
    before = sha256(good_db)
    rows = [list(r) for r in QOF_ROWS]
    rows[2][2] = "1211"  # Y90002 HYP register: 1210 already loaded for 2024-25
    path = write_csv(tmp_path / "PREVALENCE_2425_v2.csv", QOF_HEADER, rows)
    result = ingest(good_db, path)
    assert result.exit_code != 0
    message = str(result.exception)
    assert "PREVALENCE_2425_v2.csv" in message and "field 'register'" in message
    assert "register = '1211' contradicts '1210' already loaded from PREVALENCE_2425.csv" \
        in message and "practice_code=Y90002, group_code=HYP" in message
    assert sha256(good_db) == before


def test_a_bad_file_among_good_ones_stores_none_of_them(good_db: Path, tmp_path: Path):
    before = sha256(good_db)
    good = write_csv(tmp_path / "PREVALENCE_2324.csv", QOF_HEADER, QOF_ROWS)
    bad = write_csv(tmp_path / "PREVALENCE_2223.csv", QOF_HEADER, [["Y90001", "HYP", "-1",
                                                                     "TOTAL", "5"]])
    result = ingest(good_db, good, bad)
    assert result.exit_code != 0 and "PREVALENCE_2223.csv, line 2" in str(result.exception)
    assert sha256(good_db) == before


def test_a_bad_file_between_good_ones_stores_none_of_them(good_db: Path, tmp_path: Path):
    """Each file is read while the one before it is written, in one transaction: the first may be
    written before the bad one is found, and is rolled back with it; the one after is not loaded."""
    before = sha256(good_db)
    first = write_csv(tmp_path / "PREVALENCE_2324.csv", QOF_HEADER, QOF_ROWS)
    bad = write_csv(tmp_path / "PREVALENCE_2223.csv", QOF_HEADER,
                    [QOF_ROWS[0], ["Y90001", "DM", "many", "17OV", "4801"]])
    after = write_csv(tmp_path / "PREVALENCE_2122.csv", QOF_HEADER, QOF_ROWS)
    result = ingest(good_db, first, bad, after)
    assert result.exit_code != 0
    message = str(result.exception)
    assert "PREVALENCE_2223.csv, line 3" in message and "field 'register'" in message, message
    assert sha256(good_db) == before
    with Store(good_db, read_only=True) as store:
        assert store.periods("qof_prevalence") == ["2024-25"] and len(store.loads()) == 1


def test_a_bad_file_after_a_good_one_leaves_no_new_store(tmp_path: Path):
    """The first file is read before a new store is made, the next while the first is written:
    a bad one rolls the store back, and a store this command made is removed again."""
    db = tmp_path / "new.duckdb"
    first = write_csv(tmp_path / "PREVALENCE_2324.csv", QOF_HEADER, QOF_ROWS)
    bad = write_csv(tmp_path / "PREVALENCE_2223.csv", QOF_HEADER,
                    [QOF_ROWS[0], ["Y90001", "DM", "many", "17OV", "4801"]])
    result = ingest(db, first, bad)
    assert result.exit_code != 0 and "PREVALENCE_2223.csv, line 3" in str(result.exception)
    assert not db.exists() and not Path(f"{db}.wal").exists()
    assert ingest(db, first).exit_code == 0 and db.exists()  # a good one makes it as before


def test_same_file_twice_changes_nothing(good_db: Path, tmp_path: Path):
    with Store(good_db, read_only=True) as store:
        loads, rows = len(store.loads()), store.read("qof_prevalence")
    again = tmp_path / "again" / "PREVALENCE_2425.csv"
    again.parent.mkdir()
    write_csv(again, QOF_HEADER, QOF_ROWS)  # same bytes, another path
    result = ingest(good_db, again)
    assert result.exit_code == 0 and "already loaded (unchanged)" in result.output
    with Store(good_db, read_only=True) as store:
        assert len(store.loads()) == loads
        assert store.read("qof_prevalence").equals(rows)


def test_a_new_period_goes_beside_the_old(good_db: Path, tmp_path: Path):
    rows = [[*r[:2], str(int(r[2]) + 7), *r[3:]] for r in QOF_ROWS]
    path = write_csv(tmp_path / "PREVALENCE_2526.csv", QOF_HEADER, rows)
    assert ingest(good_db, path).exit_code == 0
    with Store(good_db, read_only=True) as store:
        assert store.periods("qof_prevalence") == ["2024-25", "2025-26"]
        old = store.read("qof_prevalence", period="2024-25").set_index(["practice_code",
                                                                        "group_code"])
        assert old.loc[("Y90002", "HYP"), "register"] == 1210
        assert len(store.read("qof_prevalence")) == 8


def test_known_quirks_are_warnings_with_counts(tmp_path: Path):
    path = tmp_path / "practice_locations_2025-10.csv"
    path.write_text("PRAC_CODE,PRAC_NAME,PRAC_POSTCODE,PRAC_LAT,PRAC_LNG,PRAC_LSOA21,PCN_CODE\n"
                    "Y90001,ONE,ZZ1 1ZZ,52.5,-2.0,E01900001,U90001\n"
                    "Y90002,TWO,ZZ1 1ZY,,,,U\n")
    result = ingest(tmp_path / "s.duckdb", path)
    assert result.exit_code == 0, result.output
    assert "1 practices have no coordinates" in result.output
