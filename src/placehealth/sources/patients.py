"""Patient-level input: a pseudonymised extract, one row per registered person, read and checked
inside the engine and aggregated there into the tables the analyses already read.

The layout is the ``patients`` table of docs/DATA.md, as CSV (with a header) or Parquet. No row
comes into Python: the store's engine opens the file (DuckDB ``read_csv``/``read_parquet``,
Spark ``spark.read``, both through Ibis), each check is a query counting the rows that fail it,
and only the first failing row of a failed check comes back, to name it in the error. What leaves
the engine are aggregates, in the canonical tables the official publications fill:

- ``registrations_lsoa``, ``registrations_age``, ``registrations_total``: persons by practice and
  LSOA, by sex and single year of age (95+ open), and in all, as NHS England's *Patients
  Registered at a GP Practice* has them;
- ``qof_prevalence``: each QOF register (the condition recorded on or before the extract date,
  among people of the list type's ages) and its list size, as QOF's PREVALENCE file has them,
  for the financial year holding the extract;
- ``uptake``: the vaccinations and checks of :data:`UPTAKE` among the people eligible for them.

The rows themselves go into the store's ``patients`` table by the engine (the build's
Core20PLUS5 cohorts read them there); they never leave through an output (``tables.ROW_LEVEL``).
"""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

from placehealth.sources.base import ReadOptions, ReadResult
from placehealth.sources.uptake import UPTAKE as UPTAKE_TABLE
from placehealth.sources.validate import LSOA, PRACTICE, UNKNOWN_LSOA, InputError, month_period
from placehealth.tables import (
    CANONICAL,
    DATE,
    LIST_TYPE_AGES,
    PATIENT_EVENTS,
    QOF_REGISTERS,
)

KIND = "patients"
PUBLICATION = "Pseudonymised patient-level extract (one row per registered person)"
SPEC = CANONICAL["patients"]
#: Columns a file must have (the table's, less those placehealth sets).
COLUMNS = [c for c in SPEC.columns if c not in ("period", "load_id")]
CONDITION_DATES = {code: f"{code.lower()}_date" for code in QOF_REGISTERS}

SEXES = {"M": "MALE", "F": "FEMALE", "I": None, "U": None}
#: NHS Data Dictionary *Ethnic Category* (2001 census categories): A-H, J-N, P, R, S; Z not stated.
ETHNIC_CATEGORIES = tuple("ABCDEFGHJKLMNPRSZ")
TOP_AGE = 95  # registrations by age: single years 0..94 and 95+ (the NHS files' open band)
MAX_AGE = 120
LSOA_VINTAGE = 2021  # NHS England's extracts carry LSOA 2021 codes since 2023


@dataclass(frozen=True)
class Uptake:
    """A vaccination or check: who is eligible and who has had it, as at the extract's end."""

    indicator: str
    age: str
    eligible: Callable[[ir.Table, date], ir.BooleanValue]
    done: Callable[[ir.Table, date], ir.BooleanValue]
    source: str


def months_before(end: date, months: int) -> date:
    """The day ``months`` calendar months before ``end`` (clipped to the month's last day)."""
    year, month = divmod(end.year * 12 + end.month - 1 - months, 12)
    return date(year, month + 1, min(end.day, calendar.monthrange(year, month + 1)[1]))


def _within(column: str, months: int) -> Callable[[ir.Table, date], ir.BooleanValue]:
    return lambda t, end: t[column] > ibis.literal(months_before(end, months))


_CVD_REGISTERS = ("CHD", "STIA", "HF", "AF", "PAD", "HYP", "DM", "CKD")

