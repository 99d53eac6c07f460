"""The compare and peers commands on the tiny store (support/tiny_practices.py)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from placehealth.analyses import peers as peer_analysis
from placehealth.outputs.cli import compare
from placehealth.sources.validate import InputError

from support.tiny_practices import built_comparison


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_comparison(tmp_path_factory.mktemp("cli") / "tiny.duckdb")


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
    assert hyp["period"] == "2020-21" and "peer_n" in hyp
    assert "vs_peers" in hyp and "vs_england" not in hyp
    # every PCN's 2020-21 register is hidden (5 and 0 are small and sum to 5, so the 40 beside
    # them goes too): so is what describes the unit, its rating against its peers included
    assert hyp["value"] in (None, "[c]") and hyp["vs_peers"] in (None, "[c]")


def test_compare_one_indicator_every_period(built):
    result = run(built, "compare", "practice", "A00002", "--indicator", "qof_hyp_prevalence",
                 "--period", "all", "--format", "json")
    rows = json.loads(result.stdout)
    assert [r["period"] for r in rows] == ["2019-20", "2020-21"]
    # 30 of 200 (15%, 95% limits 10.7-20.6%) against England's 50 of 500 (rounded from 52)
    assert rows[1]["value"] == 15 and rows[1]["vs_england"] == "higher"


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
