"""Protected copies written at build: reading through them gives exactly what protecting the
whole table in memory gives, filters run in the engine, and a changed table is never read stale."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from placehealth.outputs import disclosed
from placehealth.outputs.queries import BadRequest, Data
from placehealth.store import Store

from support import tiny_outputs as tiny


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("copies")
    plain = tiny.build(folder / "plain.duckdb")
    copied = folder / "copied.duckdb"
    shutil.copy(plain, copied)
    with Store(copied) as store:
        written = disclosed.write_all(store)
    assert written, "copies were written"
    return plain, copied


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal values (a missing value is missing whether None or NaN)."""
    def clean(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.reset_index(drop=True).astype(object)
        return frame.where(frame.notna(), None)
    pd.testing.assert_frame_equal(clean(a), clean(b))


@pytest.mark.parametrize("policy", ["opensafely", "nhs_england"])
def test_copies_give_what_protection_in_memory_gives(stores, policy):
    """Under each policy, copies protected once for both (or copied from the other's) included."""
    plain, copied = Data(stores[0], policy), Data(stores[1], policy)
    for table in plain.tables():
        if table == "loads":
            continue
        _same(plain.protected(table), copied.protected(table))
        assert str(plain.protected(table)["patients"].dtype) == str(copied.protected(table)["patients"].dtype) \
            if "patients" in plain.protected(table) else True


def test_filtered_reads_use_the_copy_and_agree(stores, monkeypatch):
    plain, copied = Data(stores[0]), Data(stores[1])
    expected = plain.rows("pcn_lsoa", pcn_code="U00001")
    expected_page = plain.query("pcn_lsoa", {"pcn_code": "U00001|U00002", "patients": "700|900"}, limit=0)
    # the copy must answer without protecting the whole table again
    monkeypatch.setattr(disclosed, "protect", lambda *a, **k: pytest.fail("protected per request"))
    _same(expected, copied.rows("pcn_lsoa", pcn_code="U00001"))
    page = copied.query("pcn_lsoa", {"pcn_code": "U00001|U00002", "patients": "700|900"}, limit=0)
    assert page.total == expected_page.total >= 2
    _same(expected_page.frame, page.frame)
    assert copied._copy("pcn_lsoa") is not None


def test_a_copys_row_numbers_are_no_column_of_the_table(stores):
    """Filters read through a copy know the table's columns only: its row numbers can be neither
    filtered on nor listed (as the table protected in memory)."""
    copied = Data(stores[1])
    assert copied._copy("pcn_lsoa") is not None
    for filters in ({"placehealth_rowz": "1"}, {disclosed.ROW: "1"}):
        with pytest.raises(BadRequest) as error:
            copied.query("pcn_lsoa", filters)
        assert "pcn_code" in str(error.value) and disclosed.ROW not in str(error.value).split("; columns:")[1]
    assert copied.rows("pcn_lsoa", **{disclosed.ROW: 1}).empty


def test_a_table_changed_after_the_build_is_protected_afresh(stores, tmp_path):
    stale = tmp_path / "stale.duckdb"
    shutil.copy(stores[1], stale)
    with Store(stale) as store:
        frame = store.read("pcn_lsoa")
        frame.loc[frame["lsoa_code"] == "E01000001", "patients"] = 5.0  # now small: must be hidden
        store.replace_table("pcn_lsoa", frame)
    data = Data(stale)
    assert data._copy("pcn_lsoa") is None
    row = data.rows("pcn_lsoa", pcn_code="U00001", lsoa_code="E01000001").iloc[0]
    assert pd.isna(row["patients"]) and "patients" in row["suppressed_cells"]


def test_copies_made_under_other_rules_are_not_used(stores, tmp_path, monkeypatch):
    other = tmp_path / "other.duckdb"
    shutil.copy(stores[1], other)
    assert Data(other)._copy("pcn_lsoa") is not None
    monkeypatch.setattr(disclosed, "rules_version", lambda: "changed-rules")
    assert Data(other)._copy("pcn_lsoa") is None
