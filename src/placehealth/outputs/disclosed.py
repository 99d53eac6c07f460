"""Protected copies of the store's tables, made once at build so outputs read only the rows asked.

Disclosure control must see a whole table (secondary suppression works across rows), so
protecting a national table on every request took minutes. ``placehealth build`` (and
``placehealth demo``) therefore protects every table once per disclosure preset and writes the
result into the store's ``disclosed`` schema as ``{policy}__{table}``, with a ledger row holding
the source table's fingerprint (rows, the sum of the hashes of each row with its row number, and
a digest of the disclosure rules). A copy is narrow: each row's number in the table
(``placehealth_row``, DuckDB's ``rowid``) and the columns protection may change (counts, values
derived from them, ``suppressed_cells``); the text columns it leaves as they are (codes, names,
periods: most of a national table's bytes) are read from the table itself, joined on the row
number. A reader uses a copy only while the fingerprint still matches, so a table loaded or
changed after the build (a row moved included), or rules changed since, are protected in memory
instead (slower, never stale, never another row's protection). A table protected alike under
every policy (the presets differ only in whether a zero count is small, and most national tables
hold none) is protected once; its other copies are views of the first (stored once). Copies
are an optimisation of :func:`protected_table`: both give the same rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from graphlib import TopologicalSorter
from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from placehealth.outputs import blocks, recomputed
from placehealth.outputs.blocks import ROW, quoted
from placehealth.outputs.disclosure import (
    FOLLOWS,
    PRESETS,
    SUPPRESSED,
    WITHHELD,
    Policy,
    TableRule,
    get_policy,
    protect,
    rule_for,
    same_protection,
)
from placehealth.store import Store, release_memory
from placehealth.tables import ROW_LEVEL

SCHEMA = "disclosed"
LEDGER = "ledger"
#: Tables that are never copied: the load ledger describes files, not people; row-level tables
#: (one row per person) never leave the engine at all.
SKIP = {"loads", *ROW_LEVEL}
LEDGER_COLUMNS = ["table_name", "policy", "fingerprint", "rows", "dtypes", "made_at"]
#: The ledger's column types (an empty ledger is typed too: nothing copied yet).
LEDGER_SCHEMA = ibis.schema({**dict.fromkeys(LEDGER_COLUMNS, "string"), "rows": "int64"})
#: How copies are laid out (narrow, joined on row numbers): copies of another layout are not used.
LAYOUT = "narrow-1"


def rules_version() -> str:
    """A digest of the disclosure rules' source (and of the recomputations after them): copies
    made under other rules are not used."""
    from placehealth.outputs import disclosure

    digest = hashlib.sha256()
    for module in (disclosure, recomputed):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def copy_name(table: str, policy: Policy) -> str:
    return f"{policy.name}__{table}"


def fingerprint(store: Store, table: str) -> str | None:
    """Rows and the sum of the hashes of each row with its row number of a stored table (DuckDB),
    else None (no copies used). A row moved to another row number changes it: a narrow copy's
    cells always belong to the row they were protected with."""
    if store.con.name != "duckdb":
        return None
    rows, hashed = store.con.raw_sql(
        f'SELECT count(*), sum(hash(rowid, t)::HUGEINT) FROM "{table}" AS t').fetchone()
    return f"{rows}:{hashed}:{rules_version()}:{LAYOUT}"


def protected_table(read: Callable[[str], pd.DataFrame], table: str, policy: Policy,
                    protected: Callable[[str], pd.DataFrame] | None = None) -> pd.DataFrame:
    """A whole table after disclosure control: ``read(name)`` gives a raw table; tables that follow
    another (:data:`FOLLOWS`) hide what that table's protected copy (``protected(name)``) hides;
    tables derived from counts elsewhere are derived again from the protected counts
    (:data:`recomputed.RECOMPUTED`)."""
    frame = protect(read(table), table, policy)
    if table in FOLLOWS and protected is not None:
        other = protected(FOLLOWS[table][0])
        if other is not None:
            frame = follow(frame, other, *FOLLOWS[table][1:])
    if table in recomputed.RECOMPUTED and protected is not None:
        frame = recomputed.RECOMPUTED[table][0](frame, protected)
    return frame


def made_from(table: str) -> set[str]:
    """The tables whose protected copy ``table``'s copy is made from."""
    follows = {FOLLOWS[table][0]} if table in FOLLOWS else set()
    return follows | set(recomputed.RECOMPUTED.get(table, (None, ()))[1])


