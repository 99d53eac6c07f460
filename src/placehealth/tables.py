"""Canonical tables: the stable names and columns every reader writes and every analysis reads.

This module is the single source of truth for the store's loaded tables; docs/DATA.md documents
the same names and a test keeps the two in step. Derived tables (profiles, need, comparison) are
described by the analyses that build them.

Each table has a *partition* (the publication period or edition a row belongs to: a new period is
added beside the old ones, never over them) and a *key* (unique within the table).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Column types, as portable names understood by every Ibis backend.
STRING, INT, FLOAT, BOOL, BINARY = "string", "int64", "float64", "boolean", "binary"


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: its columns (name -> type), key, partition and a one-line description."""

    name: str
    columns: dict[str, str]
    key: tuple[str, ...]
    partition: tuple[str, ...]
    description: str
    nullable: frozenset[str] = field(default_factory=frozenset)

    @property
    def value_columns(self) -> list[str]:
        return [c for c in self.columns if c not in self.key and c != "load_id"]


def _spec(name, columns, key, partition, description, nullable=()) -> TableSpec:
    columns = dict(columns) | {"load_id": INT}
    return TableSpec(name, columns, tuple(key), tuple(partition), description, frozenset(nullable))


LOADS = "loads"
LOADS_COLUMNS = {
    "load_id": INT,
    "file_name": STRING,
    "sha256": STRING,
    "kind": STRING,
    "publication": STRING,
    "period": STRING,
    "rows": INT,
    "tables": STRING,
    "loaded_at": STRING,
}

_ORG = {"practice_code": STRING}

CANONICAL: dict[str, TableSpec] = {
    s.name: s
    for s in [
        _spec(
            "registrations_lsoa",
            {"period": STRING, **_ORG, "practice_name": STRING, "lsoa_code": STRING,
             "lsoa_vintage": INT, "lsoa_known": BOOL, "sex": STRING, "patients": INT},
            key=("period", "practice_code", "lsoa_code", "sex"),
            partition=("period",),
            description="Patients registered at each practice by the LSOA they live in "
            "(NHS England gp-reg-pat-prac-lsoa-all). Unknown LSOAs (NO2011, EMPTY, ...) are kept "
            "with lsoa_known = false.",
            nullable=("practice_name", "lsoa_vintage"),
        ),
        _spec(
            "registrations_age",
            {"period": STRING, **_ORG, "sex": STRING, "age_from": INT, "age_to": INT,
             "patients": INT},
            key=("period", "practice_code", "sex", "age_from"),
            partition=("period",),
            description="Patients registered at each practice by sex and age band "
            "(single-year or 5-year files); age_to is null for the open top band (e.g. 95+).",
            nullable=("age_to",),
        ),
        _spec(
            "registrations_total",
            {"period": STRING, **_ORG, "practice_name": STRING, "postcode": STRING,
             "patients": INT},
            key=("period", "practice_code"),
            partition=("period",),
            description="Total patients registered at each practice (gp-reg-pat-prac-all).",
            nullable=("practice_name", "postcode"),
        ),
        _spec(
            "practice_pcn",
            {"period": STRING, **_ORG, "practice_name": STRING, "practice_postcode": STRING,
             "pcn_code": STRING, "pcn_name": STRING, "sub_icb_code": STRING,
             "sub_icb_ons_code": STRING, "sub_icb_name": STRING, "icb_code": STRING,
             "icb_ons_code": STRING, "icb_name": STRING, "region_code": STRING,
             "region_ons_code": STRING, "region_name": STRING},
            key=("period", "practice_code"),
            partition=("period",),
            description="Practice -> PCN -> Sub-ICB -> ICB -> region membership for a period "
            "(gp-reg-pat-prac-map, ePCN, QOF geography mapping). pcn_code 'U' = not in a PCN.",
            nullable=("practice_name", "practice_postcode", "pcn_name", "sub_icb_code",
                      "sub_icb_ons_code", "sub_icb_name", "icb_code", "icb_ons_code", "icb_name",
                      "region_code", "region_ons_code", "region_name"),
        ),
    ]
}


def register(spec: TableSpec) -> TableSpec:
    """Add a canonical table (used by reader modules that own further tables)."""
    CANONICAL[spec.name] = spec
    return spec


def table_spec(
    name: str,
    columns: dict[str, str],
    key: tuple[str, ...] | list[str],
    partition: tuple[str, ...] | list[str],
    description: str,
    nullable: tuple[str, ...] | list[str] = (),
) -> TableSpec:
    """Build and register a canonical table spec (adds the load_id column)."""
    return register(_spec(name, columns, key, partition, description, nullable))
