"""A tiny store of five practices for the indicator, comparison and compare-CLI tests, written as
readable tables."""

from __future__ import annotations

from pathlib import Path

from placehealth.store import Store

from support import frame, ingest

MAPPING = """
| period  | practice_code | practice_name | pcn_code | pcn_name | icb_code | icb_name | region_code | region_name |
| 2020-21 | A00001        | One           | U00001   | North    | Q01      | Alpha    | Y01         | East        |
| 2020-21 | A00002        | Two           | U00001   | North    | Q01      | Alpha    | Y01         | East        |
| 2020-21 | A00003        | Three         | U00002   | South    | Q01      | Alpha    | Y01         | East        |
| 2020-21 | A00004        | Four          | U00003   | West     | Q02      | Beta     | Y01         | East        |
| 2020-21 | A00005        | Five          | U       | Unallocated | Q02    | Beta     | Y01         | East        |
"""

QOF = """
| period  | practice_code | group_code | register | list_type | list_size |
| 2019-20 | A00001        | HYP        | 8        | TOTAL     | 100       |
| 2019-20 | A00002        | HYP        | 20       | TOTAL     | 200       |
| 2019-20 | A00003        | HYP        | 5        | TOTAL     | 50        |
| 2019-20 | A00004        | HYP        | 2        | TOTAL     | 80        |
| 2019-20 | A00005        | HYP        | 7        | TOTAL     | 70        |
| 2020-21 | A00001        | HYP        | 10       | TOTAL     | 100       |
| 2020-21 | A00002        | HYP        | 30       | TOTAL     | 200       |
| 2020-21 | A00003        | HYP        | 5        | TOTAL     | 50        |
| 2020-21 | A00004        | HYP        | 0        | TOTAL     | 80        |
| 2020-21 | A00005        | HYP        | 7        | TOTAL     | 70        |
| 2020-21 | A00001        | DM         | 6        | 17OV      | 80        |
| 2020-21 | A00002        | DM         | 12       | 17OV      | 160       |
| 2020-21 | A00003        | DM         | 4        | 17OV      | 40        |
| 2020-21 | A00004        | DM         | 3        | 17OV      | 60        |
| 2020-21 | A00005        | DM         | 5        | 17OV      | 50        |
"""

GROUPS = """
| period  | indicator_code | group_code | group_description |
| 2020-21 | HYP001         | HYP        | Hypertension      |
| 2020-21 | DM001          | DM         | Diabetes mellitus |
"""

ATTRIBUTES = """
| period  | practice_code | attribute   | value |
| 2020-21 | A00001        | imd_score   | 10    |
| 2020-21 | A00002        | imd_score   | 40    |
| 2020-21 | A00003        | imd_score   | 30    |
| 2020-21 | A00004        | imd_score   | 12    |
| 2020-21 | A00005        | imd_score   | 20    |
| 2020-21 | A00001        | pct_65_plus | 20    |
| 2020-21 | A00002        | pct_65_plus | 10    |
| 2020-21 | A00003        | pct_65_plus | 15    |
| 2020-21 | A00004        | pct_65_plus | 30    |
| 2020-21 | A00005        | pct_65_plus | 18    |
"""


def tiny_store(store: Store) -> Store:
    """Five practices in three PCNs (and one outside any PCN), two ICBs, QOF HYP and DM."""
    ingest(store, "practice_pcn", frame(MAPPING), "2020-21")
    qof = frame(QOF)
    for period, rows in qof.groupby("period"):
        ingest(store, "qof_prevalence", rows, period)
    ingest(store, "qof_indicators", frame(GROUPS), "2020-21")
    return store


def built_comparison(path: Path) -> Path:
    """The tiny store with practice attributes, its peers and comparison built, at ``path``."""
    from placehealth.analyses import compare, peers

    with Store(path) as store:
        tiny_store(store)
        ingest(store, "practice_attributes", frame(ATTRIBUTES), "2020-21")
        peers.build(store)
        compare.build(store)
    return path
