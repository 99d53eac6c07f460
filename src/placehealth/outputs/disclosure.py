"""Small-number disclosure control: the single boundary every number leaves through.

One :class:`Policy` object, with named presets:

- ``opensafely`` (the default, the stricter): counts of 7 or fewer (zero included) are suppressed,
  then every other count is rounded to the nearest 5 (OpenSAFELY output checking guidance,
  "small number suppression" and "rounding", https://docs.opensafely.org/outputs/).
- ``nhs_england``: counts of 1 to 7 are suppressed (zero is shown), every other count is rounded
  to the nearest 5 (NHS England / NHS Digital statistical disclosure rule for published
  aggregate statistics, e.g. the HES Analysis Guide and the "Data Access Request Service"
  small-numbers policy).

What is a count, and what is derived from counts, is declared per table in :data:`TABLE_RULES`;
a table without a declaration gets a rule from its column names (:func:`rule_for`).

Three steps, applied to a whole table before any filtering so every view of it agrees:

1. **Primary suppression**: a count cell inside the policy's range is suppressed.
2. **Secondary suppression**: the rows of a table add up along each of its *dimensions* (e.g.
   the LSOA rows of a PCN add up to the PCN's total, published elsewhere). In every such group
   holding a suppressed cell, the next-smallest cells are suppressed too until the group holds
   at least two suppressed cells whose sum is above the threshold, so a total minus the
   published cells reveals only a sum shared by two or more cells, never one of them. This is
   "complementary suppression" (Cox L.H. 1980, *Suppression methodology and statistical
   disclosure control*, Journal of the American Statistical Association 75(370), 377-385),
   done greedily (not the optimal, least-loss pattern) and repeated until no group changes.
   In a two-way table a hidden cell can still be fixed by the totals when it is a *bridge* of
   the graph of hidden cells (rows and columns as nodes); such cells are put on a cycle by hiding
   one more cell (bridges found as in Tarjan 1974, *A note on finding the bridges of a graph*,
   Information Processing Letters 2, 160-161). Primary and secondary cells are marked the same
   way, so a reader cannot tell which was small.
3. **Derived values**: rates, shares, gaps and their confidence limits in a row with a
   suppressed count are suppressed too (a rate times its denominator gives the count back).
   Shown ones are computed from the protected counts, so they reveal no more than them: shares
   of a total (``share_of``) from the rounded part and whole; O/E ratios, their limits, missing
   patients, prevalences and the flag (``observed_expected``) from the rounded registers;
   proportions, their Wilson limits and gaps to target (``proportion``) from rounded counts.
   Percentages of a row's population (profiles) are hidden when the count they imply is small,
   with complements within each family of percentages adding up to 100, found first within the
   parts a published sum is made of (Core20 = deciles 1-2, % rural = the rural classes), so the
   sum, a share of a large population, stays shown unless it would give a hidden member away.

A count is tested for smallness once rounded to whole people (an apportioned 7.3 is 7, so it is
suppressed rather than rounded to 5).

The comparison tables (``comparison``, ``spine``, ``deciles``, ``funnel``, ``funnel_limits``)
are derived again from the protected counts after these steps (``outputs/recomputed.py``).

Known limits: a count published in two tables is protected in each, and the two patterns may
differ; three-way tables get the greedy step without the bridge check.

Suppressed cells become null and the row's ``suppressed_cells`` column names them; outputs show
:data:`MARK` in their place, with :func:`explanation` as the note.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import sparse
from scipy.sparse import csgraph

from placehealth import levels
from placehealth.store import TEXT

#: What a suppressed cell shows in text outputs (the GSS convention: [c] = confidential).
MARK = "[c]"
#: The column that names, in each row, the cells suppressed in it.
SUPPRESSED = "suppressed_cells"
ENV_POLICY = "PLACEHEALTH_DISCLOSURE"


@dataclass(frozen=True)
class Policy:
    """A disclosure rule: counts in ``suppress_min..suppress_max`` hidden, others rounded."""

    name: str
    suppress_min: int
    suppress_max: int
    rounding: int
    source: str

    def is_small(self, values: pd.Series) -> pd.Series:
        """Counts in the suppressed range once rounded to whole people (halves up): an apportioned
        count of 7.3 is a count of 7 and is suppressed, not rounded to 5."""
        v = np.floor(pd.to_numeric(values, errors="coerce").astype("float64") + 0.5)
        return v.notna() & (v >= self.suppress_min) & (v <= self.suppress_max)

    def round(self, values: pd.Series) -> pd.Series:
        """Round to the nearest ``rounding`` (halves away from zero); nulls stay null."""
        if self.rounding <= 1:
            return values
        v = pd.to_numeric(values, errors="coerce").astype("float64")
        r = np.sign(v) * np.floor(np.abs(v) / self.rounding + 0.5) * self.rounding
        return pd.Series(r, index=values.index).astype("Int64")

    def describe(self) -> str:
        low = "0" if self.suppress_min <= 0 else str(self.suppress_min)
        rounding = f", other counts rounded to the nearest {self.rounding}" if self.rounding > 1 else ""
        return f"{self.name}: counts {low} to {self.suppress_max} suppressed{rounding} ({self.source})"


PRESETS: dict[str, Policy] = {
    "opensafely": Policy("opensafely", 0, 7, 5,
                         "OpenSAFELY output checking: counts of 7 or fewer redacted, then rounded to 5"),
    "nhs_england": Policy("nhs_england", 1, 7, 5,
                          "NHS England statistical disclosure rule: 1-7 suppressed, others rounded to 5"),
}
DEFAULT_POLICY = "opensafely"


def get_policy(name: str | Policy | None = None) -> Policy:
    """A preset by name; else ``$PLACEHEALTH_DISCLOSURE``; else the stricter default."""
    if isinstance(name, Policy):
        return name
    name = name or os.environ.get(ENV_POLICY) or DEFAULT_POLICY
    if name not in PRESETS:
        raise ValueError(f"unknown disclosure policy {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]


def explanation(policy: Policy | None = None) -> str:
    """The note shown beside any table that may hold suppressed cells."""
    policy = get_policy(policy)
    return (f"{MARK} = suppressed to protect confidentiality. Disclosure control {policy.describe()}. "
            "Other cells may be suppressed as well so that a suppressed value cannot be worked out "
            "from totals or differences; rates and shares based on a suppressed count are suppressed.")


# ----------------------------------------------------------------------------- rules per table
@dataclass(frozen=True)
class TableRule:
    """Which columns of a table are counts, which are derived from them, and its dimensions.

    ``dimensions``: columns along which rows add up to a total published elsewhere (secondary
    suppression works within each group of rows equal on all the other dimensions and on
    ``fixed``). ``derived``: column -> the count columns it is computed from (``()`` = every
    count column of the row).
    """

    counts: tuple[str, ...] = ()
    derived: dict[str, tuple[str, ...]] = field(default_factory=dict)
    dimensions: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    #: Percentages of the row's ``share_base`` count (implied count = pct / 100 x base).
    share_base: str | None = None
    shares: tuple[str, ...] = ()
    #: Families of share columns that add up to 100 in each row, with the columns computed from
    #: the family (hidden whenever a member of the family is hidden in the row).
    families: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    #: Percentages recomputed from protected counts: column -> (part, whole), each a count column
    #: of the row or None when it is not in the row (then implied by the percentage and the other);
    #: a whole naming another ``share_of`` column is that column's whole.
    share_of: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    #: Observed and expected counts whose ratio, limits, missing patients, prevalences and flag
    #: are recomputed from their protected (rounded) values (:func:`_observed_expected`).
    observed_expected: tuple[str, str] | None = None
    #: Indices of several counts published to a few decimals (enough to read, too few to solve
    #: for the counts): column -> decimals.
    decimals: dict[str, int] = field(default_factory=dict)
    #: (numerator, denominator, value): a proportion and its Wilson limits (``lowercl``,
    #: ``uppercl``), gap to and meeting of a ``target``, recomputed from the rounded counts.
    proportion: tuple[str, str, str] | None = None
    #: Sides of a split (e.g. Core20 and the rest): ``{side}_value``, ``_lowercl`` and
    #: ``_uppercl`` are the O/E ratio, or missing patients (as the row's ``measure`` says), of
    #: ``{side}_observed`` and ``{side}_expected``, recomputed from their rounded values with
    #: the row's ``tau2``; ``difference`` is the first side's value less the second's.
    observed_expected_sides: tuple[str, ...] = ()


def profile_rule(frame: pd.DataFrame) -> TableRule:
    """Profiles: patients (and residents) are counts; every *_pct column is a share of patients,
    in families adding to 100 (IMD deciles, ethnic groups, age bands, rural-urban classes)."""
    columns = list(frame.columns)
    shares = tuple(c for c in columns if c.endswith("_pct") or c.startswith("pct_"))
    families = []
    for pattern, computed in PROFILE_FAMILIES:
        members = tuple(c for c in shares if re.fullmatch(pattern, c))
        if members:
            families.append((members, tuple(c for c in computed if c in columns)))
    # The breakdowns of patients are republished from rounded counts: to full precision, shares
    # n/N of one population are fractions with one denominator, and give N and every n back.
    breakdowns = [c for members, computed in families for c in (*members, *computed)]
    breakdowns += [c for c in ("female_pct", "unknown_lsoa_pct") if c in columns]
    return TableRule(counts=("patients", "residents"), dimensions=("unit_code",),
                     fixed=("period", "level"), share_base="patients", shares=shares,
                     families=tuple(families), share_of={c: (None, "patients") for c in breakdowns})


#: Percent columns of the profile tables, by family (members add to 100) -> computed columns.
PROFILE_FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"imd_decile_\d+_pct", ("core20_pct",)),
    (r"ethnic_\w+_pct", ("pct_non_white",)),
    (r"age_\d+_(\d+|plus)_pct", ("pct_under_18", "pct_65_plus", "pct_85_plus")),
    (r"ruc_\w+_pct", ("pct_rural",)),
)
#: Computed percentages that are sums of some members of their family (core20 = deciles 1 and 2):
#: shown unless the hidden members inside, or outside, the sum could be worked out from it.
PROFILE_SUBSETS: dict[str, str] = {
    "core20_pct": r"imd_decile_[12]_pct",
    "pct_non_white": r"ethnic_(?!white_)\w+_pct",
    "pct_rural": r"ruc_r\w*_pct",
    "pct_65_plus": r"age_(6[5-9]|[7-9]\d|\d{3})_(\d+|plus)_pct",
    "pct_85_plus": r"age_(8[5-9]|9\d|\d{3})_(\d+|plus)_pct",
}
#: Every level's profile table (from the level registry) follows the profile rule.
PROFILE_TABLES = tuple(levels.profile_tables().values())

#: Need tables: ratios, limits and missing patients come from the observed and expected
#: registers, prevalences from the register and the list.
_NEED_DERIVED: dict[str, tuple[str, ...]] = {
    **{c: ("observed", "expected") for c in ("ratio", "ratio_lowercl", "ratio_uppercl", "missing",
                                              "missing_lowercl", "missing_uppercl")},
    "detectable_shortfall": ("expected",),
    "observed_prevalence": ("observed", "list_size"),
    "expected_prevalence": ("expected", "list_size"),
}

#: Comparison columns describing the unit itself (hidden with its counts).
_UNIT_COMPARED = ("value", "lowercl", "uppercl", "vs_england", "vs_icb", "peer_z", "peer_difference",
                  "peer_difference_lowercl", "peer_difference_uppercl", "vs_peers", "national_rank",
                  "national_decile")

#: Declared rules for the tables whose columns are known.
TABLE_RULES: dict[str, TableRule] = {
    "registrations_lsoa": TableRule(counts=("patients",), dimensions=("practice_code", "lsoa_code", "sex"),
                                    fixed=("period",)),
    "registrations_age": TableRule(counts=("patients",), dimensions=("practice_code", "sex", "age_from"),
                                   fixed=("period",)),
    "registrations_total": TableRule(counts=("patients",), dimensions=("practice_code",),
                                     fixed=("period",)),
    "qof_prevalence": TableRule(counts=("register", "list_size"),
                                dimensions=("practice_code",), fixed=("period", "group_code", "list_type")),
    "census": TableRule(counts=("residents",), dimensions=("lsoa_code",), fixed=("census_table", "category")),
    "lsoa_population": TableRule(counts=("population",), dimensions=("lsoa_code",),
                                 fixed=("period", "sex", "age_from")),
    "uptake": TableRule(counts=("numerator", "denominator"), dimensions=("area_code",),
                        fixed=("period", "area_level", "indicator", "age")),
    "pcn_lsoa": TableRule(counts=("patients",), dimensions=("pcn_code", "lsoa_code"), fixed=("period",),
                          derived={"pcn_share_pct": (), "lsoa_share_pct": (), "cumulative_pct": ()},
                          share_of={"pcn_share_pct": ("patients", None), "lsoa_share_pct": ("patients", None),
                                    "cumulative_pct": (None, "pcn_share_pct")}),
    "pcn_la": TableRule(counts=("patients",), dimensions=("pcn_code", "la_code"), fixed=("period",),
                        derived={"pcn_share_pct": (), "la_share_pct": ()},
                        share_of={"pcn_share_pct": ("patients", None), "la_share_pct": ("patients", None),
                                  "main_la_pct": (None, "pcn_share_pct")},
                        decimals={"coterminosity": 2}),
    "pcn_footprint": TableRule(counts=("patients",), dimensions=("pcn_code",), fixed=("period",)),
    "group_lsoa": TableRule(counts=("patients",), dimensions=("group_name", "lsoa_code"),
                            fixed=("period",),
                            derived={"group_share_pct": (), "lsoa_share_pct": (), "cumulative_pct": ()}),
    "group_footprint": TableRule(counts=("patients",), dimensions=("group_name",), fixed=("period",)),
    "fragmented_lsoas": TableRule(counts=("patients",), dimensions=("lsoa_code",), fixed=("period",),
                                  derived={"largest_pcn_pct": ()},
                                  share_of={"largest_pcn_pct": (None, "patients")}),
    "prevalence_gap": TableRule(counts=("observed", "expected", "list_size"), dimensions=("area_code",),
                                fixed=("period", "level", "group_code", "model"),
                                derived=_NEED_DERIVED,
                                observed_expected=("observed", "expected")),
    "prevalence_gap_lsoa": TableRule(counts=("patients", "observed", "expected", "list_size"),
                                     dimensions=("area_code", "lsoa_code"),
                                     fixed=("period", "level", "group_code"),
                                     derived=_NEED_DERIVED,
                                observed_expected=("observed", "expected")),
    "uptake_gap": TableRule(counts=("numerator", "denominator", "people_behind"), dimensions=("area_code",),
                            fixed=("period", "area_level", "indicator", "age", "source"),
                            derived={c: ("numerator", "denominator")
                                     for c in ("uptake", "lowercl", "uppercl", "gap")},
                            proportion=("numerator", "denominator", "uptake")),
    # Core20PLUS5 cohorts from patient rows: people counted and eligible on each side; the
    # percentages are recomputed from the rounded counts (an exact one would give a count back)
    "core20plus5_cohorts": TableRule(
        counts=("core20_denominator", "core20_numerator", "rest_denominator", "rest_numerator"),
        dimensions=("unit_code",), fixed=("period", "level", "clinical_area", "cohort"),
        derived={"core20_pct": ("core20_numerator", "core20_denominator"),
                 "rest_pct": ("rest_numerator", "rest_denominator"),
                 "core20_share_pct": ("core20_denominator", "rest_denominator")},
        share_of={"core20_pct": ("core20_numerator", "core20_denominator"),
                  "rest_pct": ("rest_numerator", "rest_denominator"),
                  "core20_share_pct": ("core20_denominator", None)}),
    # Core20PLUS5: each side's O/E (or missing patients) and the difference from the side's
    # rounded registers; the Core20 share from the rounded patients; the whole PCN's value is
    # the protected need or uptake table's (outputs/recomputed.py).
    "core20plus5": TableRule(counts=("core20_observed", "core20_expected", "rest_observed",
                                     "rest_expected", "core20_patients", "patients"),
                             dimensions=("pcn_code",),
                             fixed=("period", "clinical_area", "indicator", "measure"),
                             derived={**{f"core20_{c}": ("core20_observed", "core20_expected")
                                         for c in ("value", "lowercl", "uppercl")},
                                      **{f"rest_{c}": ("rest_observed", "rest_expected")
                                         for c in ("value", "lowercl", "uppercl")},
                                      "difference": ("core20_observed", "core20_expected",
                                                     "rest_observed", "rest_expected"),
                                      "core20_share": ("core20_patients", "patients"),
                                      "all_value": ("patients",)},
                             share_of={"core20_share": ("core20_patients", "patients")},
                             observed_expected_sides=("core20", "rest")),
    # Comparison: the unit's counts and those of England and its ICB; what describes the unit
    # (its value, ratings, rank, distance from its peers) is hidden with its counts, and every
    # shown value is derived again from the protected counts (outputs/recomputed.py).
    "comparison": TableRule(counts=("numerator", "denominator", "england_numerator",
                                    "england_denominator", "icb_numerator", "icb_denominator"),
                            dimensions=("unit_code",), fixed=("indicator", "level", "period"),
                            derived={**dict.fromkeys(_UNIT_COMPARED, ("numerator", "denominator")),
                                     "england_value": ("england_numerator", "england_denominator"),
                                     "icb_value": ("icb_numerator", "icb_denominator")}),
    "funnel": TableRule(counts=("numerator", "denominator"), dimensions=("unit_code",),
                        fixed=("indicator", "level", "period"),
                        derived=dict.fromkeys(("value", "lower95_0limit", "upper95_0limit",
                                               "lower99_8limit", "upper99_8limit", "funnel95_0",
                                               "funnel99_8", "position"), ("numerator", "denominator"))),
    # Series: counts protected; the value is derived from them (hidden with a hidden count).
    "series": TableRule(counts=("numerator", "denominator"), dimensions=("unit_code",),
                        fixed=("indicator", "level", "period", "source"),
                        derived={"value": ("numerator", "denominator")},
                        share_of={"value": ("numerator", "denominator")}),
    "series_input": TableRule(counts=("numerator", "denominator"), dimensions=("unit_code",),
                              fixed=("indicator", "level", "period"),
                              derived={"value": ("numerator", "denominator")}),
    # Tables with nothing to protect (no counts of people, or only aggregates of many units).
    "imd": TableRule(), "boundaries": TableRule(), "loads": TableRule(), "practice_pcn": TableRule(),
    "pcns": TableRule(), "practices": TableRule(), "practice_locations": TableRule(),
    "geography_lookup": TableRule(), "lsoa_changes": TableRule(), "qof_indicators": TableRule(),
    "peers": TableRule(), "deciles": TableRule(), "prevalence_model": TableRule(),
    "peer_feature_fit": TableRule(), "groups": TableRule(), "practice_groups": TableRule(),
    # the indicator registry, funnel curves, peer feature contributions, and inequality
    # measures over the local quantiles of an area (each a fifth or tenth of its population)
    "indicators": TableRule(), "funnel_limits": TableRule(), "peer_features": TableRule(),
    "inequality": TableRule(),
    # Targeting: registers, lookups and travel times hold no counts of people (a partner's
    # contact is withheld whole, see WITHHELD); fair shares and reach are set out below.
    "partners": TableRule(), "postcodes": TableRule(), "travel_times": TableRule(),
    "allocations": TableRule(),
    # the intervention register: what was done where and when (no counts of people)
    "interventions": TableRule(),
    # Reach: patients are counts; need (estimated missing cases summed over registers) is
    # treated as a count too (rounded, small values hidden), so a sum over registers cannot be
    # differenced against the published per-register gaps to recover a hidden small register.
    "reach_lsoa": TableRule(counts=("patients", "missing", "need"), dimensions=("lsoa_code",),
                            fixed=("kind",), derived={"need_per_1000": ("patients", "need")}),
    # Siting: each LSOA's need (missing cases) and each chosen site's need added and served
    # (sums of it) are counts, protected as reach's need is; distances are not about people.
    "siting_lsoa": TableRule(counts=("need",), dimensions=("lsoa_code",)),
    "siting_sites": TableRule(counts=("need_added", "need_served"), dimensions=("site_id",)),
    "reach_area": TableRule(counts=("patients", "need", "need_reached"),
                            dimensions=("area_code",), fixed=("level", "kind"),
                            derived={"need_reached_pct": ("need", "need_reached")}),
    # Fair shares: a weight of patients (or missing cases) is a count; its share and the fair
    # share and gap computed from it are hidden with it. Actual amounts are not about people.
    "fair_shares": TableRule(counts=("weight",), dimensions=("unit_code",),
                             fixed=("scope", "level", "resource", "weight_by"),
                             derived={c: ("weight",) for c in ("weight_pct", "fair_share", "gap")}),
}

#: Columns that never leave through any output, whatever the policy: a partner's contact
#: (names, phone numbers and e-mail addresses of people) is for the register's keepers only.
WITHHELD: dict[str, tuple[str, ...]] = {"partners": ("contact",)}

#: Tables showing values of another table's rows: a cell is hidden where the same cell of the
#: other table is hidden. table -> (other table, join columns, {column: other column}).
FOLLOWS: dict[str, tuple[str, tuple[str, ...], dict[str, str]]] = {
    "spine": ("comparison", ("indicator", "level", "period", "unit_code"),
              {"value": "value", "lowercl": "lowercl", "uppercl": "uppercl"}),
}


_COUNT_TOKENS = {"patients", "register", "registers", "numerator", "denominator", "count", "counts",
                 "observed", "expected", "population", "residents", "people", "persons", "events",
                 "cases", "deaths", "births", "registered", "eligible", "vaccinated", "screened"}
_COUNT_NAMES = {"n", "list_size", "total", "registered_patients"}
_NOT_PEOPLE = {"practices", "lsoas", "pcns", "areas", "neighbourhoods", "partners", "sites", "peers",
               "periods", "rank", "vintage", "id"}
_DERIVED_PARTS = ("lower", "upper", "limit", "pct")
_DERIVED_TOKENS = {"rate", "rates", "share", "pct", "percent", "percentage", "proportion", "prop",
                   "prevalence", "ratio", "gap", "diff", "difference", "excess", "shortfall", "lower",
                   "upper", "lcl", "ucl", "ci", "smr", "isr", "dsr", "per", "z", "zscore", "uptake",
                   "coverage", "missing", "mean", "value", "fraction", "percentile", "crude",
                   "standardised", "standardized", "weighted"}
_DIMENSION_TOKENS = {"quintile", "decile", "sex", "band", "category", "domain", "group"}
_NOT_DIMENSIONS = {"period", "edition", "publication", "method", "source", "polarity", "level",
                   "vintage", "note", "notes", "unit"}


def _tokens(column: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", column.lower())) - {""}


def _is_count_name(column: str) -> bool:
    tokens = _tokens(column)
    return (column.lower() in _COUNT_NAMES or bool(tokens & _COUNT_TOKENS)) and not tokens & _NOT_PEOPLE


def _is_derived_name(column: str) -> bool:
    return bool(_tokens(column) & _DERIVED_TOKENS) or any(p in column.lower() for p in _DERIVED_PARTS)


def rule_for(table: str | None, frame: pd.DataFrame) -> TableRule:
    """The declared rule of ``table``, else one inferred from the frame's column names.

    Inferred: a numeric column is a *count* when its name holds a word such as patients,
    register, numerator, denominator, count, observed, expected, population or residents (and no
    word naming organisations or areas, e.g. practices, lsoas); it is *derived* when its name
    holds rate, share, pct, prevalence, ratio, gap, lower, upper, ci, value... (derived wins when
    both match). Dimensions are the text columns ending in ``_code`` plus quintile, decile, sex,
    band, category and group columns; period/edition columns are fixed.
    """
    if table in TABLE_RULES:
        return _with_inferred_derived(TABLE_RULES[table], frame)
    if table in PROFILE_TABLES:
        return profile_rule(frame)
    counts: list[str] = []
    derived: dict[str, tuple[str, ...]] = {}
    dimensions: list[str] = []
    fixed: list[str] = []
    for column in frame.columns:
        if column == SUPPRESSED:
            continue
        tokens = _tokens(column)
        numeric = pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column])
        if tokens & {"period", "edition"}:
            fixed.append(column)
        elif numeric and _is_derived_name(column):
            derived[column] = ()
        elif numeric and _is_count_name(column):
            counts.append(column)
        elif tokens & _NOT_DIMENSIONS:
            continue
        elif (column.endswith("_code") and not numeric) or tokens & _DIMENSION_TOKENS:
            dimensions.append(column)
    return TableRule(tuple(counts), derived, tuple(dimensions), tuple(fixed))


def _with_inferred_derived(rule: TableRule, frame: pd.DataFrame) -> TableRule:
    """A declared rule plus any column the declaration does not name whose name says it is derived
    (rate, share, value, limits...): it is hidden with the row's counts, so a column added to a
    table later is never published beside a hidden count by default."""
    if not rule.counts:
        return rule
    named = set(rule.counts) | set(rule.derived) | set(rule.shares) | set(rule.dimensions) | set(rule.fixed)
    extra = {c: () for c in frame.columns
             if c not in named and c != SUPPRESSED and _is_derived_name(c)
             and pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])}
    if not extra:
        return rule
    return replace(rule, derived={**rule.derived, **extra})


# ----------------------------------------------------------------------------- protection
def suppression_mask(frame: pd.DataFrame, rule: TableRule, policy: Policy,
                     varying: Collection[str] | None = None,
                     groups: dict[tuple, list[np.ndarray]] | None = None) -> pd.DataFrame:
    """Boolean frame (count columns x rows): True where a count must be hidden (primary+secondary).

    Groups never span two values of the rule's ``fixed`` columns, so a table may be protected a
    block of them at a time; ``varying`` then names the dimensions with more than one value in
    the whole table (by default, those of ``frame``). ``groups`` keeps the rows' group numbers
    found here for another call on the same frame (another policy)."""
    mask = pd.DataFrame(False, index=frame.index, columns=list(rule.counts))
    fixed = [c for c in rule.fixed if c in frame]
    # A dimension with one value adds nothing up (e.g. sex = ALL only): leaving it out lets a
    # practice x LSOA x sex table be treated, and checked for bridges, as the two-way table it is.
    dimensions = [c for c in rule.dimensions if c in frame
                  and (c in varying if varying is not None else frame[c].nunique(dropna=False) > 1)]
    groupings = [fixed + [d for d in dimensions if d != along] for along in dimensions]
    key = tuple(tuple(keys) for keys in groupings)
    groups = {} if groups is None else groups
    for column in rule.counts:
        if column not in frame:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        small = policy.is_small(values).to_numpy()
        if not small.any():
            continue
        hidden = small.copy()
        if groupings:
            if key not in groups:  # found once, for every count (and policy)
                groups[key] = _group_ids(frame, groupings)
            hidden = _complementary(values.to_numpy(dtype="float64"), hidden, groups[key], policy)
        mask[column] = hidden
    return mask


def _group_ids(frame: pd.DataFrame, groupings: list[list[str]]) -> list[np.ndarray]:
    """Per grouping (a list of columns), each row's group number (nulls a value of their own):
    each column's values factorised once, then combined as integers."""
    codes: dict[str, np.ndarray] = {}
    out = []
    for keys in groupings:
        for key in keys:
            if key not in codes:
                codes[key] = pd.factorize(frame[key], use_na_sentinel=False)[0].astype(np.int64)
        out.append(_combined([codes[k] for k in keys]) if keys else np.zeros(len(frame), dtype=np.int64))
    return out