def follow(frame: pd.DataFrame, other: pd.DataFrame, keys: tuple[str, ...],
           columns: dict[str, str]) -> pd.DataFrame:
    """Hide the cells of ``frame`` whose counterparts in ``other`` are hidden."""
    keys = [k for k in keys if k in frame and k in other]
    if not keys or SUPPRESSED not in other:
        return frame
    hidden = other[other[SUPPRESSED] != ""][[*keys, SUPPRESSED]].drop_duplicates(keys)
    merged = frame.merge(hidden.rename(columns={SUPPRESSED: "_other"}), on=keys, how="left")
    merged.index = frame.index
    out = frame.copy()
    other_hidden = merged["_other"].fillna("").str.split(",")
    for column, source in columns.items():
        if column not in out:
            continue
        flag = other_hidden.map(lambda names, s=source: s in names).to_numpy(dtype=bool)
        if flag.any():
            out.loc[flag, column] = None
            out.loc[flag, SUPPRESSED] = [",".join(x for x in [old, column] if x)
                                         for old in out.loc[flag, SUPPRESSED]]
    return out


def needs_protection(store: Store, table: str) -> bool:
    """Whether disclosure control changes anything in ``table``: it has count columns (declared,
    or inferred from its column names and types), it follows another table, or it has a column
    withheld from every output. Tables without (lookups, boundaries, scores) are read as stored."""
    if table in FOLLOWS or table in WITHHELD or table in recomputed.RECOMPUTED:
        return True
    schema = store.con.table(table).schema()
    empty = blocks.empty_frame(schema)
    return bool(rule_for(table, empty).counts)


def ledger(store: Store) -> pd.DataFrame:
    """The copies made: table, policy, source fingerprint, rows, column types, when."""
    if store.con.name != "duckdb" or LEDGER not in store.con.list_tables(database=SCHEMA):
        return pd.DataFrame(columns=LEDGER_COLUMNS)
    return store.con.table(LEDGER, database=SCHEMA).to_pandas()


def write_all(store: Store, policies: Iterable[str | Policy] = tuple(PRESETS),
              progress: Callable[[str], None] | None = None,
              block_rows: int = blocks.BLOCK_ROWS,
              tables: Iterable[str] | None = None) -> dict[str, int]:
    """Protect every table of the store under each policy and write the copies (unchanged tables
    whose copy is current are skipped). Each table (or block) is read once for every policy. A
    table of more than ``block_rows`` rows is protected a block of whole groups at a time.
    Given ``tables``, only those are protected (the ledger keeps the other tables' rows); none
    may be made from another table's copy (:func:`made_from`). Returns rows written per copy.
    DuckDB stores only."""
    if store.con.name != "duckdb":
        return {}
    if tables is not None:
        tables = set(tables)
        made_of = sorted(t for t in tables if made_from(t))
        if made_of:
            raise ValueError(f"copies made from other copies are made with them: {', '.join(made_of)}")
    if SCHEMA not in store.con.list_databases():
        store.con.create_database(SCHEMA)
    policies = [get_policy(p) for p in policies]
    old = ledger(store)
    current = {(r.table_name, r.policy): r.fingerprint for r in old.itertuples()}
    rows: list[dict] = [r._asdict() for r in old.itertuples(index=False)]
    written: dict[str, int] = {}
    everything = store.list_tables()
    considered = set(everything) if tables is None else tables & set(everything)
    tables = [t for t in everything if t in considered and t not in SKIP and needs_protection(store, t)]
    needed = set().union(*(made_from(t) for t in tables))
    tables = _in_order(tables, needed)
    made: dict[str, dict[str, pd.DataFrame]] = {p.name: {} for p in policies}

    def source(policy: Policy) -> Callable[[str], pd.DataFrame | None]:
        def protected(name: str) -> pd.DataFrame | None:
            if name in made[policy.name]:
                return made[policy.name][name]
            if name in everything and not needs_protection(store, name):
                return store.read(name).assign(**{SUPPRESSED: ""})
            return _read_copy(store, name, policy)
        return protected

    # how many tables still to write are made from each table kept in ``made``
    pending = {t: sum(t in made_from(other) for other in tables) for t in needed}
    alike: set[str] = set()  # tables whose copies written here are the same under every policy
    with blocks.engine_memory(store):  # DuckDB's cache held down while copies are written
        prints = {t: fingerprint(store, t) for t in tables}
        store.release_cache()  # the pages of every table hashed
        for table in tables:
            todo = [p for p in policies
                    if current.get((table, p.name)) != prints[table] or made_from(table)]
            if not todo:
                continue
            if progress:
                progress(f"{table} ({', '.join(p.name for p in todo)})")
            keep = {p.name: made[p.name] for p in todo} if table in needed else None
            inputs_alike = all(d in alike or d not in tables for d in made_from(table))
            copies = _write_copies(store, table, todo, source, keep, block_rows, inputs_alike)
            if len(todo) == len(policies) and all(same for _, _, same in copies[1:]):
                alike.add(table)
            for policy, (made_rows, dtypes, _) in zip(todo, copies, strict=True):
                rows = [r for r in rows if not (r["table_name"] == table and r["policy"] == policy.name)]
                rows.append({"table_name": table, "policy": policy.name, "fingerprint": prints[table],
                             "rows": made_rows, "dtypes": json.dumps({c: str(t) for c, t in dtypes.items()}),
                             "made_at": datetime.now(UTC).isoformat(timespec="seconds")})
                written[copy_name(table, policy)] = made_rows
            for done in made_from(table) & set(pending):
                pending[done] -= 1
                if not pending[done]:  # nothing else is made from it: let it go
                    for by_policy in made.values():
                        by_policy.pop(done, None)
            store.let_go()
    kept = [r for r in rows if r["table_name"] in prints
            or (r["table_name"] in everything and r["table_name"] not in considered)]
    store.con.create_table(LEDGER, ibis.memtable(pd.DataFrame(kept, columns=LEDGER_COLUMNS),
                                                 schema=LEDGER_SCHEMA),
                           database=SCHEMA, overwrite=True)
    return written


