"""Expected disease registers: a model of recorded prevalence fitted across all practices.

For each QOF condition and period a binomial GLM with a logit link is fitted to every practice's
register out of its list (the condition's QOF denominator), i.e. grouped binomial data where each
practice counts with the weight of its list size:

    logit P(on register) = b0 + age terms + sex + deprivation (+ deprivation^2) + ethnicity + rurality

(McCullagh & Nelder 1989, *Generalized Linear Models*, 2nd ed., ch. 4; fitted by IRLS in
statsmodels, with Huber weights so that outlying practices do not bend the fit towards their own
recording, :func:`robust_fit`). A practice's expected register is its fitted probability times its list size, then
calibrated so that, over all practices of the period, expected sums to the observed total for the
condition (with a canonical-link GLM and an intercept the fit already satisfies this; the factor,
reported, is 1 up to rounding unless practices had to be left out of the fit).

**What "expected" means depends on what the model adjusts for.** Age and sex are always need
drivers. Deprivation is a need driver too (deprived populations have more COPD, diabetes and
SMI), and expected-prevalence models conventionally include it (e.g. the APHO/PHE prevalence
models, Nacul et al. 2011, *J Public Health* 33:108). But a model fitted to *recorded* prevalence
that includes deprivation also absorbs any under-diagnosis that runs with deprivation: the gap
then shows practices recording less than similarly deprived practices do, not less than their
need. ``adjust_for`` makes the choice explicit and the ``model`` column of every output says which
was made; drop ``deprivation`` to see deprivation-linked under-recording.

Population structure comes from ``registrations_age`` (5-year or single-year bands by sex) when
loaded. Otherwise (as for the national QOF years) the model falls back to the QOF list-type
denominators — the share of the list aged 50+ (50OV/TOTAL) and under 18 (1 - 18OV/TOTAL) — plus a
practice attribute giving the share aged 65+ where one is loaded, and says so.

Each driver's coverage (the share of the period's practices whose value is known) is reported; a
driver known for fewer than half of them is not used and the ``model`` text says why, the others'
unknown values are filled with the average and flagged by a ``*_missing`` term.

Fit statistics (``prevalence_model``, of the calibrated expected on every practice): deviance, null deviance, pseudo-R² = 1 - D/D0 (the
deviance-based R² of Cameron & Windmeijer 1997, *J Econometrics* 77:329), McFadden's R²
(1 - llf/llnull), the Pearson dispersion (χ²/df; > 1 means over-dispersion, usual for practice
data, which the Poisson limits of the gap tables do not widen for) and n.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import gammaln
from threadpoolctl import threadpool_limits

from placehealth.store import Store

#: Drivers the model may adjust for, in the order reported.
DRIVERS = ("age", "sex", "deprivation", "ethnicity", "rurality")
DEFAULT_ADJUST_FOR: tuple[str, ...] = DRIVERS

#: Broad age bands (by first year of age) used when registrations_age is loaded; 15-44 is the
#: reference band.
AGE_BANDS = ((0, 14, "share_age_0_14"), (45, 64, "share_age_45_64"), (65, 74, "share_age_65_74"),
             (75, 200, "share_age_75_plus"))

#: Practice attributes recognised as each driver (regex on the attribute or column name).
ATTRIBUTE_PATTERNS = {
    "deprivation": r"^(imd|iod)[_0-9a-z]*score$|^deprivation(_score)?$",
    "ethnicity": r"(pct|share|prop)_?non_?white|non_?white_?(pct|share|prop)|pct_?bame",
    "rurality": r"(pct|share|prop)_?rural|rural_?(pct|share|prop)",
    "age65": r"^(65_?ov_?pct|pct_?65_?ov|65ov%|share_?65_?(ov|plus)|pct_?65_?plus)$",
}


@dataclass
class Covariates:
    """Practice covariates for one period (one row per practice) and where each came from."""

    frame: pd.DataFrame  # practice_code + numeric columns
    sources: dict[str, str] = field(default_factory=dict)  # driver -> description
    terms: dict[str, list[str]] = field(default_factory=dict)  # driver -> columns
    coverage: dict[str, float] = field(default_factory=dict)  # driver -> share of practices known
    refused: dict[str, str] = field(default_factory=dict)  # driver -> why it was not used


#: A driver known for fewer than this share of the period's practices is not used: a fit on mostly
#: average-filled values would say more about the filling than about the driver.
MIN_COVERAGE = 0.5


#: Deprivation gets a quadratic term only when the fit has at least this many practices. A curve
#: needs practices all along it: in one place, a handful at an end of the deprivation range would
#: set the curve there alone, and a PCN of them missing a share of its registers would be fitted
#: as "their kind of population has less disease" (calibration by simulation, docs/NEED.md).
QUADRATIC_FROM = 500


def _known_share(frame: pd.DataFrame, columns: list[str]) -> float:
    """Share of practices (rows) with every one of ``columns`` known."""
    if not len(frame):
        return 0.0
    known = frame[columns].apply(pd.to_numeric, errors="coerce").notna().all(axis=1)
    return float(known.mean())


def _period_end(period: str) -> str:
    """A financial year '2020-21' ends in March 2021 -> '2021-03'; months stay as they are."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", period)
    if m and (int(m.group(1)) + 1) % 100 == int(m.group(2)) and int(m.group(2)) > 12:
        return f"{int(m.group(1)) + 1}-03"
    return period