def _combined(codes: list[np.ndarray]) -> np.ndarray:
    """Each row's number among the distinct combinations of its non-negative integer codes (one
    array per column), numbered as first seen after the first column's own numbering."""
    ids = codes[0]
    for more in codes[1:]:
        ids = pd.factorize(ids * (int(more.max(initial=0)) + 1) + more)[0]
    return ids


def _complementary(values: np.ndarray, hidden: np.ndarray, group_ids: list[np.ndarray],
                   policy: Policy) -> np.ndarray:
    """Add cells to ``hidden`` until, in every group along every dimension (``group_ids``: each
    row's group number per dimension), the hidden cells are none, or at least two whose sum
    exceeds ``policy.suppress_max`` (or the whole group)."""
    # Null cells are not published as numbers, so they cannot complement. A zero adds nothing to
    # a hidden sum, so zeros are picked last (but picked: a lone hidden cell beside zeros would
    # otherwise be its group's total).
    usable = ~np.isnan(values)
    order_key = np.where(values == 0, np.inf, values)
    for _ in range(50):
        changed = False
        for ids in group_ids:
            changed |= _greedy_pass(values, hidden, usable, order_key, ids, policy.suppress_max)
        if not changed and len(group_ids) == 2:
            changed = _close_bridges(values, hidden, usable, order_key, group_ids[1], group_ids[0])
        if not changed:
            break
    return hidden