#: Uptake measured from patient rows (indicator, cohort, eligible, done, source).
UPTAKE: list[Uptake] = [
    Uptake("MMR1", "24 months", lambda t, _: t.age == 2, lambda t, _: t.mmr1_date.notnull(),
           "UKHSA COVER: MMR1 by the second birthday (children aged 2 at the extract)"),
    Uptake("MMR2", "5 years", lambda t, _: t.age == 5, lambda t, _: t.mmr2_date.notnull(),
           "UKHSA COVER: MMR2 by the fifth birthday (children aged 5 at the extract)"),
    Uptake("Flu vaccination", "65 and over", lambda t, _: t.age >= 65,
           _within("flu_vaccination_date", 12),
           "UKHSA seasonal influenza vaccine uptake in GP patients, aged 65+ (last 12 months)"),
    Uptake("Blood pressure check", "40 and over", lambda t, _: t.age >= 40,
           _within("blood_pressure_date", 60),
           "NICE NG136: blood pressure measured at least every 5 years from age 40"),
    Uptake("NHS Health Check", "40-74",
           lambda t, _: t.age.between(40, 74) & ibis.and_(
               *(t[CONDITION_DATES[c]].isnull() for c in _CVD_REGISTERS)),
           _within("nhs_health_check_date", 60),
           "OHID NHS Health Check: people aged 40-74 without a vascular condition, every 5 years"),
    Uptake("SMI health check", "severe mental illness register",
           lambda t, _: t.mh_date.notnull(), _within("smi_health_check_date", 12),
           "NHS England: annual physical health check for people on the SMI (MH) register"),
]


# ------------------------------------------------------------------ reading


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (of every file, in name order, for a folder of Parquet parts),
    read in blocks: an extract may be larger than memory."""
    digest = hashlib.sha256()
    for part in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if part.is_file():
            with part.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
    return digest.hexdigest()


def is_parquet(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in (".parquet", ".pq")


def scan(con: ibis.BaseBackend, path: Path) -> ir.Table:
    """The file as a table of the engine (CSV values all as text, so each check sees them)."""
    parquet = is_parquet(path)
    try:
        if parquet:
            return con.read_parquet(str(path))
        if con.name == "duckdb":
            return con.read_csv(str(path), all_varchar=True)
        if con.name == "pyspark":
            return con.read_csv(str(path), inferSchema=False, header=True)
        return con.read_csv(str(path))
    except Exception as exc:  # the engine's own message says what is wrong with the bytes
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(path.name, f"cannot be read as {'Parquet' if parquet else 'CSV'} "
                         f"({first})", hint="a patient extract is CSV with a header or "
                         "Parquet, with the columns of docs/DATA.md `patients`") from None


def extract_end(period: str) -> date:
    """The last day of the extract month: no event may be dated after it."""
    year, month = int(period[:4]), int(period[5:7])
    return date(year, month, calendar.monthrange(year, month)[1])


def financial_year(period: str) -> str:
    """The financial year ('YYYY-YY') holding the extract month (QOF and uptake periods)."""
    year, month = int(period[:4]), int(period[5:7])
    start = year if month >= 4 else year - 1
    return f"{start}-{(start + 1) % 100:02d}"


@dataclass(frozen=True)
class Check:
    """One rule: the rows failing it, the field named in the error, and what was expected."""

    field: str
    bad: ir.BooleanValue
    expected: str


def _checks(raw: ir.Table, end: date) -> list[Check]:
    checks: list[Check] = []

    def text(column: str) -> ir.StringValue:
        value = raw[column]
        return value if value.type().is_string() else value.cast("string")

    person = text("person_id")
    checks.append(Check("person_id", person.isnull() | (person.length() == 0),
                        "a pseudonymised person id"))
    practice = text("practice_code")
    checks.append(Check("practice_code", practice.isnull() | ~practice.re_search(PRACTICE.pattern),
                        "a practice code like A81001"))
    lsoa = text("lsoa_code")
    checks.append(Check("lsoa_code", lsoa.isnull() | ~(lsoa.re_search(LSOA.pattern)
                                                       | lsoa.re_search(UNKNOWN_LSOA.pattern)),
                        "an LSOA code like E01000001 (or NO2021 when unknown)"))
    age = raw["age"]
    if age.type().is_string():
        bad_age = age.isnull() | ~age.re_search(r"^\d{1,3}$")
        bad_age = bad_age | (age.try_cast("int64") > MAX_AGE).fill_null(False)
    elif age.type().is_integer():
        bad_age = age.isnull() | (age < 0) | (age > MAX_AGE)
    else:
        bad_age = age.isnull() | (age < 0) | (age > MAX_AGE) | (age.cast("int64") != age)
    checks.append(Check("age", bad_age, f"whole years from 0 to {MAX_AGE}"))
    sex = text("sex")
    checks.append(Check("sex", sex.isnull() | ~sex.isin(list(SEXES)),
                        f"one of {', '.join(SEXES)} (male, female, indeterminate, unknown)"))
    ethnicity = text("ethnicity")
    checks.append(Check("ethnicity", ethnicity.notnull() & ~ethnicity.isin(ETHNIC_CATEGORIES),
                        "an NHS ethnic category code (A-H, J-N, P, R, S, Z) or blank"))
    for column in [*CONDITION_DATES.values(), *PATIENT_EVENTS]:
        value = raw[column]
        if value.type().is_string():
            malformed = value.notnull() & (~value.re_search(r"^\d{4}-\d{2}-\d{2}$")
                                           | value.try_cast(DATE).isnull())
            checks.append(Check(column, malformed, "a date as YYYY-MM-DD, or blank"))
            value = value.try_cast(DATE)
        elif value.type().is_timestamp():
            value = value.cast(DATE)
        elif not value.type().is_date():
            checks.append(Check(column, value.notnull(), "a date (YYYY-MM-DD), or blank"))
            continue
        checks.append(Check(column, (value > ibis.literal(end)).fill_null(False),
                            f"a date on or before the extract's end ({end.isoformat()})"))
    return checks


def _typed(raw: ir.Table, period: str) -> ir.Table:
    """The checked file as the ``patients`` table's columns and types (load_id added on write)."""
    columns: dict[str, ir.Value] = {"period": ibis.literal(period)}
    for column, kind in SPEC.columns.items():
        if column in ("period", "load_id"):
            continue
        value = raw[column]
        if kind == DATE:
            columns[column] = (value.try_cast(DATE) if value.type().is_string()
                               else value.cast(DATE))
        else:
            columns[column] = value.cast(kind)
    return raw.select(**columns)


