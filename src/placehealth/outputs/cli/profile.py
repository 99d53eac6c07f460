"""Profile and group commands: who a practice, PCN, ICB, place or group serves, and user groups."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.columns import Columns
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from placehealth import levels as lv
from placehealth.analyses.profile import PROFILE_TABLES
from placehealth.outputs import format as numbers
from placehealth.outputs.cli.common import (
    DbOption,
    DisclosureOption,
    FormatOption,
    console,
    nearest,
    open_store,
    print_json,
)
from placehealth.outputs.queries import Data, NotFound
from placehealth.sources.validate import InputError

group_app = typer.Typer(help="User-defined groups of practices or LSOAs (neighbourhood teams, "
                        "localities, federations...).\n\nExample: placehealth group list",
                        no_args_is_help=True)

_SECTIONS = {
    "Deprivation": ["imd_score", "imd_score_decile", "core20_pct", "imd_matched_pct"],
    "Who is registered": ["patients", "practices", "pcns", "female_pct", "pct_under_18",
                          "pct_65_plus", "pct_85_plus", "unknown_lsoa_pct"],
    "Ages where patients live (Census 2021 residents)": [
        "resident_age_0_15_pct", "resident_age_16_24_pct", "resident_age_25_34_pct",
        "resident_age_35_49_pct", "resident_age_50_64_pct", "resident_age_65_plus_pct"],
    "Place": ["residents", "coverage_pct", "largest_pcn_code", "largest_pcn_pct",
              "largest_practice_code", "largest_practice_pct", "dominant_practice", "pct_rural"],
}
_LABELS = {
    "imd_score": "IMD score (registration-weighted)", "imd_score_decile": "IMD decile among those loaded here (1 = most deprived; not national)",
    "core20_pct": "% in Core20 (national deciles 1-2)", "imd_matched_pct": "% with a matched IMD score",
    "patients": "registered patients", "practices": "practices", "pcns": "PCNs",
    "female_pct": "% female", "pct_under_18": "% under 18", "pct_65_plus": "% 65 and over",
    "pct_85_plus": "% 85 and over", "unknown_lsoa_pct": "% LSOA unknown",
    "residents": "residents", "coverage_pct": "registered / residents %",
    "largest_pcn_code": "largest PCN", "largest_pcn_pct": "largest PCN's share %",
    "largest_practice_code": "largest practice", "largest_practice_pct": "largest practice's share %",
    "dominant_practice": "one practice holds most", "pct_rural": "% living in rural LSOAs",
    **{f"resident_age_{band}_pct": f"% aged {text}" for band, text in (
        ("0_15", "15 and under"), ("16_24", "16 to 24"), ("25_34", "25 to 34"),
        ("35_49", "35 to 49"), ("50_64", "50 to 64"), ("65_plus", "65 and over"))},
}


def _find_profile(data: Data, level: str, code: str, period: str | None) -> pd.Series:
    """The unit's protected profile row (through the data layer, as pages and exports read it)."""
    table = PROFILE_TABLES[level]
    if not data.has(table):
        raise InputError(table, f"no {table} in the store", hint="run `placehealth build` first")
    periods = data.periods(table)
    chosen = period or periods[-1]
    if chosen not in periods:
        raise InputError(table, f"no profile for period {chosen!r}; built: {', '.join(periods)}",
                         field="--period")
    wanted = code.strip()
    hit = data.rows(table, latest=False, period=chosen, unit_code=wanted.upper())
    if hit.empty:
        frame = data.rows(table, latest=False, period=chosen)
        hit = frame[(frame["unit_code"].astype(str).str.upper() == wanted.upper())
                    | (frame["unit_name"].astype(str).str.upper() == wanted.upper())]
        if hit.empty:
            near = nearest(wanted, frame["unit_code"].astype(str))
            raise InputError(table, f"no {level} {wanted!r} in {chosen}", field="CODE",
                             hint=(f"did you mean {', '.join(near)}? " if near else "")
                             + f"`placehealth show {table}` lists all")
    return hit.iloc[0]