def nearest_period(periods: Iterable[str], period: str) -> str | None:
    """The period closest to ``period`` (QOF years compared by their March end), preferring
    earlier ones on ties."""
    periods = sorted(p for p in periods if p)
    if not periods:
        return None
    if period in periods:
        return period
    target = _period_end(period)

    def distance(p: str) -> tuple[float, int]:
        a, b = _months(_period_end(p)), _months(target)
        if a is None or b is None:
            return (float("inf"), 0)
        return (abs(a - b), 0 if a <= b else 1)

    return min(periods, key=distance)


def _months(period: str) -> int | None:
    m = re.fullmatch(r"(\d{4})-(\d{2})", period) or re.fullmatch(r"(\d{4})", period)
    if not m:
        return None
    month = int(m.group(2)) if m.lastindex and m.lastindex >= 2 else 6
    return int(m.group(1)) * 12 + month


def practice_attributes(store: Store, period: str) -> pd.DataFrame:
    """Wide practice attributes (practice_code + one column per attribute) nearest ``period``,
    from ``practice_profile`` columns and ``practice_attributes`` rows."""
    wide = pd.DataFrame(columns=["practice_code"])
    if store.has("practice_attributes"):  # each attribute from its own nearest period
        long = store.read("practice_attributes")
        nearest = {a: nearest_period(rows["period"].unique(), period)
                   for a, rows in long.groupby("attribute")}
        long = long[long["period"] == long["attribute"].map(nearest)]
        if len(long):
            wide = long.pivot_table(index="practice_code", columns="attribute", values="value",
                                    aggfunc="first").reset_index()
            wide.columns.name = None
    if store.has("practice_profile"):
        profile = store.table("practice_profile")
        if "period" in profile.columns:
            chosen = nearest_period(store.periods("practice_profile"), period)
            profile = profile.filter(profile.period == chosen)
        prof = profile.to_pandas()
        numeric = [c for c in prof.columns if c != "practice_code"
                   and pd.api.types.is_numeric_dtype(prof[c])]
        prof = prof[["practice_code", *numeric]].drop_duplicates("practice_code")
        if len(prof):
            # one source per attribute: the profile (from LSOA data) unless an attribute file of
            # the same name knows more practices (a national file beside one place's profile)
            def known(frame: pd.DataFrame, column: str) -> int:
                return int(frame[column].notna().sum()) if column in frame else 0

            shared = [c for c in prof.columns if c != "practice_code" and c in wide.columns]
            from_file = [c for c in shared if known(wide, c) > known(prof, c)]
            prof = prof.drop(columns=from_file)
            keep = [c for c in wide.columns if c == "practice_code" or c not in prof.columns]
            sources = {c: "practice_profile" for c in prof.columns if c != "practice_code"}
            sources |= {c: "practice_attributes" for c in keep if c != "practice_code"}
            wide = prof.merge(wide[keep], on="practice_code", how="outer") if len(wide) else prof
            wide.attrs["sources"] = sources
    return wide