def _greedy_pass(values: np.ndarray, hidden: np.ndarray, usable: np.ndarray, order_key: np.ndarray,
                 ids: np.ndarray, most: float) -> bool:
    """One greedy step along one grouping, all groups at once: in every group of two or more cells
    holding a hidden cell, hide its smallest shown cells (zeros last, ties by row order) until it
    holds two or more hidden cells summing to more than ``most``. Groups are disjoint, so this is
    the cell-by-cell greedy step done for every group together. Updates ``hidden``; returns
    whether it changed."""
    if not hidden.any():
        return False
    n_groups = int(ids.max()) + 1
    size = np.bincount(ids, minlength=n_groups)
    n_hidden = np.bincount(ids, weights=hidden.astype("float64"), minlength=n_groups)
    hidden_sum = np.bincount(ids, weights=np.where(hidden, np.nan_to_num(values), 0.0), minlength=n_groups)
    needs = (n_hidden >= 1) & (size >= 2) & ((n_hidden < 2) | (hidden_sum <= most))
    candidates = np.flatnonzero(~hidden & usable & needs[ids])
    if len(candidates) == 0:
        return False
    candidates = candidates[np.lexsort((candidates, order_key[candidates], ids[candidates]))]
    groups = ids[candidates]
    first = np.r_[True, groups[1:] != groups[:-1]]
    starts = np.flatnonzero(first)
    rank = np.arange(len(candidates)) - np.repeat(starts, np.diff(np.r_[starts, len(candidates)]))
    chosen = values[candidates]
    before = pd.Series(chosen).groupby(groups).cumsum().to_numpy() - chosen
    picked = (n_hidden[groups] + rank < 2) | (hidden_sum[groups] + before <= most)
    if not picked.any():
        return False
    hidden[candidates[picked]] = True
    return True


