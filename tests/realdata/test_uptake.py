"""Uptake reader: UKHSA COVER childhood immunisations as published for West Sussex (2019/20-2021/22)."""

from __future__ import annotations

import pytest

from placehealth.sources import InputError, ReadOptions, read_file

from support import shared_file

GP = "childhood_immunisations/west_sussex_gp_childhood_immunisations.csv"
PCN = "childhood_immunisations/west_sussex_pcn_childhood_immunisations.csv"


@pytest.mark.realdata
def test_west_sussex_practice_file_keeps_suppressed_rows_and_drops_exact_repeats(store):
    result = read_file(shared_file(GP))
    uptake = result.tables["uptake"]
    assert result.kind == "uptake" and result.period == "2019-20..2021-22"
    # 3,712 data lines of which 258 repeat an earlier line exactly (checked with sort -u)
    assert len(uptake) == 3712 - 258
    assert set(uptake["area_level"]) == {"practice"}
    assert uptake["area_code"].nunique() == 81
    assert set(uptake["period"]) == {"2019-20", "2020-21", "2021-22"}
    assert set(uptake["age"]) == {"12 months", "24 months", "5 years"}
    assert int((uptake["numerator"].isna() | uptake["denominator"].isna()).sum()) == 43
    assert any("43 rows have a suppressed" in w for w in result.warnings)
    row = uptake[(uptake.area_code == "H82006") & (uptake.period == "2019-20")
                 & (uptake.indicator == "DTaPIPVHibHepB")].iloc[0]
    assert (row["numerator"], row["denominator"], row["age"]) == (30, 32, "12 months")
    store.ingest([result])
    assert store.table("uptake").count().execute() == 3454


@pytest.mark.realdata
def test_west_sussex_pcn_file_equals_the_sum_of_its_practices():
    pcn = read_file(shared_file(PCN)).tables["uptake"]
    assert set(pcn["area_level"]) == {"pcn"} and len(pcn) == 903
    assert pcn["area_code"].nunique() == 21
    row = pcn[(pcn.area_code == "U01092") & (pcn.period == "2019-20") & (pcn.age == "12 months")
              & (pcn.indicator == "DTaPIPVHibHepB")].iloc[0]
    # practices H82011, H82045, H82061, H82076: 149/152 + 200/210 + 65/69 + 20/20 (grep of the GP file)
    assert (row["numerator"], row["denominator"]) == (149 + 200 + 65 + 20, 152 + 210 + 69 + 20)


def _write(tmp_path, text, name="cover_practice_uptake.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_demo_layout_and_lsoa_files(tmp_path):
    path = _write(tmp_path, '"Year","ODS_Code","Age","Item","Numerator","Denominator"\n'
                  '"2024/25","Y90001","24 months","MMR1",90,100\n')
    frame = read_file(path).tables["uptake"]
    assert frame.iloc[0].to_dict() == {"period": "2024-25", "area_level": "practice",
                                       "area_code": "Y90001", "indicator": "MMR1",
                                       "age": "24 months", "numerator": 90, "denominator": 100}
    lsoa = _write(tmp_path, "LSOA_CODE,Indicator,Numerator,Denominator\nE01900001,Bowel screening,"
                  "40,80\n", "screening.csv")
    row = read_file(lsoa, options=ReadOptions(period="2023-24")).tables["uptake"].iloc[0]
    assert (row["area_level"], row["age"], row["period"]) == ("lsoa", "all", "2023-24")


def test_bad_inputs_name_the_line(tmp_path):
    head = '"Year","ODS_Code","Age","Item","Numerator","Denominator"\n'
    over = _write(tmp_path, head + '"2024/25","Y90001","5 years","MMR2",101,100\n')
    with pytest.raises(InputError, match=r"line 2.*exceeds denominator"):
        read_file(over)
    clash = _write(tmp_path, head + '"2024/25","Y90001","5 years","MMR2",90,100\n'
                   '"2024/25","Y90001","5 years","MMR2",91,100\n', "clash.csv")
    with pytest.raises(InputError, match=r"line 3.*duplicate"):
        read_file(clash)
    code = _write(tmp_path, head + '"2024/25","90001","5 years","MMR2",90,100\n', "code.csv")
    with pytest.raises(InputError, match=r"line 2.*practice code"):
        read_file(code)
    year = _write(tmp_path, head + '"2024","Y90001","5 years","MMR2",90,100\n', "year.csv")
    with pytest.raises(InputError, match=r"line 2.*financial year"):
        read_file(year)


@pytest.mark.realdata
def test_west_sussex_uptake_gap_to_95_percent(store):
    from placehealth.analyses import need

    store.ingest([read_file(shared_file(GP)), read_file(shared_file(PCN))])
    gaps = need.uptake_gaps(store)
    row = gaps[(gaps.area_level == "pcn") & (gaps.area_code == "U01092") & (gaps.period == "2021-22")
               & (gaps.indicator == "MMR2") & (gaps.age == "5 years")].iloc[0]
    # PCN file: 444 of 484 children had MMR2 by 5; 95% of 484 = 459.8 -> 460 - 444 = 16 behind
    assert (row["numerator"], row["denominator"], row["source"]) == (444, 484, "loaded")
    assert row["uptake"] == pytest.approx(444 / 484)
    assert row["gap"] == pytest.approx(0.95 - 444 / 484)
    assert row["people_behind"] == 16 and not row["met_target"]
    practices = gaps[gaps.area_level == "practice"]
    assert len(practices) == 3454 and practices["uptake"].isna().sum() == 43