def find_column(columns: Iterable[str], pattern: str) -> str | None:
    hits = sorted(c for c in columns if re.search(pattern, str(c).lower()))
    return hits[0] if hits else None


def practice_covariates(store: Store, period: str, qof: pd.DataFrame,
                        adjust_for: Iterable[str] = DEFAULT_ADJUST_FOR) -> Covariates:
    """Covariates for the practices of one QOF period from what the store holds."""
    adjust_for = set(adjust_for)
    practices = pd.DataFrame({"practice_code": sorted(qof["practice_code"].unique())})
    cov = Covariates(practices.copy())
    attributes = practice_attributes(store, period)

    def add(frame: pd.DataFrame, driver: str, columns: list[str], source: str) -> bool:
        """Add a driver's columns if they are known for at least MIN_COVERAGE of the practices;
        record its coverage either way."""
        merged = practices.merge(frame[["practice_code", *columns]], on="practice_code", how="left")
        share = _known_share(merged, columns)
        cov.coverage[driver] = share
        if share < MIN_COVERAGE:
            known = round(share * len(practices))
            cov.refused[driver] = (f"{source.split(' (')[0]} known for only {share:.0%} of "
                                   f"practices, {known:,} of {len(practices):,}")
            return False
        cov.refused.pop(driver, None)
        cov.frame = cov.frame.merge(frame[["practice_code", *columns]], on="practice_code",
                                    how="left")
        cov.terms.setdefault(driver, []).extend(columns)
        cov.sources[driver] = source
        return True

    ages = _age_shares(store, period) if ({"age", "sex"} & adjust_for) else None
    if "age" in adjust_for:
        used = ages is not None and add(
            ages[0], "age", [b[2] for b in AGE_BANDS],
            f"registrations_age {ages[1]} (shares aged 0-14, 45-64, 65-74, 75+)")
        if not used:  # no (or too few) practice ages: the QOF list types
            shares = list_type_shares(qof)
            columns = [c for c in ("share_50ov", "share_under18") if shares[c].notna().any()]
            why = ("no registrations_age" if ages is None else
                   f"registrations_age covers only {cov.coverage['age']:.0%} of practices")
            source = "QOF list-type denominators (" + ", ".join(columns) + f"; {why})"
            age65 = find_column(attributes.columns, ATTRIBUTE_PATTERNS["age65"])
            if age65 is not None:
                a = attributes[["practice_code", age65]].rename(columns={age65: "share_65ov"})
                a["share_65ov"] = pd.to_numeric(a["share_65ov"], errors="coerce")
                if a["share_65ov"].max() > 1.5:
                    a["share_65ov"] /= 100
                if _known_share(practices.merge(a, on="practice_code", how="left"),
                                ["share_65ov"]) >= MIN_COVERAGE:
                    shares = shares.merge(a, on="practice_code", how="left")
                    columns.append("share_65ov")
                    source += f" + practice attribute {age65}"
            if columns:
                add(shares, "age", columns, source)
    if "sex" in adjust_for and ages is not None:
        add(ages[0], "sex", ["share_male"], f"registrations_age {ages[1]}")
    for driver in ("deprivation", "ethnicity", "rurality"):
        if driver not in adjust_for:
            continue
        column = find_column(attributes.columns, ATTRIBUTE_PATTERNS[driver])
        if column is None:
            continue
        a = attributes[["practice_code", column]].copy()
        a[column] = pd.to_numeric(a[column], errors="coerce")
        name = f"{driver}_{column}"
        a = a.rename(columns={column: name})
        columns = [name]
        curved = driver == "deprivation" and len(practices) >= QUADRATIC_FROM
        if curved:
            a[name + "_sq"] = a[name] ** 2
            columns.append(name + "_sq")
        origin = attributes.attrs.get("sources", {}).get(column)
        add(a, driver, columns, f"practice {column}" + (f" from {origin}" if origin else "")
            + (" (linear + quadratic)" if curved else ""))
    return cov


