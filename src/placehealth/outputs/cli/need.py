"""``placehealth need``: who a PCN is missing, condition by condition, and where they live."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer
from rich.markup import escape

from placehealth.outputs import format as fmt_
from placehealth.outputs.cli.common import (
    DbOption,
    DisclosureOption,
    FormatOption,
    console,
    err,
    nearest,
    open_store,
    print_frame,
    print_json,
)
from placehealth.outputs.disclosure import explanation, marked
from placehealth.outputs.queries import Data
from placehealth.outputs.sections import detectable_sentence, missing_text

need_app = typer.Typer(help="Unmet need: recorded against expected prevalence, uptake gaps.",
                       no_args_is_help=True)

#: Neighbourhoods listed under each condition.
TOP_NEIGHBOURHOODS = 3


def pcn_need(data: Data, pcn_code: str, period: str | None = None,
             top: int = TOP_NEIGHBOURHOODS) -> dict:
    """The PCN's prevalence gaps (worst first: most missing patients), each with the LSOAs where
    most of them probably live, and its uptake gaps; read through the disclosure-controlled data
    layer the pages use, only the PCN's rows."""
    if not data.has("prevalence_gap"):
        raise typer.BadParameter("no prevalence_gap table: load QOF prevalence and run "
                                 "`placehealth build` first")
    filters = {"period": period} if period else {}
    gaps = data.rows("prevalence_gap", latest=period is None, level="pcn", area_code=pcn_code,
                     **filters)
    if gaps.empty:
        known = data.rows("prevalence_gap", latest=period is None, level="pcn", group_code="HYP",
                          **filters)
        near = nearest(pcn_code, known["area_code"]) if len(known) else []
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise typer.BadParameter(f"no PCN {pcn_code!r} in the prevalence gaps"
                                 f"{' of ' + period if period else ''}{hint}")
    period = str(gaps["period"].iloc[0])
    gaps = gaps.sort_values(["missing", "ratio"], ascending=[False, True], na_position="last")
    lsoa = data.rows("prevalence_gap_lsoa", latest=False, level="pcn", area_code=pcn_code,
                     period=period)
    gaps = _whole_people(gaps)
    lsoa = _with_deciles(data, _whole_people(lsoa)) if len(lsoa) else lsoa
    conditions = []
    for row in marked(gaps).to_dict("records"):
        places = lsoa[lsoa["group_code"] == row["group_code"]] if len(lsoa) else lsoa
        places = places.sort_values("missing", ascending=False, na_position="last").head(top)
        row["neighbourhoods"] = [
            {k: r.get(k) for k in ("lsoa_code", "lsoa_name", "imd_decile", "patients", "observed",
                                   "expected", "missing", "ratio", "significantly_low")}
            for r in marked(places).to_dict("records")] if len(places) else []
        conditions.append(row)
    uptake = data.rows("uptake_gap", latest=True, area_level="pcn", area_code=pcn_code)
    uptake = uptake.sort_values("people_behind", ascending=False, na_position="last") \
        if len(uptake) else uptake
    core = data.rows("core20plus5", latest=False, pcn_code=pcn_code, period=period)
    core20 = marked(core.drop(columns=["pcn_code", "pcn_name"])).to_dict("records") \
        if len(core) else []
    return {"pcn_code": pcn_code, "period": period,
            "pcn_name": gaps["area_name"].iloc[0], "model": gaps["model"].iloc[0],
            "conditions": conditions,
            "uptake": marked(uptake).to_dict("records") if len(uptake) else [],
            "core20plus5": core20, "disclosure": explanation(data.policy)}