def _plain(record: dict) -> dict:
    """JSON-ready values: numpy scalars as Python numbers, NaN/NA as null."""
    out = {}
    for key, value in record.items():
        value = value.item() if hasattr(value, "item") else value
        if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            value = None
        out[key] = value
    return out


def _fmt(value: object, column: str | None = None, suppressed: bool = False) -> str:
    """A value for reading (the one number formatter): suppressed cells as [c] (escaped for
    Rich), missing ones as -."""
    return escape(numbers.cell(value, column, suppressed=suppressed, missing="-"))


def _table(title: str, rows: list[tuple[str, str, object, bool]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left", box=None)
    table.add_column(style="dim")
    table.add_column(justify="right")
    for label, column, value, hidden in rows:
        table.add_row(label, _fmt(value, column, hidden))
    return table


def _hidden(row: pd.Series) -> set[str]:
    cells = row.get("suppressed_cells")
    return set(cells.split(",")) if isinstance(cells, str) and cells else set()


def _bars(row: pd.Series, prefix: str, suffix: str = "_pct") -> list[tuple[str, str, float, bool]]:
    cols = [c for c in row.index if c.startswith(prefix) and c.endswith(suffix)]
    hidden = _hidden(row)
    return [(c[len(prefix):-len(suffix)].replace("_", "-"), c, row[c], c in hidden) for c in cols]


def _bar_table(title: str, items: list[tuple[str, str, object, bool]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left", box=None)
    table.add_column(style="dim")
    table.add_column(justify="right")
    table.add_column()
    for label, column, value, hidden in items:
        ok = isinstance(value, float) and not math.isnan(value)
        table.add_row(label, _fmt(value, column, hidden), "█" * round(value / 2) if ok else "")
    return table


def _footprint(data: Data, code: str, period: str) -> dict:
    """The PCN's footprint and authorities, protected like every other table."""
    out: dict = {}
    for table in ("pcn_footprint", "pcn_la"):
        if data.has(table):
            rows = data.rows(table, latest=False, period=period, pcn_code=code)
            out[table] = rows.to_dict(orient="records")
    return out


def profile(
    level: Annotated[str, typer.Argument(help=f"One of {', '.join(PROFILE_TABLES)}.")],
    code: Annotated[str, typer.Argument(help="The unit's code (or exact name), e.g. U12345.")],
    period: Annotated[str | None, typer.Option("--period", help="Registration month "
                                               "(default: the latest built).")] = None,
    fmt: FormatOption = "table",
    policy: DisclosureOption = None,
    db: DbOption = None,
) -> None:
    """Print who a practice, PCN, ICB, place or group serves: deprivation, age, ethnicity, place.

    Example: placehealth profile pcn U12345 --format json
    """
    level = level.lower().replace("-", "_")
    if level not in PROFILE_TABLES:
        raise InputError("profile", f"unknown level {level!r}", field="LEVEL",
                         hint=f"use one of {', '.join(PROFILE_TABLES)}")
    data = Data(db, policy)
    try:
        with data.session():
            row = _find_profile(data, level, code, period)
            extra = _footprint(data, row["unit_code"], row["period"]) if level == "pcn" else {}
    except NotFound as exc:
        raise InputError("profile", str(exc).strip("'\"")) from None
    if fmt == "json":
        print_json(_plain(row.to_dict()) | {k: [_plain(r) for r in v] for k, v in extra.items()})
        return
    if fmt == "csv":
        from placehealth.outputs.cli.common import print_frame

        print_frame(row.to_frame().T, "csv")
        return
    if fmt != "table":
        raise typer.BadParameter(f"unknown format {fmt!r}: use table, csv or json")
    title = f"{row['unit_name']} ({row['unit_code']}) — {level} profile, {row['period']}"
    console.print(Panel(f"IMD edition {row.get('imd_edition')}, LSOA {row.get('lsoa_vintage')} "
                        f"codes; harmonisation: {row.get('lsoa_harmonisation')}", title=title))
    panels = []
    hidden = _hidden(row)
    for name, cols in _SECTIONS.items():
        rows = [(_LABELS.get(c, c), c, row[c], c in hidden) for c in cols if c in row.index]
        domains = [c for c in row.index if c.endswith("_score") and c != "imd_score"]
        if name == "Deprivation":
            rows += [(c.replace("_score", " domain score"), c, row[c], False) for c in domains]
        if rows:
            panels.append(_table(name, rows))
    console.print(Columns(panels, padding=(0, 4)))
    charts = [_bar_table("% in each national IMD decile", _bars(row, "imd_decile_")),
              _bar_table("% by age band", _bars(row, "age_")),
              _bar_table("ethnic mix % (Census 2021, apportioned)", _bars(row, "ethnic_"))]
    console.print(Columns([c for c in charts if c.row_count], padding=(0, 4)))
    if hidden:
        from placehealth.outputs.disclosure import explanation

        console.print(f"[dim]{escape(explanation(data.policy))}[/]", highlight=False)
    if extra.get("pcn_footprint"):
        f = extra["pcn_footprint"][0]
        console.print(f"Footprint: {f['lsoas']} LSOAs; {f['lsoas_50']} hold 50% of patients, "
                      f"{f['lsoas_80']} hold 80%, {f['lsoas_95']} hold 95%.")
    if extra.get("pcn_la"):
        la = extra["pcn_la"][0]
        console.print(f"Main authority: {la['la_name']} ({la['main_la_code']}), "
                      f"{numbers.percent(la['main_la_pct'], missing='[c]')} of patients; coterminosity "
                      f"{numbers.ratio(la['coterminosity'], missing='[c]')}.", highlight=False, markup=False)


@group_app.command("create")
def group_create(
    name: Annotated[str, typer.Argument(help="Group name, e.g. 'North locality'.")],
    practices: Annotated[str | None, typer.Option("--practices", help="Comma-separated practice codes.")] = None,
    lsoas: Annotated[str | None, typer.Option("--lsoas", help="Comma-separated LSOA codes.")] = None,
    from_file: Annotated[Path | None, typer.Option("--from", help="CSV with a practice_code or "
                                                   "lsoa_code column.")] = None,
    db: DbOption = None,
) -> None:
    """Define (or redefine) a group of practices or of LSOAs; run `placehealth build` after.

    Example: placehealth group create "North locality" --practices A81001,A81002
    """
    source = "command line"
    practice_codes = practices.split(",") if practices else []
    lsoa_codes = lsoas.split(",") if lsoas else []
    if from_file is not None:
        file_practices, file_lsoas = lv.read_group_file(from_file)
        practice_codes += file_practices
        lsoa_codes += file_lsoas
        source = from_file.name
    with open_store(db) as store:
        rows = lv.create_group(store, name, practices=practice_codes, lsoas=lsoa_codes,
                               source=source)
    console.print(f"group {name!r}: {len(rows)} {rows['member_type'].iloc[0]}s "
                  "(run `placehealth build` to profile it)")


@group_app.command("list")
def group_list(fmt: FormatOption = "table", db: DbOption = None) -> None:
    """List the groups: name, member type and members.

    Example: placehealth group list --format json
    """
    with open_store(db, read_only=True) as store:
        groups = lv.read_groups(store)
    summary = (groups.groupby(["group_name", "member_type"])["member_code"]
               .agg(members="size", codes=lambda c: ", ".join(sorted(c))).reset_index())
    from placehealth.outputs.cli.common import print_frame

    print_frame(summary, fmt, title="groups")


@group_app.command("delete")
def group_delete(name: Annotated[str, typer.Argument(help="Group name.")],
                 db: DbOption = None) -> None:
    """Delete a group.

    Example: placehealth group delete "North locality"
    """
    with open_store(db) as store:
        gone = lv.delete_group(store, name)
    if not gone:
        raise InputError("group", f"no group named {name!r}", field="NAME",
                         hint="placehealth group list")
    console.print(f"deleted group {name!r} ({gone} members)")


def register(app: typer.Typer) -> None:
    app.command()(profile)
    app.add_typer(group_app, name="group")