def list_type_shares(qof: pd.DataFrame) -> pd.DataFrame:
    """Share of each practice's list aged 50+ and under 18, from QOF list-type denominators."""
    sizes = (qof.groupby(["practice_code", "list_type"])["list_size"].max()
             .unstack("list_type"))
    total = sizes.get("TOTAL")
    out = pd.DataFrame(index=sizes.index)
    if total is None:
        out["share_50ov"] = np.nan
        out["share_under18"] = np.nan
        return out.reset_index()
    total = total.where(total > 0)
    out["share_50ov"] = (sizes["50OV"] / total).clip(0, 1) if "50OV" in sizes else np.nan
    adult = next((sizes[c] for c in ("18OV", "17OV", "16OV") if c in sizes), None)
    out["share_under18"] = (1 - adult / total).clip(0, 1) if adult is not None else np.nan
    return out.reset_index()


def _age_shares(store: Store, period: str) -> tuple[pd.DataFrame, str] | None:
    """Broad age-band and male shares per practice from registrations_age nearest ``period``."""
    if not store.has("registrations_age"):
        return None
    chosen = nearest_period(store.periods("registrations_age"), period)
    if chosen is None:
        return None
    t = store.table("registrations_age")
    ages = t.filter(t.period == chosen).to_pandas()
    ages["patients"] = ages["patients"].astype(float)
    total = ages.groupby("practice_code")["patients"].sum()
    out = pd.DataFrame(index=total.index)
    for start, end, name in AGE_BANDS:
        inside = ages[(ages["age_from"] >= start) & (ages["age_from"] <= end)]
        out[name] = inside.groupby("practice_code")["patients"].sum().reindex(total.index,
                                                                                fill_value=0)
        out[name] = out[name] / total.where(total > 0)
    male = ages[ages["sex"] == "MALE"].groupby("practice_code")["patients"].sum()
    out["share_male"] = male.reindex(total.index) / total.where(total > 0)
    return out.reset_index(), chosen


def describe_model(cov: Covariates, adjust_for: Iterable[str]) -> str:
    """A one-line statement of what the expected registers adjust for, from which data, how many
    practices each was known for, and what was not used and why."""
    parts = []
    for driver in DRIVERS:
        if driver not in cov.sources:
            continue
        share = cov.coverage.get(driver, 1.0)
        known = "" if share >= 0.995 else \
            f" (known for {share:.0%} of practices; the rest filled with the average and flagged)"
        parts.append(f"{driver}: {cov.sources[driver]}{known}")
    absent = [d for d in adjust_for if d not in cov.sources and d not in cov.refused]
    text = "binomial GLM (logit link, list-size weighted) on " + ("; ".join(parts) or "nothing")
    refused = {d: why for d, why in cov.refused.items() if d not in cov.sources}
    if refused:
        text += ("; not used: " + "; ".join(f"{d} ({why})" for d, why in refused.items())
                 + f" (each needs to be known for at least {MIN_COVERAGE:.0%} of practices: load "
                 "it for every practice the QOF file holds, e.g. as practice-attributes)")
    if absent:
        text += f"; not available: {', '.join(absent)}"
    if "deprivation" not in adjust_for:
        text += "; deprivation deliberately NOT adjusted for (gaps include deprivation-linked " \
                "under-recording)"
    return text + "; expected calibrated to the observed total"