def _in_order(tables: list[str], needed: set[str]) -> list[str]:
    """Never a table before one its copy is made from (which it then reads fresh); among those
    ready, the tables others are made from first, then the tables made from them (so the first
    are let go early), then the rest, each group in its given order."""
    present = set(tables)
    sorter = TopologicalSorter({t: made_from(t) & present for t in tables})
    sorter.prepare()
    rank = {t: (t not in needed, not made_from(t), i) for i, t in enumerate(tables)}
    ready: list[str] = []
    ordered = []
    while sorter.is_active():
        ready = sorted([*ready, *sorter.get_ready()], key=rank.__getitem__)
        ordered.append(ready.pop(0))
        sorter.done(ordered[-1])
    return ordered


def kept_columns(store: Store, table: str) -> frozenset[str]:
    """The columns of ``table`` its copies read from the table itself: those its rule never names
    as counts or values derived from them. Text columns (codes, names, periods) always; numbers
    too (versions, flags, load numbers) unless the rule recomputes values from protected counts
    (ratios, limits, shares: columns it does not name). Each copy checks them unchanged by
    protection (:func:`blocks.unchanged`) and stores any that are not."""
    schema = store.con.table(table).schema()
    empty = blocks.empty_frame(schema)
    rule = rule_for(table, empty)
    named = _named(rule) | {SUPPRESSED, *WITHHELD.get(table, ()), *FOLLOWS.get(table, ("", (), {}))[2]}
    recomputes = bool(rule.share_of or rule.observed_expected or rule.proportion
                      or rule.observed_expected_sides)
    return frozenset(c for c, kind in schema.items()
                     if c not in named and (kind.is_string() or not recomputes))


def _named(rule: TableRule) -> set[str]:
    """Every column a rule names as a count or as computed from counts."""
    computed = {c for _, columns in rule.families for c in columns}
    return {*rule.counts, *rule.derived, *rule.shares, *rule.share_of, *rule.decimals, *computed}


