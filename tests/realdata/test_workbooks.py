"""Excel input: a published table saved as a workbook reads exactly as its CSV does, whether the
sheet is clean (auto-detected, or forced with --as) or sits below title rows (--sheet,
--skip-rows). The workbooks are written here from the real CSV files, cell for cell."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from placehealth.outputs.cli import _register, app
from placehealth.sources import ReadOptions, read_file
from placehealth.sources.validate import InputError
from placehealth.store import Store

from support import shared_file

pytestmark = pytest.mark.realdata

MAPPING = "pcn_practice_mapping/gp-reg-pat-prac-map_2025-10.csv"
INDICATORS = "qof_prevalence/qof_2020-21_MAPPING_INDICATORS_2021_v2.csv"


def workbook(csv_path: Path, out: Path, *, title_rows: list[list[str]] = (),
             sheet: str = "Sheet1", before: str | None = None) -> Path:
    """The CSV's rows in a workbook sheet (numbers as numbers), below ``title_rows``."""
    book = openpyxl.Workbook()
    first = book.active
    if before is not None:  # a notes sheet first, as many publications have
        first.title = before
        first.append(["About this publication"])
        data = book.create_sheet(sheet)
    else:
        first.title = sheet
        data = first
    for row in title_rows:
        data.append(row)
    with csv_path.open(encoding="utf-8-sig", newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            data.append([int(v) if i and v.isdigit() and not v.startswith("0") else v
                         for v in row])
    book.save(out)
    return out


def same_tables(a, b) -> None:
    assert a.kind == b.kind and a.period == b.period
    assert set(a.tables) == set(b.tables)
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name].reset_index(drop=True),
                                      b.tables[name].reset_index(drop=True), check_dtype=False)


def test_a_clean_workbook_in_the_official_layout_is_recognised(tmp_path):
    source = shared_file(INDICATORS)
    book = workbook(source, tmp_path / "MAPPING_INDICATORS_2021_v2.xlsx")
    same_tables(read_file(book), read_file(source))
    same_tables(read_file(book, "qof-indicators"), read_file(source))  # --as: not "empty"


def test_a_published_workbook_with_title_rows(tmp_path):
    source = shared_file(MAPPING)
    book = workbook(source, tmp_path / "gp-reg-pat-prac-map.xlsx", sheet="Mapping",
                    before="Notes", title_rows=[
                        ["Patients Registered at a GP Practice, October 2025"],
                        ["Practice to PCN to Sub-ICB to ICB mapping"], []])
    with pytest.raises(InputError, match="unrecognised layout"):
        read_file(book)  # the notes sheet is not a table
    result = read_file(book, None, ReadOptions(sheet="Mapping", skip_rows=3))
    expected = read_file(source)
    same_tables(result, expected)
    assert len(result.tables["practice_pcn"]) == len(expected.tables["practice_pcn"]) > 6000


def test_ingest_options_reach_the_reader_and_errors_name_spreadsheet_rows(tmp_path):
    source = shared_file(INDICATORS)
    book = workbook(source, tmp_path / "MAPPING_INDICATORS_2021.xlsx", sheet="Data",
                    title_rows=[["QOF 2020-21 indicators"], []])
    _register()
    db = tmp_path / "s.duckdb"
    result = CliRunner().invoke(app, ["ingest", str(book), "--sheet", "Data", "--skip-rows", "2",
                                      "--db", str(db)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    with Store(db, read_only=True) as store:
        assert len(store.read("qof_indicators")) == 68
    sheet = openpyxl.load_workbook(book)
    sheet["Data"]["C5"] = "NOT A GROUP!"  # spreadsheet row 5 = the second indicator
    sheet.save(book)
    with pytest.raises(InputError) as caught:
        read_file(book, None, ReadOptions(sheet="Data", skip_rows=2))
    assert caught.value.line == 5 and caught.value.file == "MAPPING_INDICATORS_2021.xlsx"
    with pytest.raises(InputError, match="no sheet 'Table 9'"):
        read_file(book, None, ReadOptions(sheet="Table 9"))


def test_skip_rows_works_for_csv_too(tmp_path):
    source = shared_file(INDICATORS)
    titled = tmp_path / "MAPPING_INDICATORS_2021_titled.csv"
    titled.write_text("QOF 2020-21 indicators\nPublished by NHS England\n"
                      + source.read_text(encoding="utf-8-sig"), encoding="utf-8")
    same_tables(read_file(titled, None, ReadOptions(skip_rows=2)), read_file(source))