def _design(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, list[str]]:
    """Standardised covariates (mean-imputed, with a missing indicator where any are missing)."""
    blocks, names = [np.ones(len(frame))], ["intercept"]
    masks: list[np.ndarray] = []
    for column in columns:
        x = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        missing = np.isnan(x)
        if missing.all():
            continue
        mean = np.nanmean(x)
        sd = np.nanstd(x)
        if not sd > 0:
            continue
        blocks.append(np.where(missing, 0.0, (x - mean) / sd))
        names.append(column)
        if missing.any() and not any(np.array_equal(missing, m) for m in masks):
            masks.append(missing)
            blocks.append(missing.astype(float))
            names.append(f"{column}_missing")
    return np.column_stack(blocks), names


#: Huber's tuning constant: practices whose Pearson residual is within this many robust standard
#: deviations keep their full weight.
HUBER_C = 2.0


def robust_fit(y: np.ndarray, X: np.ndarray, iterations: int = 10) -> tuple[Any, np.ndarray]:
    """A binomial GLM fitted so that outlying practices do not bend it towards themselves.

    The expected registers are fitted to the same practices whose gaps they will reveal; a place
    where a group of practices misses a large share of a register would otherwise pull the
    coefficients of the characteristics those practices share (their deprivation, their ages)
    towards its own recording, and hide itself. Huber weights on the Pearson residuals (Huber
    1964, *Ann Math Stat* 35:73; for GLMs Cantoni & Ronchetti 2001, *JASA* 96:1022, here without
    their consistency correction): w = min(1, c·s/|r|), s the residuals' median absolute deviation
    × 1.4826 (robust to the over-dispersion of practice data and to the outliers themselves),
    c = :data:`HUBER_C`; refitted with these variance weights until they settle. Returns the fit
    and the weights (all 1 when no practice stands out)."""
    family = sm.families.Binomial()
    result = sm.GLM(y, X, family=family).fit()
    weights = np.ones(len(y))
    for _ in range(iterations):
        r = result.resid_pearson / np.sqrt(weights)  # unweighted Pearson residuals
        scale = 1.4826 * np.median(np.abs(r - np.median(r)))
        if not scale > 0:
            break
        new = np.minimum(1.0, HUBER_C * scale / np.maximum(np.abs(r), 1e-12))
        if np.allclose(new, weights, atol=1e-3):
            break
        weights = new
        result = sm.GLM(y, X, family=family, var_weights=weights).fit()
    return result, weights


def fit_statistics(register: np.ndarray, size: np.ndarray, p: np.ndarray,
                   parameters: int) -> dict[str, float]:
    """Fit statistics of fitted probabilities ``p`` on every practice, unweighted (so they say how
    well the model used describes all practices, whatever weights fitted it): binomial deviance
    D = 2Σ[O log(O/np) + (n−O) log((n−O)/(n−np))], the null deviance D0 of the overall rate,
    pseudo-R² 1 − D/D0, McFadden's R² 1 − llf/llnull, Pearson χ²/(k − parameters) and AIC."""
    o, n = register, size
    rate = o.sum() / n.sum()

    def loglik(q: np.ndarray) -> float:
        q = np.clip(q, 1e-15, 1 - 1e-15)
        return float(np.sum(gammaln(n + 1) - gammaln(o + 1) - gammaln(n - o + 1)
                            + o * np.log(q) + (n - o) * np.log1p(-q)))

    saturated = loglik(o / n)
    llf, llnull = loglik(p), loglik(np.full_like(p, rate))
    deviance, null = 2 * (saturated - llf), 2 * (saturated - llnull)
    df = len(o) - parameters
    pearson = float(np.sum((o - n * p) ** 2 / (n * p * (1 - p))))
    return {"deviance": deviance, "null_deviance": null,
            "pseudo_r2": 1 - deviance / null if null > 0 else np.nan,
            "mcfadden_r2": 1 - llf / llnull if llnull < 0 else np.nan,
            "dispersion": pearson / df if df > 0 else np.nan,
            "aic": -2 * llf + 2 * parameters}


