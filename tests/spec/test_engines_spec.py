"""Spec: the heavy aggregations give the same results on DuckDB and on Spark (to 1e-9).

The tiny hand-made place of the profile spec (support.tiny_place) plus one QOF condition
(support.tiny_need) is built once in DuckDB and copied table by table, as Arrow, into a database
of the run's one local Spark session, and of its Spark Connect server when one is given
(tests/spec/conftest.py).
Every test runs on both engines (the ``engines`` mark): the registration matrix, the profile roll-ups,
the indicator values and the registration shares need apportioning starts from are computed by
the same Ibis expressions on each, and compared with the DuckDB results and hand-worked values.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from placehealth.analyses.matrix import registration_matrix
from placehealth.analyses.need import registration_shares
from placehealth.analyses.profile import period_tables
from placehealth.indicators import registry, values_many
from placehealth.store import Store

from support import ingest
from support.tiny_need import QOF
from support.tiny_place import build_place

pytestmark = pytest.mark.engines


@pytest.fixture(scope="session")
def duck_place(tmp_path_factory):
    with Store(tmp_path_factory.mktemp("engines") / "place.duckdb") as store:
        build_place(store)
        ingest(store, "qof_prevalence", QOF, "2024-25")
        yield store


@pytest.fixture(scope="session")
def copies(duck_place, locate):
    """The same tables on another engine (a database of the run's local Spark session or Spark
    Connect server), copied as Arrow once per engine."""
    made: dict[str, Store] = {}

    def copy(engine: str) -> Store:
        if engine not in made:
            location = locate(engine, "engines")
            with Store(location) as store, store.transaction():
                for name in duck_place.list_tables():
                    store.replace_table(name, duck_place.table(name).to_pyarrow())
            made[engine] = Store(location)
        return made[engine]

    yield copy
    for store in made.values():
        store.close()


@pytest.fixture
def place(engine, duck_place, copies) -> Store:
    return duck_place if engine == "duckdb" else copies(engine)


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True)


def _same(got: pd.DataFrame, want: pd.DataFrame, keys: list[str]) -> None:
    got, want = _sorted(got, keys), _sorted(want, keys)
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-9, atol=1e-9)


def test_registration_matrix(place, duck_place):
    matrix, vintage = registration_matrix(place, "2025-01")
    got = matrix.to_pandas()
    assert vintage == 2021
    a1 = got[got["practice_code"] == "A00001"].set_index("lsoa_code")["patients"]
    assert a1.to_dict() == {"E01000001": 60.0, "E01000002": 30.0, "EMPTY": 10.0}  # ALL, not MALE
    a3 = got[got["practice_code"] == "A00003"]["patients"]
    assert a3.tolist() == [100.0]  # MALE 40 + FEMALE 60 where there is no ALL row
    keys = ["practice_code", "lsoa_code"]
    _same(got, registration_matrix(duck_place, "2025-01")[0].to_pandas(), keys)


def _matrix_by_hand(raw: pd.DataFrame) -> pd.DataFrame:
    """Each practice's ALL rows, or its MALE + FEMALE rows where it has no ALL row, summed."""
    has_all = raw.groupby(["period", "practice_code"])["sex"].transform(lambda s: (s == "ALL").any())
    used = raw[(raw["sex"] == "ALL") | ~has_all]
    return used.groupby(["period", "practice_code", "lsoa_code", "lsoa_known"],
                        as_index=False)["patients"].sum().astype({"patients": float})


def test_registration_matrix_with_and_without_practices_lacking_all_rows(place, duck_place, store):
    """Read two ways: regrouped when some practice gives only MALE and FEMALE rows, the ALL rows
    as they are when every practice has them (the published layout). Both equal a hand sum."""
    raw = duck_place.table("registrations_lsoa").to_pandas()
    keys = ["period", "practice_code", "lsoa_code"]
    assert not raw.groupby(["period", "practice_code"])["sex"].apply(lambda s: (s == "ALL").any()).all()
    periods = sorted(raw["period"].unique())
    want = _matrix_by_hand(raw)
    got = registration_matrix(place, periods)[0].to_pandas()
    _same(got[want.columns.tolist()], want, keys)
    every_all = raw[raw["practice_code"].isin(raw.loc[raw["sex"] == "ALL", "practice_code"])]
    store.replace_table("registrations_lsoa", pa.Table.from_pandas(every_all, preserve_index=False))
    want = _matrix_by_hand(every_all)
    got = registration_matrix(store, periods)[0].to_pandas()
    assert len(want) and set(got["practice_code"]) == set(every_all["practice_code"])
    _same(got[want.columns.tolist()], want, keys)


def test_profile_rollups(place, duck_place):
    got = period_tables(place, "2025-01")
    want = period_tables(duck_place, "2025-01")
    assert set(got) == set(want)
    for name, frame in want.items():
        assert not frame.empty, name
        keys = [c for c in ("period", "level", "unit_code") if c in frame.columns]
        _same(got[name], frame, keys)
    a1 = got["practice_profile"].set_index("unit_code").loc["A00001"]
    assert a1["imd_score"] == pytest.approx((60 * 40 + 30 * 20) / 90, abs=1e-9)


def test_indicator_values(place, duck_place):
    known = registry(place)
    qof = [i for i in known.values() if "COPD" in i.name.upper() or "copd" in i.name]
    assert qof, sorted(known)
    got = values_many(place, qof, "practice")
    want = values_many(duck_place, qof, "practice")
    assert len(got) == 4
    assert got.set_index("unit_code").loc["A00002", "numerator"] == 30
    _same(got, want, ["indicator", "unit_code", "period"])
    # PCN: practices joined to their units inside the engine (an in-memory membership table)
    got = values_many(place, qof, "pcn")
    _same(got, values_many(duck_place, qof, "pcn"), ["indicator", "unit_code", "period"])
    assert got["numerator"].sum() == 100  # every practice in one PCN: 10 + 30 + 20 + 40


def test_need_registration_shares(place, duck_place):
    got, period = registration_shares(place, "2025-01")
    want, _ = registration_shares(duck_place, "2025-01")
    assert period == "2025-01"
    a1 = got[got["practice_code"] == "A00001"].set_index("lsoa_code")["share"]
    assert a1.to_dict() == pytest.approx({"E01000001": 0.6, "E01000002": 0.3})
    _same(got, want, ["practice_code", "lsoa_code"])
