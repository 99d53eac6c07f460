"""Real data: MMR1 coverage at 24 months by upper-tier local authority, UKHSA COVER quarterly
tables 2014/15 Q1 to 2025/26 (the long extract in uptake_series/). No local authority had a
recorded intervention here, so pretend ones test the methods' honesty on real series: placebo
interventions should rarely be called significant, and every method answers in seconds.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from placehealth.outputs.evaluation import evaluate

from support import shared_file

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

COVER = "uptake_series/cover_utla_quarterly_long_2014q1_2025q4.csv.gz"


@pytest.fixture(scope="module")
def mmr1() -> pd.DataFrame:
    """UTLA x quarter panel (calendar quarters: financial Q1 = April-June = calendar Q2)."""
    raw = pd.read_csv(shared_file(COVER), dtype=str)
    rows = raw[(raw["cohort"] == "24m") & (raw["vaccine_std"] == "MMR1")].copy()
    first_year = rows["financial_year"].str[:4].astype(int)
    quarter = rows["quarter"].astype(int)
    year = np.where(quarter == 4, first_year + 1, first_year)
    rows["quarter_label"] = [f"{y}Q{q % 4 + 1}" for y, q in zip(year, quarter, strict=True)]
    rows["coverage"] = pd.to_numeric(rows["coverage_pct"], errors="coerce")
    rows = rows.dropna(subset=["coverage"]).drop_duplicates(["utla_ons_code", "quarter_label"])
    counts = rows.groupby("utla_ons_code")["quarter_label"].nunique()
    complete = counts.index[counts == rows["quarter_label"].nunique()]
    return rows[rows["utla_ons_code"].isin(complete)][["utla_ons_code", "quarter_label", "coverage"]]


def _with_pretend(panel: pd.DataFrame, units: list[str], start: str) -> pd.DataFrame:
    return panel.assign(start=np.where(panel["utla_ons_code"].isin(units), start, ""))


def test_quarters_are_read_as_quarters_and_spc_answers_for_every_authority(mmr1):
    started = time.perf_counter()
    result = evaluate("spc", mmr1, time="quarter_label", outcome="coverage", unit="utla_ons_code",
                      improvement="up", target=95)
    assert time.perf_counter() - started < 20
    assert len(result["series"]) == mmr1["utla_ons_code"].nunique() > 80
    first = result["series"][0]
    assert first["points"][0]["period"] == "2014Q2"
    # MMR1 coverage fell over the decade: the latest point is a special cause of concern (low)
    # in many authorities and of improvement in few; lows cluster after 2022, highs before 2018
    variation = [s["variation"] for s in result["series"]]
    assert variation.count("concern_low") >= max(0.2 * len(variation), 5 * variation.count("improvement_high"))
    lows = [p["period"] for s in result["series"] for p in s["points"] if p["side"] == "low"]
    highs = [p["period"] for s in result["series"] for p in s["points"] if p["side"] == "high"]
    assert sum(p >= "2022" for p in lows) > 2 * sum(p < "2018" for p in lows)
    assert sum(p < "2018" for p in highs) > 2 * sum(p >= "2022" for p in highs)


def test_pretend_interventions_are_rarely_significant(mmr1):
    codes = sorted(mmr1["utla_ons_code"].unique())
    rng = np.random.default_rng(2024)
    p_values, pretrend = [], []
    started = time.perf_counter()
    for _ in range(20):
        pretend = list(rng.choice(codes, 5, replace=False))
        result = evaluate("did", _with_pretend(mmr1, pretend, "2021Q2"), time="quarter_label",
                          outcome="coverage", unit="utla_ons_code", first_treated="start",
                          draws=499)
        assert result["inference"] == "permutation"
        p_values.append(result["p_value"])
        pretrend.append(result["pretrend"]["p_value"])
    assert time.perf_counter() - started < 120
    assert sum(p < 0.05 for p in p_values) <= 3  # 1 expected in 20
    assert sum(p < 0.05 for p in pretrend) <= 3


def test_synth_and_its_on_one_authority(mmr1):
    code = sorted(mmr1["utla_ons_code"].unique())[10]
    panel = _with_pretend(mmr1, [code], "2021Q2")
    started = time.perf_counter()
    synth = evaluate("synth", panel, time="quarter_label", outcome="coverage",
                     unit="utla_ons_code", first_treated="start")
    assert time.perf_counter() - started < 20
    unit = synth["units"][0]
    assert sum(w["weight"] for w in unit["weights"]) == pytest.approx(1, abs=1e-3)
    spread = mmr1.groupby("quarter_label")["coverage"].std().mean()
    assert unit["pre_rmspe"] < spread  # the synthetic authority tracks it better than the spread
    assert unit["placebo_in_time"]["start"] < "2021Q2"
    its_result = evaluate("its", panel, time="quarter_label", outcome="coverage",
                          unit="utla_ons_code", first_treated="start")
    assert its_result["seasonality"] is True
    level = its_result["level_change"]
    assert level["lower"] < level["estimate"] < level["upper"]