def _first_failure(raw: ir.Table, check: Check, skip: int = 0) -> tuple[int, object]:
    """The 0-based row and value of the first row failing ``check`` (after ``skip`` of them;
    the error path only)."""
    numbered = raw.mutate(_placehealth_row=ibis.row_number(), _placehealth_bad=check.bad)
    # the first skip + 1 failing rows, the last of them taken here: Ibis writes an offset for
    # Spark as a row-number column left in the result, which then fails Ibis's own schema check
    hit = (numbered.filter(numbered._placehealth_bad)
           .select("_placehealth_row", check.field).order_by("_placehealth_row")
           .limit(skip + 1)
           .to_pyarrow().to_pylist())
    return int(hit[-1]["_placehealth_row"]), hit[-1][check.field]


def _where(path: Path, row: int) -> dict[str, int | None]:
    """Where a 0-based data row is: its line in a CSV (header = line 1), else its row."""
    return {"row": row + 1} if is_parquet(path) else {"line": row + 2}


def _renamed(raw: ir.Table, mapping: dict[str, str], name: str) -> ir.Table:
    """``--map canonical=source`` applied; a missing column is named with what the file has."""
    present = {c.lower(): c for c in raw.columns}
    rename: dict[str, str] = {}
    missing = []
    for column in COLUMNS:
        source = mapping.get(column, column)
        found = present.get(source.lower())
        if found is None:
            missing.append(column)
        elif found != column:
            rename[column] = found
    if missing:
        raise InputError(name, f"missing column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)}", field=missing[0], line=1,
                         hint=f"a patient extract has the columns {', '.join(COLUMNS)} "
                         "(docs/DATA.md `patients`); name a renamed one with "
                         "--map canonical=source_column")
    return raw.rename(rename) if rename else raw


