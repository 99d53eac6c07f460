"""The compare and peers commands on the tiny store (support/tiny_practices.py)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from placehealth.analyses import compare as compare_analysis
from placehealth.analyses import peers as peer_analysis
from placehealth.outputs.cli import compare
from placehealth.sources.validate import InputError

from support import frame, ingest
from support.tiny_practices import ATTRIBUTES, tiny_store


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from placehealth.store import Store

    db_path = tmp_path_factory.mktemp("cli") / "tiny.duckdb"
    with Store(db_path) as store:
        tiny_store(store)
        ingest(store, "practice_attributes", frame(ATTRIBUTES), "2020-21")
        peer_analysis.build(store)
        compare_analysis.build(store)
    return db_path


def run(db, *args):
    app = typer.Typer()
    compare.register(app)
    return CliRunner().invoke(app, [*args, "--db", str(db)])


def test_compare_a_pcn_against_its_peers_as_json(built):
    result = run(built, "compare", "pcn", "U00001", "--against", "peers", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["indicator"] for r in rows} == {"qof_dm_prevalence", "qof_hyp_prevalence"}
    hyp = next(r for r in rows if r["indicator"] == "qof_hyp_prevalence")
    assert hyp["period"] == "2020-21" and hyp["peer_n"] == 2
    assert "vs_peers" in hyp and "vs_england" not in hyp


def test_compare_one_indicator_every_period(built):
    result = run(built, "compare", "pcn", "U00003", "--indicator", "qof_hyp_prevalence",
                 "--period", "all", "--format", "json")
    rows = json.loads(result.stdout)
    assert [r["period"] for r in rows] == ["2019-20", "2020-21"]
    assert rows[1]["vs_england"] == "lower"


def test_peers_with_chosen_features_and_n(built):
    result = run(built, "peers", "pcn", "U00001", "--n", "1", "--features", "imd_score",
                 "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["peer_code"] for r in rows] == ["U00001", "U00002"]  # itself, then its peer
    assert rows[1]["imd_score"] == pytest.approx(30.0)
    result = run(built, "peers", "pcn", "U00001", "--within", "icb", "--format", "json")
    assert [r["peer_code"] for r in json.loads(result.stdout)] == ["U00001", "U00002"]


def test_clear_errors(built):
    result = run(built, "compare", "pcn", "U99999")
    assert isinstance(result.exception, InputError)
    assert "'U99999' is not in the comparison table" in str(result.exception)
    result = run(built, "peers", "pcn", "U00001", "--features", "nope")
    assert result.exit_code != 0 and "not available: nope" in result.output
    assert run(built, "compare", "icb", "Q01").exit_code != 0


def test_peers_reads_the_built_peer_groups(built, monkeypatch):
    from placehealth.store import Store

    with Store(built, read_only=True) as store:
        table = store.read("peers", level="pcn", unit_code="U00001", within="england")
    monkeypatch.setattr(peer_analysis, "nearest_peers",
                        lambda *a, **k: pytest.fail("peers found again instead of read"))
    result = run(built, "peers", "pcn", "U00001", "--disclosure", "nhs_england", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["peer_code"] for r in rows[1:]] == table.sort_values("rank")["peer_code"].tolist()
    assert all(r["list_size"] is None or r["list_size"] % 5 == 0 for r in rows if "list_size" in r)