def fit_expected(qof: pd.DataFrame, cov: Covariates, model: str = "") -> tuple[pd.DataFrame,
                                                                                pd.DataFrame]:
    """Fit one GLM per condition of a period; return (practice expected, model statistics).

    ``qof``: period, practice_code, group_code, register, list_size (one period). Practices with
    no list or a register larger than the list are left out of the fit and get no expected.
    """
    # thousands of rows x a handful of columns: threaded BLAS is ~9x slower than one thread
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_expected(qof, cov, model)


def _fit_expected(qof: pd.DataFrame, cov: Covariates, model: str) -> tuple[pd.DataFrame,
                                                                          pd.DataFrame]:
    columns = [c for terms in cov.terms.values() for c in terms]
    data = qof.merge(cov.frame, on="practice_code", how="left")
    expected_parts, stats = [], []
    for (period, group), rows in data.groupby(["period", "group_code"], sort=True):
        rows = rows.reset_index(drop=True)
        reg = rows["register"].to_numpy(dtype=float)
        size = rows["list_size"].to_numpy(dtype=float)
        usable = (size > 0) & (reg >= 0) & (reg <= size) & ~np.isnan(reg)
        X, names = _design(rows[usable], columns)
        y = np.column_stack([reg[usable], size[usable] - reg[usable]])
        fitted = np.full(len(rows), np.nan)
        stat = {"period": period, "group_code": group, "model": model,
                "n_practices": int(usable.sum()), "n_excluded": int((~usable).sum()),
                "observed_total": float(reg[usable].sum()), "list_total": float(size[usable].sum())}
        if usable.sum() > len(names) and reg[usable].sum() > 0:
            result, weights = robust_fit(y, X)
            fitted[usable] = result.fittedvalues * size[usable]
            stat["n_downweighted"] = int((weights < 1).sum())
            stat.update({
                "coefficients": json.dumps({n: round(float(b), 6) for n, b in
                                            zip(names, result.params, strict=True)}),
            })
        else:  # too few practices to fit covariates: expected from the overall rate
            rate = reg[usable].sum() / size[usable].sum() if size[usable].sum() > 0 else np.nan
            fitted[usable] = rate * size[usable]
            stat.update({"n_downweighted": 0, "deviance": np.nan, "null_deviance": np.nan,
                         "pseudo_r2": np.nan,
                         "mcfadden_r2": np.nan, "dispersion": np.nan, "aic": np.nan,
                         "coefficients": json.dumps({"intercept_rate": float(rate)})})
        total = np.nansum(fitted)
        factor = reg[usable].sum() / total if total > 0 else np.nan
        stat["calibration_factor"] = float(factor)
        if "n_downweighted" in stat and stat.get("deviance") is None:  # of the expected as used
            stat.update(fit_statistics(reg[usable], size[usable],
                                       fitted[usable] * factor / size[usable], len(names)))
        stats.append(stat)
        expected_parts.append(pd.DataFrame({
            "period": period, "practice_code": rows["practice_code"], "group_code": group,
            "observed": reg, "list_size": size, "expected": fitted * factor,
        }))
    expected = (pd.concat(expected_parts, ignore_index=True) if expected_parts
                else pd.DataFrame(columns=["period", "practice_code", "group_code", "observed",
                                           "list_size", "expected"]))
    return expected, pd.DataFrame(stats)


__all__ = ["DEFAULT_ADJUST_FOR", "DRIVERS", "MIN_COVERAGE", "Covariates", "describe_model", "fit_expected",
           "list_type_shares", "nearest_period", "practice_covariates"]