def check_rows(raw: ir.Table, path: Path, period: str) -> tuple[ir.Table, int]:
    """Every rule in one pass of the engine, then person_id uniqueness in a second query of
    that column alone; the first failure raised naming file, row and field. Returns the typed
    rows (an expression, still in the engine) and their count.

    The distinct count is a query of its own: beside the rules' sums, Spark groups every sum
    by person_id and shuffles one row per person with all 30 of them (1M rows on local[2]:
    7.1 JVM CPU-seconds for the one query, 2.2 + 3.2 for the two apart)."""
    end = extract_end(period)
    checks = _checks(raw, end)
    counts = raw.aggregate(
        rows=raw.count(),
        **{f"check_{i}": ibis.ifelse(c.bad.fill_null(True), 1, 0).sum()
           for i, c in enumerate(checks)},
    ).to_pyarrow().to_pylist()[0]
    if not counts["rows"]:
        raise InputError(path.name, "no patient rows", hint="the file has a header but no data")
    for i, check in enumerate(checks):
        failing = counts[f"check_{i}"] or 0
        if failing:
            row, value = _first_failure(raw, check)
            others = f" ({failing - 1:,} more rows fail this check)" if failing > 1 else ""
            raise InputError(path.name, f"{check.field} {value!r} is not {check.expected}{others}",
                             field=check.field, **_where(path, row))
    counts["people"] = (raw.aggregate(people=raw.person_id.nunique())
                        .to_pyarrow().to_pylist()[0]["people"])
    if counts["people"] != counts["rows"]:
        twice = (raw.group_by("person_id").aggregate(n=raw.count()).filter(lambda t: t.n > 1)
                 .order_by("person_id").limit(1).to_pyarrow().to_pylist()[0]["person_id"])
        row, _ = _first_failure(raw, Check("person_id", raw.person_id == twice, ""), skip=1)
        raise InputError(path.name, f"person_id {twice!r} appears more than once "
                         f"({counts['rows'] - counts['people']:,} repeated ids in all)",
                         field="person_id", hint="an extract has one row per person",
                         **_where(path, row))
    return _typed(raw, period), int(counts["rows"])


# ------------------------------------------------------------------ aggregates


def registrations(rows: ir.Table, period: str) -> dict[str, ir.Table]:
    """Persons by practice and LSOA (sex ALL), by sex and age, and in all (engine expressions)."""
    # the LSOA pattern matched once per practice and LSOA, not once per person
    by_lsoa = rows.group_by(["practice_code", "lsoa_code"]).aggregate(patients=ibis._.count())
    by_lsoa = by_lsoa.select("practice_code", "lsoa_code",
                             by_lsoa.lsoa_code.re_search(LSOA.pattern).name("lsoa_known"),
                             "patients")
    by_lsoa = by_lsoa.mutate(
        period=ibis.literal(period), practice_name=ibis.null("string"), sex=ibis.literal("ALL"),
        lsoa_vintage=ibis.ifelse(by_lsoa.lsoa_known, LSOA_VINTAGE, ibis.null("int64")))
    sexed = rows.filter(rows.sex.isin(["M", "F"]))
    sexed = sexed.mutate(sex=ibis.ifelse(sexed.sex == "M", "MALE", "FEMALE"),
                         age_from=ibis.least(sexed.age, TOP_AGE))
    by_age = sexed.group_by(["practice_code", "sex", "age_from"]).aggregate(patients=sexed.count())
    by_age = by_age.mutate(period=ibis.literal(period),
                           age_to=ibis.ifelse(by_age.age_from < TOP_AGE, by_age.age_from,
                                              ibis.null("int64")))
    total = rows.group_by("practice_code").aggregate(patients=rows.count()).mutate(
        period=ibis.literal(period), practice_name=ibis.null("string"),
        postcode=ibis.null("string"))
    return {"registrations_lsoa": by_lsoa, "registrations_age": by_age,
            "registrations_total": total}