def pcn(
    pcn_code: Annotated[str, typer.Argument(help="PCN ODS code, e.g. U12345.")],
    period: Annotated[str | None, typer.Option("--period", help="QOF year (default latest).")] = None,
    top: Annotated[int, typer.Option("--top", help="Neighbourhoods listed per condition.")] = TOP_NEIGHBOURHOODS,
    db: DbOption = None,
    fmt: FormatOption = "table",
    policy: DisclosureOption = None,
) -> None:
    """A PCN's prevalence gaps, worst first, with the neighbourhoods behind them.

    Example: placehealth need pcn U12345 --format json
    """
    from placehealth.levels import mapping_note

    result = pcn_need(Data(db, policy), pcn_code.strip().upper(), period, top)
    with open_store(db, read_only=True) as store:
        note = mapping_note(store, result["period"]) if result.get("period") else None
    if note:  # which practice -> PCN mapping placed the QOF year's practices
        err.print(f"[yellow]note:[/] {escape(note)}")
    if fmt == "json":
        print_json(result)
        return
    rows = pd.DataFrame([{
        "QOF": c["group_code"], "recorded": fmt_.count(c["observed"], "[c]"),
        "expected": fmt_.estimate(c["expected"], 3, "[c]"),
        "O/E": fmt_.ratio(c["ratio"], "[c]"), "95% CI*": _ci(c["ratio_lowercl"], c["ratio_uppercl"]),
        "missing (estimate)": _missing(c["missing"]),
        "low*": "yes" if c["significantly_low"] is True else "",
        "flagged from*": fmt_.fraction(c.get("detectable_shortfall"), 0, missing="-"),
        "where (LSOA [IMD decile]: missing)": ", ".join(
            f"{_place(n)}{_decile(n['imd_decile'])}: {_missing(n['missing'])}"
            for n in c["neighbourhoods"]),
    } for c in result["conditions"]])
    if fmt == "csv":
        print_frame(rows, "csv")
        return
    print_frame(rows, "table", title=f"{result['pcn_code']} {result['pcn_name'] or ''} — "
                f"QOF {result['period']}: recorded vs expected, most missing patients first")
    share = [r for r in result["core20plus5"] if r.get("indicator") == "core20_share"]
    if share and isinstance(share[0]["all_value"], float) and not pd.isna(share[0]["all_value"]):
        console.print(f"Core20: {share[0]['all_value']:.0%} of the PCN's patients live in the "
                      "most deprived 20% of neighbourhoods nationally.")
    if result["uptake"]:
        up = pd.DataFrame(result["uptake"])[["period", "indicator", "age", "uptake", "target",
                                             "people_behind"]]
        print_frame(up, "table", title="Uptake against target")
    sentence = detectable_sentence(result["conditions"])
    if sentence:
        console.print(sentence, markup=False)
    console.print("* 95% limits allowing for the usual variation between PCNs (random effects, "
                  "Spiegelhalter 2005); 'low' = significantly fewer recorded than expected; "
                  "'flagged from' = the smallest under-recording this list size can reveal",
                  style="dim", markup=False)
    console.print(f"Model: {result['model']}", style="dim", markup=False)
    console.print(result["disclosure"], style="dim", markup=False)


def _with_deciles(data: Data, lsoa: pd.DataFrame) -> pd.DataFrame:
    """Add each LSOA's national IMD decile (1 = most deprived; the edition covering most of
    them), or nothing when no IMD is loaded."""
    lsoa = lsoa.assign(imd_decile=pd.NA)
    imd = data.rows("imd", latest=False, domain="imd", lsoa_code=sorted(lsoa["lsoa_code"].unique()))
    if imd.empty:
        return lsoa
    edition = imd.groupby("edition").size().sort_index().idxmax()
    deciles = imd[imd["edition"] == edition].set_index("lsoa_code")["decile"]
    return lsoa.assign(imd_decile=lsoa["lsoa_code"].map(deciles))


def _whole_people(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing patients are estimates of people: shown as whole numbers (never more precise
    than the rounded counts they come from)."""
    frame = frame.copy()
    for column in ("missing", "missing_lowercl", "missing_uppercl"):
        if column in frame:
            frame[column] = frame[column].round()
    return frame


def _missing(value: object) -> str:
    """Missing patients in words (the pages' formatter); ``[c]`` when suppressed."""
    return value if isinstance(value, str) else missing_text(value) or "[c]"


def _place(row: dict) -> str:
    name = row.get("lsoa_name")
    return f"{name} ({row['lsoa_code']})" if isinstance(name, str) and name else str(row["lsoa_code"])


def _decile(value: object) -> str:
    return "" if value is None or pd.isna(value) else f" [{int(value)}]"


def _ci(lower: object, upper: object) -> str:
    if isinstance(lower, int | float) and isinstance(upper, int | float) \
            and not (pd.isna(lower) or pd.isna(upper)):
        return f"{fmt_.ratio(lower)}-{fmt_.ratio(upper)}"
    return "[c]"


def target(
    indicator: Annotated[str, typer.Argument(help="Uptake indicator as loaded, e.g. MMR1.")],
    value: Annotated[float, typer.Argument(help="Target uptake: 0.9 or 90 (%).")],
    db: DbOption = None,
) -> None:
    """Set the uptake target of one indicator (default 95%); used by the next `placehealth build`.

    Example: placehealth need target MMR2 0.9
    """
    from placehealth.analyses.need import TARGETS_TABLE  # (statsmodels: import only when used)

    share = value / 100 if value > 1 else value
    if not 0 < share <= 1:
        raise typer.BadParameter(f"target {value} is not a share (0-1) or a percentage (0-100)")
    with open_store(db) as store:
        rows = store.read(TARGETS_TABLE) if store.has(TARGETS_TABLE) else pd.DataFrame(
            columns=["indicator", "target"])
        rows = rows[rows["indicator"] != indicator]
        rows = pd.concat([rows, pd.DataFrame({"indicator": [indicator], "target": [share]})],
                         ignore_index=True)
        store.replace_table(TARGETS_TABLE, rows.astype({"indicator": str, "target": float}))
    console.print(f"uptake target for {indicator}: {share:.1%} (run `placehealth build`)")


def register(app: typer.Typer) -> None:
    need_app.command("pcn")(pcn)
    need_app.command("target")(target)
    app.add_typer(need_app, name="need")
