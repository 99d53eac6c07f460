"""ONS Census 2021 tables by LSOA and ONS LSOA population estimates.

- Nomis bulk files (``census2021-tsNNN-lsoa.csv``: date, geography, geography code, then one
  column per category "Table: Category") -> ``census`` (long; census_table from the file name,
  e.g. TS021, else the categories' common prefix);
- the repackaged TS038 (disability) and TS011 (household deprivation) files in ../shared/data
  (lsoa21_code, total_..., categories) -> ``census``;
- usual residents in 6 age groups -> ``lsoa_population`` (period 'census-2021');
- ONS mid-year estimates by single year of age: the official ``sapelsoasyoa`` layout (LAD/LSOA
  2021 codes, Total, F0..F90, M0..M90) and the persons-only LSOA 2011 layout (0..89, 90+)
  -> ``lsoa_population`` (period = the mid-year, e.g. '2020').

Source: https://www.nomisweb.co.uk/sources/census_2021_bulk and
https://www.ons.gov.uk/peoplepopulationandcommunity/populationandmigration/populationestimates
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa

from placehealth.sources.base import ReadOptions, ReadResult, reader
from placehealth.sources.registrations import lsoa_vintage
from placehealth.sources.validate import (
    LSOA,
    InputError,
    SourceFile,
    check_codes,
    check_unique,
    is_arrow_text,
    plain_counts,
    read_table,
    resolve_columns,
    to_counts,
)

PUBLICATION_CENSUS = "ONS, Census 2021"
PUBLICATION_MYE = "ONS, LSOA population estimates (mid-year)"

_LSOA = ["geography code", "lsoa21_code", "lsoa11_code", "LSOA 2021 Code", "LSOA21CD",
         "lsoa_code", "LSOA 2011 Code", "LSOA11CD"]
_KNOWN_TABLES = {"disabled under the equality act": "TS038",
                 "household is deprived in": "TS011", "ethnic group": "TS021"}


def _vintage(column: str, codes: pd.Series) -> int:
    if "11" in column:
        return 2011
    if "21" in column:
        return 2021
    return lsoa_vintage(codes, "2021-03")


def _lsoa_frame(raw: pd.DataFrame, options: ReadOptions, layout: str) -> pd.DataFrame:
    frame = resolve_columns(raw, {"lsoa_code": _LSOA}, mapping=options.mapping, layout=layout)
    check_codes(frame, "lsoa_code", LSOA, "LSOA")
    check_unique(frame, ["lsoa_code"], "LSOA")
    return frame


def _lsoa_column(raw: pd.DataFrame, options: ReadOptions) -> str:
    if "lsoa_code" in options.mapping:
        return options.mapping["lsoa_code"]
    names = {n.lower() for n in _LSOA}
    return next(c for c in raw.columns if c.lower() in names)


def _census_table(source: SourceFile, categories: list[str]) -> str:
    if m := re.search(r"ts(\d{3})", source.name, re.IGNORECASE):
        return f"TS{m.group(1)}"
    text = " ".join(categories).lower()
    for words, table in _KNOWN_TABLES.items():
        if words in text:
            return table
    prefixes = {c.split(":")[0].strip() for c in categories if ":" in c}
    if len(prefixes) == 1:
        return prefixes.pop()
    raise InputError(source.name, "cannot tell which Census table this is", line=1,
                     hint="name the file like census2021-ts021-lsoa.csv or pass --period TS021")


def _category(column: str, table_prefix: str | None) -> str:
    text = re.sub(r";\s*measures:\s*Value$", "", column).strip()  # older Nomis bulk headers
    if table_prefix and text.startswith(table_prefix + ":"):
        text = text[len(table_prefix) + 1:].strip()
    if re.match(r"^(total\b|total_)", text.lower()) or text.lower().startswith("total:"):
        return "Total"
    return text


def _detect_census(source: SourceFile) -> bool:
    header = [h.lower() for h in source.header()]
    if header[:3] == ["date", "geography", "geography code"]:
        return True
    return bool(header) and header[0] in {"lsoa21_code", "lsoa11_code"} and any(
        h.startswith("total_") for h in header) and not any(
        h.startswith("aged ") for h in header) and len(header) <= 40 and not any(
        re.fullmatch(r"\d+\+?", h) for h in header)


@reader(
    "census",
    PUBLICATION_CENSUS + " bulk tables by LSOA (e.g. TS021 ethnic group)",
    _detect_census,
    example="placehealth ingest census2021-ts021-lsoa.csv",
)
def read_census(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Every category column of a Census table by LSOA, long."""
    raw = read_table(source)
    frame = _lsoa_frame(raw, options, "Census table by LSOA")
    lsoa_column = _lsoa_column(raw, options)
    skip = {lsoa_column.lower(), "date", "geography", "lsoa21_name", "lsoa11_name",
            "geography name"}
    categories = [c for c in raw.columns if c.lower() not in skip]
    census_table = options.period.strip() if options.period else _census_table(source, categories)
    prefixes = {c.split(":")[0].strip() for c in categories if ":" in c and not
                c.split(":")[0].strip().lower().endswith("measures")}
    prefix = prefixes.pop() if len(prefixes) == 1 else None
    vintage = _vintage(lsoa_column, frame["lsoa_code"])
    parts = []
    for column in categories:
        parts.append(pd.DataFrame({
            "census_table": census_table, "lsoa_code": frame["lsoa_code"].values,
            "lsoa_vintage": vintage, "category": _category(column, prefix),
            "residents": to_counts(raw, column).values,
        }))
    out = pd.concat(parts, ignore_index=True)
    if out.duplicated(["lsoa_code", "category"]).any():
        raise InputError(source.name, "two columns give the same category", line=1)
    return ReadResult("census", PUBLICATION_CENSUS, census_table, {"census": out})