def practice_counts(rows: ir.Table, period: str) -> ir.Table:
    """One row per practice: each list type's people, each QOF register, and each uptake's
    eligible and done counts (wide; :func:`registers_and_uptake` makes the canonical tables)."""
    end = extract_end(period)
    one = ibis.literal(1)
    sums: dict[str, ir.Value] = {}
    for list_type in sorted(set(QOF_REGISTERS.values())):
        adult = rows.age >= LIST_TYPE_AGES[list_type]
        sums[f"list__{list_type}"] = ibis.ifelse(adult, one, 0).sum()
    for code, column in CONDITION_DATES.items():
        on = rows[column].notnull() & (rows.age >= LIST_TYPE_AGES[QOF_REGISTERS[code]])
        sums[f"register__{code}"] = ibis.ifelse(on, one, 0).sum()
    for i, item in enumerate(UPTAKE):
        eligible = item.eligible(rows, end)
        sums[f"eligible__{i}"] = ibis.ifelse(eligible, one, 0).sum()
        sums[f"done__{i}"] = ibis.ifelse(eligible & item.done(rows, end).fill_null(False),
                                         one, 0).sum()
    return rows.group_by("practice_code").aggregate(**sums)


def registers_and_uptake(counts: pd.DataFrame, period: str) -> dict[str, pd.DataFrame]:
    """``qof_prevalence`` and ``uptake`` rows from the per-practice counts (already aggregated)."""
    year = financial_year(period)
    qof = pd.concat([pd.DataFrame({
        "period": year, "practice_code": counts["practice_code"], "group_code": code,
        "register": counts[f"register__{code}"].astype("int64"), "list_type": list_type,
        "list_size": counts[f"list__{list_type}"].astype("int64")})
        for code, list_type in QOF_REGISTERS.items()], ignore_index=True)
    uptake = pd.concat([pd.DataFrame({
        "period": year, "area_level": "practice", "area_code": counts["practice_code"],
        "indicator": item.indicator, "age": item.age,
        "numerator": counts[f"done__{i}"].astype("int64"),
        "denominator": counts[f"eligible__{i}"].astype("int64")})
        for i, item in enumerate(UPTAKE)], ignore_index=True)
    return {"qof_prevalence": qof, UPTAKE_TABLE.name: uptake[uptake["denominator"] > 0]}


def aggregates(rows: ir.Table, period: str) -> dict[str, pd.DataFrame]:
    """Every canonical table the extract fills, aggregated in the engine (one row per practice,
    practice and LSOA, or practice, sex and age: never one per person)."""
    tables = {name: expr.to_pyarrow().to_pandas()
              for name, expr in registrations(rows, period).items()}
    counts = practice_counts(rows, period).to_pyarrow().to_pandas()
    return tables | registers_and_uptake(counts, period)


def read_patients(con: ibis.BaseBackend, path: str | Path, options: ReadOptions | None = None
                  ) -> ReadResult:
    """Read, check and aggregate a patient extract inside ``con``'s engine. The result's
    ``tables`` are the aggregates; ``in_engine['patients']`` is the typed rows, an expression
    the store writes without bringing them into Python."""
    options = options or ReadOptions()
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "no such file")
    if not options.period:
        raise InputError(path.name, "a patient extract needs its extract month",
                         hint="give --period YYYY-MM (the month the extract was taken)")
    period = month_period(options.period, file=path.name)
    raw = _renamed(scan(con, path), dict(options.mapping), path.name)
    rows, count = check_rows(raw, path, period)
    extra = sorted(set(raw.columns) - set(COLUMNS) - set(options.mapping.values()))
    warnings = [f"{path.name}: columns not read: {', '.join(extra)}"] if extra else []
    return ReadResult(KIND, PUBLICATION, period, aggregates(rows, period), warnings=warnings,
                      file_name=path.name, sha256=file_sha256(path), in_engine={SPEC.name: rows},
                      engine_rows=count)


__all__ = [
    "COLUMNS",
    "KIND",
    "UPTAKE",
    "Uptake",
    "aggregates",
    "check_rows",
    "extract_end",
    "financial_year",
    "practice_counts",
    "read_patients",
    "registers_and_uptake",
    "registrations",
    "scan",
]
