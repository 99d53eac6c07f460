"""The demo place: a synthetic but realistic ICB generated from a seed and written as files in
the official publication layouts, so it takes exactly the path real data takes.

``generate(out, DemoConfig(...))`` writes every file and ``demo-truth.json`` (the planted
under-diagnosis and detection rates, for tests of the need analysis). Same seed, same files.

Modules: ``geography`` (LSOAs, wards, local authorities, boundaries, smooth fields),
``population`` (ages, ethnicity), ``deprivation`` (IoD scores, ranks, deciles),
``registrations`` (practices, PCNs, the gravity model, monthly extracts), ``health`` (QOF
registers with planted under-diagnosis, immunisation uptake), ``partners`` (postcode lookup,
partner register, journey times), ``series`` (a quarterly PCN indicator and two registered
interventions with planted effects), ``write`` (official layouts).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from placehealth.sources.base import ReadOptions
from placehealth.sources.demo import partners, write
from placehealth.sources.demo import series as demo_series
from placehealth.sources.demo.deprivation import build_deprivation
from placehealth.sources.demo.geography import build_geography
from placehealth.sources.demo.health import CONDITIONS, IMMUNISATIONS, build_health
from placehealth.sources.demo.patients import write_patients
from placehealth.sources.demo.population import build_population
from placehealth.sources.demo.registrations import (
    REGISTERED_SHARE,
    build_organisations,
    build_practices,
    earlier,
    month_label,
    register,
)
from placehealth.sources.postcodes import locate

TRUTH_FILE = "demo-truth.json"


@dataclass
class DemoConfig:
    """What to generate. Defaults: an ICB of ~1.2M registered patients."""

    seed: int = 2026
    practices: int = 150
    pcns: int = 30
    lsoas: int = 800
    las: int = 4
    patients: int = 1_200_000
    latest_month: str = "2025-10"
    months: int = 2                 # registration extracts written
    month_step: int = 6             # months between extracts
    qof_years: tuple[str, ...] = ("2023-24", "2024-25")
    neighbours: int | None = None   # practices each LSOA registers with (default 25, 40 at scale)
    #: People in a patient-level extract of the latest month (``patients.write_patients``); when
    #: set, the extract replaces the registration counts, QOF registers and uptake files.
    patients_level: int | None = None
    patients_chunk: int = 1_000_000


@dataclass
class DemoPlace:
    """What was written: files in load order, the truth file, and headline counts."""

    out: Path
    files: list[Path]
    truth: Path
    practices: int
    pcns: int
    lsoas: int
    las: int
    patients: int
    periods: list[str]
    rows_per_month: dict[str, int] = field(default_factory=dict)
    #: The patient-level extract (read with ``--as patients --period`` the latest month), if any.
    patients_file: Path | None = None


def _rngs(seed: int, n: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def generate(out: str | Path, config: DemoConfig | None = None,
             progress: Callable[[str], None] | None = None) -> DemoPlace:
    """Generate the place and write its files under ``out``; returns what was written."""
    config = config or DemoConfig()
    step = progress or (lambda _label: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # (spawned children depend only on their index: adding one leaves the others' draws as they were)
    r_geo, r_pop, r_dep, r_prac, r_reg, r_month, r_health, r_partners, r_series = _rngs(
        config.seed, 9)

    step("geography")
    geo = build_geography(r_geo, config.lsoas, config.las)
    pop = build_population(r_pop, geo, round(config.patients / REGISTERED_SHARE))
    dep = build_deprivation(r_dep, geo)
    orgs = build_organisations(geo)
    prac = build_practices(r_prac, geo, pop, orgs, config.practices, config.pcns)

    step("registrations")
    periods = [month_label(config.latest_month, config.month_step * k)
               for k in range(config.months)]
    latest = register(r_reg, geo, pop, prac, periods[0], config.neighbours)
    months = [latest] + [earlier(r_month, latest, pop, prac.n, p, config.month_step * k)
                         for k, p in enumerate(periods[1:], start=1)]
    files: list[Path] = []
    rows: dict[str, int] = {}
    for month in sorted(months, key=lambda m: m.period):
        step(f"writing registrations {month.period}")
        folder = out / "registrations" / month.period
        files.append(write.registrations_map(folder / "gp-reg-pat-prac-map.csv", month.period,
                                             prac, orgs))
        if config.patients_level is None:
            files.append(write.registrations_lsoa(folder / "gp-reg-pat-prac-lsoa-all.csv",
                                                  month, geo, prac))
            files.append(write.registrations_age(folder / "gp-reg-pat-prac-quin-age.csv", month,
                                                 prac, orgs))
        rows[month.period] = len(month.patients) + int((month.unknown > 0).sum())

    step("health")
    imm_years = [f"{y[:4]}/{y[5:]}" for y in config.qof_years]
    health = build_health(r_health, geo, pop, prac, latest, list(config.qof_years), imm_years,
                          dep.imd_decile)

    step("writing reference files")
    files += write.lookups(out / "lookups", geo, orgs)
    files += write.boundaries(out / "boundaries", geo)
    files.append(write.iod(out / write.IOD_FILE, geo, pop, dep.scores, dep.ranks, dep.deciles))
    files.append(write.census_ts021(out / "census2021-ts021-lsoa.csv", geo, pop))
    files.append(write.population_sya(out / "sapelsoasyoa2022.csv", geo, pop))
    files.append(write.practice_locations(
        out / f"practice_locations_{config.latest_month}.csv", geo, prac, orgs))
    for year in config.qof_years:
        tag = year[2:4] + year[5:7]
        files.append(write.qof_mapping(out / "qof" / f"MAPPING_INDICATORS_{tag}.csv", year))
        files.append(write.qof_geographies(
            out / "qof" / f"MAPPING_NHS_GEOGRAPHIES_{tag}.csv", prac, orgs,
            latest=year == config.qof_years[-1]))
        if config.patients_level is None:
            files.append(write.qof_prevalence(out / "qof" / f"PREVALENCE_{tag}.csv", year,
                                              health, prac))
    patients_file = None
    if config.patients_level is None:
        files.append(write.immunisations(out / "cover_practice_uptake.csv", health, prac))
    else:
        step(f"writing {config.patients_level:,} patients")
        patients_file = write_patients(out / "patients" / f"patients-{periods[0]}.parquet",
                                       config.patients_level, config.seed, geo, pop, prac,
                                       latest, health, chunk=config.patients_chunk)
        files.append(patients_file)
    step("writing partners")
    files += partners.write_all(out, r_partners, geo, prac)

    step("writing series and interventions")
    pcn_patients = np.bincount(prac.pcn, weights=latest.practice_totals,
                               minlength=len(prac.pcn_code))
    series_rows, register_rows, planted = demo_series.build_series(r_series, prac.pcn_code,
                                                                   pcn_patients)
    files += demo_series.write(out / "evaluation", series_rows, register_rows)

    step("writing truth")
    truth = out / TRUTH_FILE
    facts = _truth(config, geo, dep, prac, health, latest) | {"interventions": planted}
    truth.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return DemoPlace(out=out, files=files, truth=truth, practices=prac.n,
                     pcns=len(prac.pcn_code), lsoas=geo.n, las=len(geo.lad_code),
                     patients=int(latest.practice_totals.sum()), periods=sorted(periods),
                     rows_per_month=rows, patients_file=patients_file)


def read_options(earlier: list) -> ReadOptions:
    """Options for reading the demo's files in order: partner postcodes resolve through the
    postcode lookup read before them (``earlier``: the ReadResults so far)."""
    def lookup(codes):
        return locate(codes, [r.tables["postcodes"] for r in earlier if "postcodes" in r.tables])
    return ReadOptions(postcodes=lookup)


def _r(values: np.ndarray, digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in values]


def _truth(config: DemoConfig, geo, dep, prac, health, latest) -> dict:
    """The planted facts a correct need analysis should recover."""
    lsoa = list(geo.lsoa_code)
    gap = 1 - health.detection
    latest_year = config.qof_years[-1]
    qof = health.qof[latest_year]
    ratio = qof["expected_recorded"] / np.maximum(qof["true_register"], 1e-9)
    return {
        "seed": config.seed,
        "config": asdict(config),
        "description": "Recorded QOF registers = true x detection. detection_by_lsoa is the "
        "planted LSOA multiplier (1 = full detection); a condition applies it with weight "
        "undiagnosed (recorded share = 1 - undiagnosed x (1 - detection)). Practices in "
        "practice_factor have a further multiplier on every register. practice_recorded_over_true "
        "is expected recorded / true register for the latest QOF year.",
        "core20_share": dep.core20_share,
        "detection_by_lsoa": dict(zip(lsoa, _r(health.detection), strict=True)),
        "planted": {
            "deprived_lsoas": sorted(geo.lsoa_code[health.planted_deprived].tolist()),
            "minority_ethnic_lsoas": sorted(geo.lsoa_code[health.planted_minority].tolist()),
            "lsoa_gap": {c: g for c, g in zip(lsoa, _r(gap), strict=True) if g > 0},
            "practice_factor": {c: round(float(f), 4) for c, f in
                                zip(prac.code, health.practice_factor, strict=True) if f < 1},
        },
        "conditions": {c.code: {"description": c.description, "list_type": c.list_type,
                                "undiagnosed": c.undiagnosed, "deprivation_gradient": c.gradient,
                                "england_prevalence_pct": c.target} for c in CONDITIONS},
        "true_prevalence_by_lsoa": {
            c.code: dict(zip(lsoa, _r(health.true_prevalence[:, j], 5), strict=True))
            for j, c in enumerate(CONDITIONS)},
        "practice_recorded_over_true": {
            c.code: dict(zip(prac.code, _r(ratio[:, j]), strict=True))
            for j, c in enumerate(CONDITIONS)},
        "immunisation_expected_uptake": {
            year: {f"{age} {item}": dict(zip(prac.code, _r(data["uptake"][:, i]), strict=True))
                   for i, (age, item, _) in enumerate(IMMUNISATIONS)}
            for year, data in health.immunisation.items()},
        "lsoa_deprivation_z": dict(zip(lsoa, _r(geo.deprivation), strict=True)),
        "registered_patients": int(latest.practice_totals.sum()),
    }


__all__ = ["TRUTH_FILE", "DemoConfig", "DemoPlace", "generate", "read_options"]