_AGE_GROUP = re.compile(r"^aged (\d+) (?:to (\d+) years|years and (under|over))$", re.IGNORECASE)


def _detect_age_groups(source: SourceFile) -> bool:
    header = source.header()
    return sum(bool(_AGE_GROUP.match(h)) for h in header) >= 3


@reader(
    "census-age-groups",
    PUBLICATION_CENSUS + ": usual residents by age group and LSOA",
    _detect_age_groups,
    example="placehealth ingest census2021_usual_residents_6_age_groups_lsoa21.csv",
)
def read_age_groups(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Usual residents by broad age group -> lsoa_population (period 'census-2021')."""
    raw = read_table(source)
    frame = _lsoa_frame(raw, options, "Census age groups")
    vintage = _vintage(_lsoa_column(raw, options), frame["lsoa_code"])
    period = options.period.strip() if options.period else "census-2021"
    bands: dict[str, tuple[int, int | None]] = {}
    for column in raw.columns:
        if m := _AGE_GROUP.match(column):
            low, high, end = m.groups()
            if end and end.lower() == "under":
                bands[column] = (0, int(low))
            elif end:
                bands[column] = (int(low), None)
            else:
                bands[column] = (int(low), int(high))
        elif column.lower().startswith("total"):
            bands[column] = (-1, None)
    return ReadResult("census-age-groups", PUBLICATION_CENSUS, period, {
        "lsoa_population": _population_rows(raw, frame, bands, "ALL", period, vintage)})


def _population_rows(raw: pd.DataFrame, frame: pd.DataFrame,
                     bands: dict[str, tuple[int, int | None]], sex: str | dict[str, str],
                     period: str, vintage: int) -> pd.DataFrame:
    """One row per LSOA and count column, column by column (all LSOAs of the first column,
    then of the second, ...). Text columns are built as Arrow text (taken from the LSOA codes
    and the column labels), which the store writes without converting them again."""
    columns = list(bands)
    counts = _counts_block(raw, columns)
    n = len(frame)
    tops = np.array([bands[c][1] for c in columns], dtype=object)
    return pd.DataFrame({
        "period": period,
        "lsoa_code": _tile(frame["lsoa_code"], len(columns)),
        "lsoa_vintage": vintage,
        "sex": sex if isinstance(sex, str) else _repeat_text([sex[c] for c in columns], n),
        "age_from": np.repeat(np.array([bands[c][0] for c in columns]), n),
        "age_to": pd.arrays.IntegerArray(
            np.repeat(np.array([0 if top is None else top for top in tops], dtype="int64"), n),
            np.repeat(np.array([top is None for top in tops]), n)),
        "population": counts,
    })


def _tile(values: pd.Series, times: int) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """``values`` repeated end to end ``times`` times (Arrow text stays Arrow text)."""
    if is_arrow_text(values):
        positions = np.tile(np.arange(len(values)), times)
        return pd.array(pa.array(values).take(pa.array(positions)), dtype=values.dtype)
    return np.tile(values.to_numpy(), times)


def _repeat_text(labels: list[str], times: int) -> pd.api.extensions.ExtensionArray:
    """Each label repeated ``times`` times, in order, as Arrow text."""
    names = sorted(set(labels))
    codes = np.repeat(np.array([names.index(label) for label in labels], dtype="int32"), times)
    text = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(names)).cast(pa.string())
    return pd.array(text, dtype=pd.StringDtype("pyarrow", na_value=np.nan))


def _counts_block(raw: pd.DataFrame, columns: list[str]) -> pd.arrays.IntegerArray:
    """All count columns parsed at once (column-major); on any bad cell, the per-column check
    names its line and field."""
    fast = [plain_counts(raw[c]) for c in columns]
    if all(f is not None for f in fast):  # plain digits throughout: parsed by Arrow
        return pd.arrays.IntegerArray(
            np.concatenate([f.to_numpy(dtype="int64") for f in fast]) if fast
            else np.array([], dtype="int64"),
            np.zeros(len(raw) * len(columns), dtype=bool))
    block = raw[columns].to_numpy(dtype=object).T.ravel()
    try:
        values = block.astype("float64")  # numpy parses plain numerals fast
        ok = not (np.isnan(values).any() or (values < 0).any() or (values % 1 != 0).any())
    except ValueError:  # blanks, thousands separators or text: the checked path
        ok = False
    if not ok:
        return pd.array(np.concatenate([to_counts(raw, c).to_numpy(dtype="int64")
                                        for c in columns]), dtype="Int64")
    return pd.array(values.astype("int64"), dtype="Int64")


_SYA = re.compile(r"^([FM]?)(\d{1,2})(\+?)$")


def _detect_sya(source: SourceFile) -> bool:
    header = source.header()
    ages = [h for h in header if _SYA.match(h)]
    return len(ages) >= 80 and any(h.lower() in {n.lower() for n in _LSOA} for h in header)


def _mid_year(source: SourceFile, options: ReadOptions) -> str:
    if options.period:
        return options.period.strip()
    if m := re.search(r"(?:mid|sapelsoasyoa|_)(20\d\d)", source.name, re.IGNORECASE):
        return m.group(1)
    raise InputError(source.name, "cannot tell the mid-year from the file name",
                     hint="name it like sapelsoasyoa2022.csv or pass --period 2022")


@reader(
    "population-sya",
    PUBLICATION_MYE + ", single year of age (sapelsoasyoa and LSOA 2011 persons layouts)",
    _detect_sya,
    example="placehealth ingest sapelsoasyoa2022.csv",
)
def read_sya(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Mid-year population by LSOA, sex and single year of age (top band 90+)."""
    raw = read_table(source)
    frame = _lsoa_frame(raw, options, "LSOA population by single year of age")
    vintage = _vintage(_lsoa_column(raw, options), frame["lsoa_code"])
    period = _mid_year(source, options)
    bands: dict[str, tuple[int, int | None]] = {}
    sexes: dict[str, str] = {}
    top = max(int(m.group(2)) for c in raw.columns if (m := _SYA.match(c)))
    for column in raw.columns:
        if m := _SYA.match(column):
            letter, age, plus = m.groups()
            age = int(age)
            bands[column] = (age, None if plus or age == top else age)
            sexes[column] = {"F": "FEMALE", "M": "MALE", "": "ALL"}[letter.upper()]
        elif column.lower() in {"total", "total_population", "all ages", "all_ages"}:
            bands[column], sexes[column] = (-1, None), "ALL"
    out = _population_rows(raw, frame, bands, sexes, period, vintage)
    _check_totals(out, source, len(frame))
    return ReadResult("population-sya", PUBLICATION_MYE, period, {"lsoa_population": out})


def _totals_agree(out: pd.DataFrame, width: int) -> bool:
    """Fast path of :func:`_check_totals` on the rows as built (``width`` LSOAs per column,
    column by column, each LSOA once): every total equals the sum of the ages."""
    if not width or len(out) % width:
        return False
    population = out["population"].to_numpy(dtype="int64", na_value=-1).reshape(-1, width)
    age_from = out["age_from"].to_numpy()[::width]
    totals, ages = population[age_from == -1], population[age_from >= 0]
    return bool((population >= 0).all() and (totals == ages.sum(axis=0)).all())


def _check_totals(out: pd.DataFrame, source: SourceFile, width: int = 0) -> None:
    """The ages of each LSOA must add up to its all-ages total (when the file gives one)."""
    if _totals_agree(out, width):
        return
    total = out[out["age_from"] == -1].set_index("lsoa_code")["population"]
    if total.empty:
        return
    parts = out[out["age_from"] >= 0].groupby("lsoa_code")["population"].sum()
    diff = (parts.reindex(total.index) - total).fillna(0)
    if (diff != 0).any():
        code = diff[diff != 0].index[0]
        raise InputError(source.name, f"ages of {code} add up to {int(parts[code])}, not the "
                         f"total {int(total[code])}", field="Total")


__all__ = ["read_age_groups", "read_census", "read_sya"]
