"""Backup and restore of a store and its accounts file (registers, users, audit log).

A backup is a folder: ``store/`` (DuckDB ``EXPORT DATABASE`` as Parquet: every table, the
loads ledger and the registers with their history), ``users.sqlite`` (SQLite's online backup of
the accounts file, when there is one) and ``manifest.json`` (tables and their row counts).
Restore makes a NEW store (``IMPORT DATABASE``) and refuses to write over an existing one; it
then checks every table's row count against the manifest.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from placehealth.outputs.accounts import Accounts, users_path
from placehealth.sources.validate import InputError
from placehealth.store import Store, resolve_db


def _quoted(path: Path) -> str:
    """A folder as a SQL string literal (DuckDB's EXPORT/IMPORT take no parameters; the path
    is the operator's, never a web visitor's)."""
    return "'" + str(path.resolve()).replace("'", "''") + "'"


def _counts(store: Store) -> dict[str, int]:
    return {name: int(store.table(name).count().execute()) for name in store.list_tables()}


def backup(db: str | os.PathLike[str] | None, out: str | os.PathLike[str]) -> dict:
    """Write a backup of the store (and its accounts file) into the new folder ``out``."""
    folder, location = Path(out), resolve_db(db)
    if "://" in location or not Path(location).exists():
        raise InputError(str(location), "no store file to back up")
    if folder.exists() and any(folder.iterdir()):
        raise InputError(str(folder), "the backup folder exists and is not empty")
    folder.mkdir(parents=True, exist_ok=True)
    with Store(location, read_only=True) as store:
        counts = _counts(store)
        store.con.raw_sql(f"EXPORT DATABASE {_quoted(folder / 'store')} (FORMAT PARQUET)")
    users = users_path(location)
    if users.exists():
        Accounts(users).backup(folder / "users.sqlite")
    manifest = {"store": str(location), "made": datetime.now(UTC).isoformat(timespec="seconds"),
                "tables": counts, "users": users.exists()}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def restore(folder: str | os.PathLike[str], db: str | os.PathLike[str] | None) -> dict:
    """Make a new store at ``db`` from a backup folder; check every table's rows."""
    folder, location = Path(folder), resolve_db(db)
    manifest_file = folder / "manifest.json"
    if not manifest_file.exists():
        raise InputError(str(folder), "not a placehealth backup (no manifest.json)")
    manifest = json.loads(manifest_file.read_text())
    if "://" in location or Path(location).exists():
        raise InputError(str(location), "the store exists: restore into a new file (--db NEW.duckdb)")
    users = users_path(location)
    if manifest.get("users") and users.exists():
        raise InputError(str(users), "an accounts file exists beside the new store")
    try:
        with Store(location) as store:
            store.con.raw_sql(f"IMPORT DATABASE {_quoted(folder / 'store')}")
            counts = _counts(store)
    except Exception:
        Path(location).unlink(missing_ok=True)
        raise
    if counts != manifest["tables"]:
        Path(location).unlink(missing_ok=True)
        raise InputError(str(folder), f"restored tables differ from the manifest: {counts} != "
                         f"{manifest['tables']}")
    if manifest.get("users"):
        shutil.copyfile(folder / "users.sqlite", users)
    return {"store": location, "tables": counts, "users": str(users) if manifest.get("users") else None}