def _write_copies(store: Store, table: str, policies: list[Policy],
                  source: Callable[[Policy], Callable[[str], pd.DataFrame | None]],
                  made: dict[str, dict[str, pd.DataFrame]] | None, block_rows: int,
                  inputs_alike: bool = False) -> list[tuple[int, dict, bool]]:
    """Write ``table``'s narrow copy under each policy from one read of the table: a block of
    whole groups at a time when it is large and made from nothing else
    (:mod:`placehealth.outputs.blocks`), else whole (then kept in ``made[policy]`` when given,
    for the copies made from it). A table protected alike under a policy and the first
    (:func:`~placehealth.outputs.disclosure.same_protection`), and made from copies the same
    under both (``inputs_alike``: nothing else, or copies found alike), is protected once: the
    policy's copy is a view of the first's. Returns each copy's rows, column types,
    and whether it is the first policy's copy."""
    names = [copy_name(table, p) for p in policies]
    kept = kept_columns(store, table)
    if made is None and table not in FOLLOWS and table not in recomputed.RECOMPUTED:
        table_plan = blocks.plan(store, table, block_rows)
        if table_plan is not None:
            try:
                while True:
                    try:
                        return blocks.write(store, table_plan, policies, names, SCHEMA, kept)
                    except blocks.Changed as changed:  # stored after all: made again
                        kept = kept - set(changed.columns)
            except blocks.Unmatched:
                pass  # column types the blocks cannot agree on: protected whole below
            finally:
                blocks.drop(store, table_plan)
    raw, row = read_numbered(store, table)
    release_memory()  # the Arrow rows it was read as
    same = [i > 0 and inputs_alike and same_protection(raw, table, policies[0], policy)
            for i, policy in enumerate(policies)]
    out: list[tuple[int, dict, bool]] = []
    first = None
    for i, (policy, name) in enumerate(zip(policies, names, strict=True)):
        if same[i]:  # protected as under the first policy: its copy is the first's
            if made is not None:
                made[policy.name][table] = first
            blocks.alias(store, SCHEMA, names[0], name)
            out.append((*out[0][:2], True))
            continue
        frame = protected_table(lambda _: raw, table, policy, source(policy))
        if i == 0 and any(same):
            first = frame
        if made is not None:
            made[policy.name][table] = frame
        stored = _storable(frame)
        if table not in recomputed.RECOMPUTED and frame.index.equals(raw.index):  # row for row: narrow
            stored = stored.drop(columns=[c for c in kept if blocks.unchanged(frame, raw, c)])
            stored.insert(0, ROW, row)
        blocks.put(store, stored, name, SCHEMA)  # else (rows derived again) whole
        out.append((len(frame), frame.dtypes.to_dict(), False))
        del frame, stored
        release_memory()  # what protecting it held
    return out


def read_numbered(store: Store, table: str) -> tuple[pd.DataFrame, np.ndarray]:
    """A whole stored table in row order, as :meth:`Store.read` types it, and its row numbers."""
    frame = store.con.sql(f'SELECT rowid AS {ROW}, * FROM "{table}" ORDER BY rowid').to_pandas()
    return frame, frame.pop(ROW).to_numpy()


def _storable(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding only None/NaN and numbers are stored as numbers."""
    out = frame.copy(deep=False)  # copy-on-write: the columns changed here are new
    for column in out.columns:
        if out[column].dtype == object and column != SUPPRESSED:
            values = out[column].dropna()
            if len(values) and all(isinstance(v, bool) for v in values):
                out[column] = out[column].astype("boolean")
            elif values.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool)).all():
                out[column] = pd.to_numeric(out[column], errors="coerce")
    return out


def valid_copy(store: Store, table: str, policy: Policy, entries: pd.DataFrame | None = None) -> dict | None:
    """The ledger entry of ``table``'s copy under ``policy`` if it matches the table as stored now."""
    entries = ledger(store) if entries is None else entries
    hit = entries[(entries["table_name"] == table) & (entries["policy"] == policy.name)]
    if hit.empty or not store.has(table):
        return None
    if hit["fingerprint"].iloc[0] != fingerprint(store, table):
        return None
    return hit.iloc[0].to_dict()


def read_copy(store: Store, table: str, policy: Policy, entry: dict,
              filters: Callable | None = None) -> pd.DataFrame:
    """Rows of a current copy in the table's order (``filters(ibis_table) -> ibis_table`` narrows
    them in the engine), with the column types the protected frame had: the copy's columns joined
    on row numbers to the columns read from the table itself."""
    columns = list(json.loads(entry["dtypes"]))
    t = store.con.table(copy_name(table, policy), database=SCHEMA)
    if ROW not in t.columns:  # a copy whose rows are not the table's (recomputed): whole
        return restore_types((t if filters is None else filters(t)).to_pandas(), entry)
    kept = [c for c in columns if c not in t.columns]
    if kept:
        rows = store.con.sql(f'SELECT rowid AS {ROW}, {", ".join(quoted(c) for c in kept)} '
                             f'FROM {quoted(table)}')
        t = rows.join(t, ROW)
    t = t.select(*columns, ROW)
    if filters is not None:
        t = filters(t)
    return restore_types(t.order_by(ROW).drop(ROW).to_pandas(), entry)


def _read_copy(store: Store, table: str, policy: Policy) -> pd.DataFrame | None:
    entry = valid_copy(store, table, policy)
    return None if entry is None else read_copy(store, table, policy, entry)


def restore_types(frame: pd.DataFrame, entry: dict) -> pd.DataFrame:
    """Nullable integer and boolean columns back as the protected frame had them."""
    dtypes = json.loads(entry.get("dtypes") or "{}")
    for column, kind in dtypes.items():
        if column in frame and kind in {"Int64", "boolean"} and str(frame[column].dtype) != kind:
            frame[column] = frame[column].astype(kind)
    if SUPPRESSED in frame:
        frame[SUPPRESSED] = frame[SUPPRESSED].fillna("").astype(object)
    return frame