def _close_bridges(values: np.ndarray, hidden: np.ndarray, usable: np.ndarray,
                   order_key: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> bool:
    """In a two-way table (rows x columns adding up both ways), a hidden cell that is a *bridge*
    of the graph whose nodes are rows and columns and whose edges are hidden cells is fixed by the
    totals (its value is a sum of row and column residuals). Hide one more cell joining the
    bridge-free components at its two ends, so the bridge lies on a cycle: the cheapest shown
    cell joining them (zeros last, ties by row order). Two components are joined by one bridge
    at most (two would make a cycle), so each bridge is closed independently of the others.
    Returns whether anything changed."""
    n_rows = int(rows.max()) + 1 if len(rows) else 0
    n_nodes = n_rows + (int(cols.max()) + 1 if len(cols) else 0)
    cells = np.flatnonzero(hidden)
    # A cell alone in its row (or column) is that row's total: it is a bridge nothing can join,
    # so it is left out of the search (which changes no other bridge: it lies on no cycle).
    alone = (np.bincount(rows, minlength=n_rows)[rows[cells]] == 1) \
        | (np.bincount(cols)[cols[cells]] == 1)
    cells = cells[~alone]
    ends = rows[cells], n_rows + cols[cells]
    bridge = _bridge_edges(*ends, n_nodes)
    if not bridge.any():
        return False
    label = _components(ends[0][~bridge], ends[1][~bridge], n_nodes)
    # shown cells and bridges, each keyed by the (unordered) pair of components it joins
    candidates = np.flatnonzero(~hidden & usable)
    key = _pair_key(label[rows[candidates]], label[n_rows + cols[candidates]], n_nodes)
    joins = pd.Series(key).isin(_pair_key(label[ends[0][bridge]], label[ends[1][bridge]], n_nodes)).to_numpy()
    candidates, key = candidates[joins], key[joins]
    if len(candidates) == 0:
        return False
    order = np.lexsort((candidates, order_key[candidates], key))
    candidates, key = candidates[order], key[order]
    hidden[candidates[np.r_[True, key[1:] != key[:-1]]]] = True
    return True


def _pair_key(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """One integer per unordered pair of node numbers below ``n``."""
    a, b = a.astype(np.int64), b.astype(np.int64)
    return np.minimum(a, b) * n + np.maximum(a, b)


def _components(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """The connected component of each of ``n`` nodes joined by the edges (a[i], b[i])."""
    graph = sparse.csr_array((np.ones(len(a)), (a, b)), shape=(n, n))
    return csgraph.connected_components(graph, directed=False)[1].astype(np.int64)


def _bridge_edges(a: np.ndarray, b: np.ndarray, n_nodes: int) -> np.ndarray:
    """Which edges (a[i], b[i]) of an undirected multigraph (nodes below ``n_nodes``) are
    bridges, i.e. on no cycle.

    Tarjan's criterion (Tarjan 1974, *A note on finding the bridges of a graph*, Information
    Processing Letters 2, 160-161): in a depth-first forest every non-tree edge joins a node to
    one of its ancestors, and the tree edge into node x is a bridge when no edge from x's subtree
    reaches above x and no parallel edge doubles it. Vectorised: the forest is scipy's
    depth-first search from one added root joined to the components by a chain; a subtree is a run of the
    pre-order (x to its last descendant), so the highest node reached from it is a range minimum.
    """
    m = len(a)
    if m == 0:
        return np.zeros(0, dtype=bool)
    present = np.zeros(n_nodes, dtype=bool)  # nodes renumbered: those with an edge only
    present[a] = present[b] = True
    number = np.cumsum(present) - 1
    a, b, n = number[a], number[b], int(present.sum())
    component = _components(a, b, n)
    first = np.empty(int(component.max()) + 1, dtype=np.int64)
    first[component] = np.arange(n)  # one node of each component
    root = n
    # The root reaches the components through a chain of their first nodes (root - c0 - c1 ...):
    # every added edge is a bridge (a tree edge) and no node gets more than two of them (scipy's
    # search rescans a node's neighbours on every return to it: a root joined to each of 100k
    # components took 20 s).
    links = np.r_[root, first]
    graph = sparse.csr_array((np.ones(m + len(first)), (np.r_[a, links[:-1]], np.r_[b, links[1:]])),
                             shape=(n + 1, n + 1))
    order, parent = csgraph.depth_first_order(graph, root, directed=False, return_predecessors=True)
    parent = parent.astype(np.int64)
    pre = np.empty(n + 1, dtype=np.int64)
    pre[order] = np.arange(n + 1)
    # A tree edge joins a node to its parent (parallel copies too); any other edge climbs from
    # its deeper end (later in pre-order) to one of that end's ancestors.
    deeper = np.where(pre[a] > pre[b], a, b)
    tree = parent[deeper] == np.where(pre[a] > pre[b], b, a)
    reach = pre.copy()
    np.minimum.at(reach, deeper[~tree], np.minimum(pre[a], pre[b])[~tree])
    # Each node's last descendant: follow the last children down, by pointer jumping.
    child = np.arange(n)  # every node but the added root has a parent
    last_pre = pre.copy()
    np.maximum.at(last_pre, parent[child], pre[child])
    last = order[last_pre]
    while not np.array_equal(jumped := last[last], last):
        last = jumped
    low = _range_min(reach[order], pre, pre[last])
    copies = np.bincount(deeper[tree], minlength=n + 1)  # edges between a node and its parent
    return tree & (copies[deeper] == 1) & (low[deeper] >= pre[deeper])


def _range_min(values: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Minimum of ``values[left[i]:right[i] + 1]`` for each i, from minima over runs of 2^k
    built one k at a time (a sparse table kept one level deep: O(n log n) time, O(n) memory)."""
    level = np.frexp((right - left + 1).astype(np.float64))[1] - 1  # floor(log2(length))
    out = np.empty(len(left), dtype=values.dtype)
    table, span, k = values, 1, 0
    while True:
        at = level == k
        if at.any():
            out[at] = np.minimum(table[left[at]], table[right[at] - span + 1])
        if not (level > k).any():
            return out
        table = np.minimum(table[:-span], table[span:])
        span, k = span * 2, k + 1


def protect(frame: pd.DataFrame, table: str | None = None,
            policy: str | Policy | None = None, varying: Collection[str] | None = None) -> pd.DataFrame:
    """The frame with disclosure control applied (see the module docstring).

    Counts are suppressed (null) or rounded; derived values in rows with a suppressed count are
    null; the added ``suppressed_cells`` column names the suppressed cells of each row ('' when
    none). Apply it to a whole table, then filter: every view then agrees. A block of the table's
    rows holding whole groups of its rule's ``fixed`` columns is protected as in the whole table
    when ``varying`` names the dimensions that vary in the whole (:func:`suppression_mask`).
    """
    return protect_each(frame, table, [get_policy(policy)], varying)[0]


def protect_each(frame: pd.DataFrame, table: str | None, policies: list[Policy],
                 varying: Collection[str] | None = None) -> list[pd.DataFrame]:
    """:func:`protect` of the frame under each policy, with what no policy changes done once:
    the rows' groups along each dimension, and the values recomputed from rounded counts
    (shares, O/E ratios and limits, proportions, the sides of a split), which read a policy only
    through its rounding (computed once per rounding)."""
    rule = rule_for(table, frame)
    dropped = [SUPPRESSED, *WITHHELD.get(table or "", ())]
    out = frame.drop(columns=[c for c in dropped if c in frame])
    counts = [c for c in rule.counts if c in out]
    if not counts:
        out[SUPPRESSED] = ""
        return [out if i == 0 else out.copy() for i in range(len(policies))]
    groups: dict[tuple, list[np.ndarray]] = {}  # the rows' groups, found once for every policy
    recomputed: dict[int, pd.DataFrame] = {}  # per rounding
    protected = []
    for policy in policies:
        hidden = _hidden(out, rule, counts, policy, varying, groups)
        if policy.rounding not in recomputed:
            recomputed[policy.rounding] = _recomputed(out, rule, counts, policy)
        done = recomputed[policy.rounding].copy(deep=False)  # copy-on-write: hiding makes new columns
        for column in hidden.columns:
            if hidden[column].any():
                done.loc[hidden[column].to_numpy(), column] = None
        done[SUPPRESSED] = suppressed_names(hidden)
        protected.append(done)
    return protected


def _hidden(out: pd.DataFrame, rule: TableRule, counts: list[str], policy: Policy,
            varying: Collection[str] | None, groups: dict[tuple, list[np.ndarray]]) -> pd.DataFrame:
    """Which cells of the frame the policy hides: counts (primary and secondary), values derived
    from a hidden count, and shares whose implied count is small (and their complements)."""
    mask = suppression_mask(out, rule, policy, varying, groups)
    hidden = pd.DataFrame(False, index=out.index, columns=list(out.columns))
    for column in counts:
        hidden[column] = mask[column].to_numpy()
    any_count = mask[counts].any(axis=1).to_numpy()
    for column, sources in rule.derived.items():
        if column not in out:
            continue
        sources = tuple(s for s in sources if s in mask) or tuple(counts)
        hidden[column] = mask[list(sources)].any(axis=1).to_numpy()
    if rule.share_base in out and rule.shares:
        share_hidden = _share_mask(out, rule, policy)
        for column in share_hidden.columns:
            hidden[column] = share_hidden[column].to_numpy() | any_count
    return hidden


def _recomputed(out: pd.DataFrame, rule: TableRule, counts: list[str], policy: Policy) -> pd.DataFrame:
    """The frame as protection publishes it before hiding: values recomputed from the rounded
    counts, indices to few decimals, then the counts rounded (the policy is read only through
    its rounding)."""
    done = out.copy(deep=False)
    for part in (_reshared, _observed_expected, _proportion, _sides):
        for column, value in part(done, rule, policy).items():
            done[column] = value
    for column, digits in rule.decimals.items():
        if column in done:
            done[column] = pd.to_numeric(done[column], errors="coerce").round(digits)
    for column in counts:
        done[column] = policy.round(done[column])
    return done


def same_protection(frame: pd.DataFrame, table: str | None, a: Policy, b: Policy) -> bool:
    """Whether :func:`protect` gives ``frame`` the same under policies ``a`` and ``b`` (then one
    protection serves both). Protection reads a policy only through its suppression threshold,
    its rounding and which counts are small (shares' implied counts are tested only when
    non-zero, where the presets agree): so two policies that share the first two give the same
    result whenever no count of the frame is small under one and not the other, e.g. the presets
    on a table without zero counts."""
    if (a.suppress_max, a.rounding) != (b.suppress_max, b.rounding):
        return False
    rule = rule_for(table, frame)
    for column in rule.counts:
        if column in frame and not np.array_equal(a.is_small(frame[column]).to_numpy(),
                                                  b.is_small(frame[column]).to_numpy()):
            return False
    return True


def suppressed_names(hidden: pd.DataFrame) -> pd.api.extensions.ExtensionArray | str:
    """Per row, the names of its hidden columns joined by commas ('' for none), as text of
    pandas' default string type: each distinct pattern of hidden columns is joined once (a
    national table has millions of rows, few patterns) and given to its rows by Arrow (a
    dictionary cast to text) rather than a Python string per row (6M rows: 1.7 s -> 0.5 s)."""
    flags = hidden.to_numpy(dtype=bool)
    if not flags.any():
        return ""
    pattern = np.zeros(len(flags), dtype=np.int64)
    for start in range(0, flags.shape[1], 62):  # 62 columns a word, words combined by codes
        word = np.zeros(len(flags), dtype=np.int64)
        for bit, column in enumerate(flags[:, start:start + 62].T):
            word |= column.astype(np.int64) << bit
        codes, uniques = pd.factorize(word)
        pattern = pd.factorize(pattern * len(uniques) + codes)[0] if start else codes
    first = np.full(int(pattern.max()) + 1, len(flags))
    np.minimum.at(first, pattern, np.arange(len(flags)))
    names = np.array(list(hidden.columns), dtype=object)
    joined = pa.array([",".join(names[flags[row]]) for row in first], pa.string())
    text = pa.DictionaryArray.from_arrays(pa.array(pattern, pa.int64()), joined).cast(pa.large_string())
    return pd.array(text, dtype=TEXT)


def _reshared(frame: pd.DataFrame, rule: TableRule, policy: Policy) -> dict[str, pd.Series]:
    """Percentages recomputed from the protected (rounded) part and whole, so a share published to
    full precision beside a rounded count cannot give the count back (15 patients at 0.050384% of
    a PCN gives 17). The unrounded whole is implied by the row (count x 100 / percentage)."""
    out: dict[str, pd.Series] = {}
    wholes: dict[str, np.ndarray] = {}
    for column, (part, whole) in rule.share_of.items():
        if column not in frame or (part is not None and part not in frame) \
                or (whole is not None and whole not in frame and whole not in wholes):
            continue
        pct = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            if whole in wholes:
                total = wholes[whole]
            elif whole is not None:
                total = pd.to_numeric(frame[whole], errors="coerce").to_numpy(dtype="float64")
            else:
                total = pd.to_numeric(frame[part], errors="coerce").to_numpy(dtype="float64") * 100 / pct
            wholes[column] = total
            count = (pd.to_numeric(frame[part], errors="coerce").to_numpy(dtype="float64") if part
                     else pct * total / 100)
            rounded_total = _rounded(total, policy)
            share = _rounded(count, policy) / np.where(rounded_total > 0, rounded_total, np.nan) * 100
            if part is not None and whole is not None:
                # a value of any multiplier (x 100, x 1,000) scaled as its counts were rounded;
                # a value without counts (a local series of values) has nothing to round from
                share = np.where(np.isnan(count) & np.isnan(total), pct,
                                 pct * share / (count / np.where(total > 0, total, np.nan) * 100))
        share = np.where(pct == 0, 0.0, share)
        out[column] = pd.Series(np.where(np.isnan(pct), np.nan, share), index=frame.index)
    return out


def _observed_expected(frame: pd.DataFrame, rule: TableRule, policy: Policy) -> dict[str, pd.Series]:
    """Everything computed from an observed and an expected count, recomputed from the protected
    (rounded) counts with the method that made it (``measures.observed_expected.ratio_limits``,
    the row's over-dispersion ``tau2`` kept): an unrounded ratio beside its missing patients gives
    the exact register back (O = R x M / (1 - R)), an unrounded limit or prevalence nearly so."""
    if rule.observed_expected is None or not set(rule.observed_expected) <= set(frame.columns):
        return {}
    from placehealth.measures.observed_expected import detectable_shortfall, ratio_limits

    o_name, e_name = rule.observed_expected
    observed = _rounded(pd.to_numeric(frame[o_name], errors="coerce").to_numpy(dtype="float64"), policy)
    expected = _rounded(pd.to_numeric(frame[e_name], errors="coerce").to_numpy(dtype="float64"), policy)
    usable = np.isfinite(observed) & np.isfinite(expected) & (expected > 0)
    tau2 = (pd.to_numeric(frame["tau2"], errors="coerce").fillna(0.0).to_numpy(dtype="float64")
            if "tau2" in frame else np.zeros(len(frame)))
    # rounded counts repeat (an LSOA table has a few thousand distinct rows in millions):
    # limits computed once per distinct (observed, expected, tau2), then given to every row
    cells = (np.where(usable, observed, 0.0), np.where(usable, expected, 1.0), tau2)
    codes, first = _distinct(cells)
    rows = pd.DataFrame({"observed": cells[0][first], "expected": cells[1][first], "tau2": tau2[first]})
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        stats = ratio_limits(rows, [], unique=True, tau2="tau2")
    out: dict[str, pd.Series] = {}
    for column in ("ratio", "ratio_lowercl", "ratio_uppercl", "missing", "missing_lowercl",
                   "missing_uppercl", "significantly_low"):
        if column not in frame:
            continue
        values = stats[column].to_numpy()[codes]
        if column == "significantly_low":
            out[column] = pd.Series(np.where(usable, values, frame[column].to_numpy()),
                                    index=frame.index).astype(frame[column].dtype)
        else:
            out[column] = pd.Series(np.where(usable, values, np.nan), index=frame.index)
    if "list_size" in frame:
        size = _rounded(pd.to_numeric(frame["list_size"], errors="coerce").to_numpy(dtype="float64"), policy)
        size = np.where(size > 0, size, np.nan)
        for column, count in (("observed_prevalence", observed), ("expected_prevalence", expected)):
            if column in frame:
                out[column] = pd.Series(count / size, index=frame.index)
    if "detectable_shortfall" in frame:
        with np.errstate(divide="ignore", invalid="ignore"):
            shortfall = np.round(detectable_shortfall(np.where(usable, expected, 0.0), tau2), 2)
        out["detectable_shortfall"] = pd.Series(np.where(usable, shortfall, np.nan), index=frame.index)
    return out


def _distinct(columns: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's number among the distinct rows of equal-length float columns (compared bit
    for bit, so 0.0 and -0.0 stay apart), and the first row of each distinct row."""
    codes = _combined([pd.factorize(np.ascontiguousarray(c, dtype="float64").view(np.int64))[0]
                       for c in columns])
    # numbers are given in order of first sight: a row is first where its number is a new high
    seen = np.maximum.accumulate(codes) if len(codes) else codes
    return codes, np.flatnonzero(codes > np.r_[-1, seen[:-1]])


def _sides(frame: pd.DataFrame, rule: TableRule, policy: Policy) -> dict[str, pd.Series]:
    """Each side's O/E ratio or missing patients with limits (``measures.observed_expected``) from
    its rounded registers, and the difference between the sides (see ``observed_expected_sides``)."""
    if not rule.observed_expected_sides or "measure" not in frame:
        return {}
    from placehealth.measures.observed_expected import ratio_limits

    measure = frame["measure"].to_numpy()
    wanted = np.isin(measure, ["ratio", "missing"])
    tau2 = (pd.to_numeric(frame["tau2"], errors="coerce").fillna(0.0).to_numpy(dtype="float64")
            if "tau2" in frame else np.zeros(len(frame)))
    out: dict[str, pd.Series] = {}
    for side in rule.observed_expected_sides:
        names = [f"{side}_observed", f"{side}_expected"]
        if not set(names) <= set(frame.columns):
            continue
        observed, expected = (_rounded(pd.to_numeric(frame[n], errors="coerce").to_numpy(dtype="float64"),
                                       policy) for n in names)
        usable = wanted & np.isfinite(observed) & np.isfinite(expected) & (expected > 0)
        rows = pd.DataFrame({"observed": np.where(usable, observed, 0.0),
                             "expected": np.where(usable, expected, 1.0), "tau2": tau2})
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            stats = ratio_limits(rows, [], unique=True, tau2="tau2")
        for suffix, ending in (("value", ""), ("lowercl", "_lowercl"), ("uppercl", "_uppercl")):
            column = f"{side}_{suffix}"
            if column not in frame:
                continue
            recomputed = np.where(measure == "ratio", stats[f"ratio{ending}"], stats[f"missing{ending}"])
            kept = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
            out[column] = pd.Series(np.where(usable, recomputed, np.where(wanted, np.nan, kept)),
                                    index=frame.index)
    first, second = (f"{side}_value" for side in rule.observed_expected_sides[:2])
    if "difference" in frame and first in out and second in out:
        out["difference"] = out[first] - out[second]
    return out


def _proportion(frame: pd.DataFrame, rule: TableRule, policy: Policy) -> dict[str, pd.Series]:
    """A proportion, its Wilson limits (``measures.proportion``) and its gap to a target,
    recomputed from the rounded numerator and denominator (an unrounded uptake beside rounded
    counts gives the exact numerator back)."""
    if rule.proportion is None or not set(rule.proportion) <= set(frame.columns):
        return {}
    from placehealth.measures import proportion

    x_name, n_name, value = rule.proportion
    x = _rounded(pd.to_numeric(frame[x_name], errors="coerce").to_numpy(dtype="float64"), policy)
    n = _rounded(pd.to_numeric(frame[n_name], errors="coerce").to_numpy(dtype="float64"), policy)
    usable = np.isfinite(x) & np.isfinite(n) & (n > 0) & (x >= 0) & (x <= n)
    rows = pd.DataFrame({"x": np.where(usable, x, 0.0), "n": np.where(usable, n, 1.0)})
    stats = proportion(rows, "x", "n")
    out = {value: pd.Series(np.where(usable, stats["value"], np.nan), index=frame.index)}
    for column in ("lowercl", "uppercl"):
        if column in frame:
            out[column] = pd.Series(np.where(usable, stats[column], np.nan), index=frame.index)
    if "target" in frame:
        target = pd.to_numeric(frame["target"], errors="coerce").to_numpy(dtype="float64")
        if "gap" in frame:
            out["gap"] = pd.Series(np.maximum(0.0, target - out[value].to_numpy()), index=frame.index)
        if "met_target" in frame:
            met = pd.Series(out[value].to_numpy() >= target, index=frame.index)
            out["met_target"] = met.where(usable, frame["met_target"]).astype(frame["met_target"].dtype)
    return out


def _rounded(values: np.ndarray, policy: Policy) -> np.ndarray:
    """A count rounded as the policy publishes it (floats; non-finite stay NaN)."""
    values = np.where(np.isfinite(values), values, np.nan)
    if policy.rounding <= 1:
        return np.floor(values + 0.5)
    return np.sign(values) * np.floor(np.abs(values) / policy.rounding + 0.5) * policy.rounding


def _share_mask(frame: pd.DataFrame, rule: TableRule, policy: Policy) -> pd.DataFrame:
    """Hide percentages whose implied count (pct / 100 x base) is small; within each family
    adding to 100, hide complements as for counts; hide a family's computed sums (core20, % rural)
    only where they would give a hidden member away (:data:`PROFILE_SUBSETS`), other computed
    columns with the family."""
    base = pd.to_numeric(frame[rule.share_base], errors="coerce").to_numpy(dtype="float64")
    shares = [c for c in rule.shares if c in frame]
    implied = pd.DataFrame({c: np.round(pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype="float64")
                                        / 100 * base) for c in shares}, index=frame.index)
    # A zero share of an area's patients (e.g. none living in decile 1 neighbourhoods) follows
    # from public geography, not from anyone's record: implied zeros are shown under every rule.
    hidden = pd.DataFrame({c: (policy.is_small(implied[c]) & (implied[c] != 0)).to_numpy() for c in shares},
                          index=frame.index)
    for members, computed in rule.families:
        members = [m for m in members if m in implied]
        if len(members) < 2 or not hidden[members].to_numpy().any():
            continue
        # Members are split into the parts the computed sums are made of (core20: deciles 1-2 and
        # the rest), and complements are found within each part first: a hidden decile 1 is then
        # paired with decile 2 and Core20 can still be shown.
        parts = {m: tuple(bool(re.fullmatch(PROFILE_SUBSETS[c], m)) for c in computed if c in PROFILE_SUBSETS)
                 for m in members}
        values, flags, group_ids = _family_cells(implied[members].to_numpy(dtype="float64"),
                                                 hidden[members].to_numpy(dtype=bool),
                                                 [parts[m] for m in members])
        flags = _complementary(values, flags, group_ids, policy)
        wide = pd.DataFrame(flags.reshape(len(members), len(frame)).T, columns=members, index=frame.index)
        for member in members:
            hidden[member] = wide[member]
        family_hidden = wide.any(axis=1)
        for column in computed:
            if column not in hidden:
                continue
            subset = PROFILE_SUBSETS.get(column)
            inside = [m for m in members if subset and re.fullmatch(subset, m)]
            if not inside:  # not a sum of members (e.g. under 18 from 5-year bands): hide with them
                hidden[column] = hidden[column] | family_hidden
                continue
            outside = [m for m in members if m not in inside]
            unsafe = (_reveals(wide[inside], implied[inside], policy)
                      | _reveals(wide[outside], implied[outside], policy))
            hidden[column] = hidden[column] | unsafe
    return hidden


def _family_cells(implied: np.ndarray, hidden: np.ndarray,
                  parts: list[tuple]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """A family's cells (rows x members) one member after another, as :func:`_complementary`
    takes them: implied counts (zeros as NaN: never complements), hidden flags, and the group
    numbers of (row, part) and of row, numbered as first seen (as pandas' ``ngroup``)."""
    n, width = implied.shape
    values = implied.T.ravel()
    values = np.where(values == 0, np.nan, values)
    codes = {p: i for i, p in enumerate(dict.fromkeys(parts))}
    part = np.array([codes[p] for p in parts], dtype=np.int64)
    row = np.tile(np.arange(n, dtype=np.int64), width)
    by_part = _combined([row, np.repeat(part, n)])
    return values, hidden.T.ravel().copy(), [by_part, row]


def _reveals(flags: pd.DataFrame, implied: pd.DataFrame, policy: Policy) -> pd.Series:
    """Per row: whether publishing the sum of these members would give away the hidden ones among
    them, i.e. exactly one is hidden, or several whose implied counts sum to a small number."""
    n = flags.sum(axis=1)
    total = implied.where(flags.to_numpy()).sum(axis=1)
    return (n == 1) | ((n >= 2) & (total <= policy.suppress_max))


def marked(frame: pd.DataFrame) -> pd.DataFrame:
    """A protected frame for text outputs: each suppressed cell shows ``[c]``."""
    if SUPPRESSED not in frame or not (frame[SUPPRESSED] != "").any():
        return frame
    out = frame.copy()
    for position, names in enumerate(out[SUPPRESSED].tolist()):
        if not names:
            continue
        for column in names.split(","):
            if column in out:
                if out[column].dtype != object:
                    out[column] = out[column].astype(object)
                out.iat[position, out.columns.get_loc(column)] = MARK
    return out


def protect_frame(frame: pd.DataFrame, table: str | None = None,
                  policy: str | Policy | None = None) -> pd.DataFrame:
    """Protected and marked (``[c]``) for printing: the entry point of ``placehealth show``."""
    return marked(protect(frame, table, policy))
