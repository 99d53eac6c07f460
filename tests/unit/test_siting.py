"""Outreach siting (MCLP, LSCP, p-median) against brute force over every subset of sites.

Small random instances (hypothesis): the MILP answer must equal the best subset found by trying
them all, coverage must not fall as p grows, fixed sites must always be chosen, and a set cover
must cover every demand point or name the ones it cannot.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from placehealth.analyses import siting
from placehealth.analyses.siting import (
    SitingError,
    SitingProblem,
    UnreachableDemand,
    lscp,
    mclp,
    pmedian,
)

TOL = 1e-6


@st.composite
def instances(draw, max_demand: int = 12, max_sites: int = 7):
    """A random instance on a 1 km square: integer weights (some zero), Core20 flags, a radius."""
    n = draw(st.integers(1, max_demand))
    m = draw(st.integers(1, max_sites))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    demand_xy = rng.uniform(0, 1000, (n, 2))
    site_xy = rng.uniform(0, 1000, (m, 2))
    weight = rng.integers(0, 20, n).astype(float)
    if not weight.any():
        weight[rng.integers(n)] = 1.0  # an instance with no need at all is refused (tested below)
    core20 = rng.random(n) < 0.4
    radius = draw(st.sampled_from([150.0, 300.0, 500.0]))
    problem = SitingProblem([f"d{i}" for i in range(n)], weight, [f"s{j}" for j in range(m)],
                            demand_xy, site_xy, core20=core20)
    return problem, radius


def _distance(problem: SitingProblem) -> np.ndarray:
    """The dense distance matrix, written out independently of the module (tests only)."""
    diff = problem.demand_xy[:, None, :] - problem.site_xy[None, :, :]
    return np.hypot(diff[..., 0], diff[..., 1])


def _subsets(m: int, p: int, fixed: list[int]):
    for subset in itertools.combinations(range(m), p):
        if set(fixed) <= set(subset):
            yield list(subset)


def _fixed(problem: SitingProblem, data) -> list[int]:
    m = problem.n_sites
    return sorted(data.draw(st.sets(st.integers(0, m - 1), max_size=min(2, m))))


@settings(max_examples=60, deadline=None)
@given(instances(), st.data())
def test_mclp_equals_brute_force(instance, data):
    problem, radius = instance
    fixed = _fixed(problem, data)
    p = data.draw(st.integers(max(1, len(fixed)), problem.n_sites))
    result = mclp(problem, p, radius, fixed=[f"s{j}" for j in fixed])
    covers = _distance(problem) <= radius
    w = problem.weight
    best = max(w[covers[:, s].any(axis=1)].sum() for s in _subsets(problem.n_sites, p, fixed))
    assert result.status == "Optimal" and result.optimal
    assert result.covered_weight == pytest.approx(best, abs=TOL)
    assert len(result.chosen) == p
    assert {f"s{j}" for j in fixed} <= set(result.chosen)
    # every covered point is assigned to a chosen site within reach; others to none
    a = result.assignments
    assert (a["covered"] == a["site_id"].notna()).all()
    assert set(a["site_id"].dropna()) <= set(result.chosen)
    # greedy gains add up to the covered need
    assert result.sites["gain"].sum() == pytest.approx(result.covered_weight, abs=TOL)


@settings(max_examples=40, deadline=None)
@given(instances(), st.data())
def test_mclp_with_core20_share_equals_brute_force(instance, data):
    problem, radius = instance
    share = data.draw(st.sampled_from([0.25, 0.5, 0.75]))
    p = data.draw(st.integers(1, problem.n_sites))
    covers = _distance(problem) <= radius
    w, core = problem.weight, problem.core20
    feasible = []
    for s in _subsets(problem.n_sites, p, []):
        covered = covers[:, s].any(axis=1)
        if w[covered & core].sum() >= share * w[covered].sum() - TOL:
            feasible.append(w[covered].sum())
    result = mclp(problem, p, radius, min_core20_share=share)
    if not feasible:
        assert result.status == "Infeasible" and not result.chosen
        return
    assert result.status == "Optimal"
    assert result.covered_weight == pytest.approx(max(feasible), abs=TOL)
    if result.covered_weight > 0:
        assert result.core20_share >= share - TOL


@settings(max_examples=40, deadline=None)
@given(instances())
def test_mclp_coverage_never_falls_as_p_grows(instance):
    problem, radius = instance
    covered = [mclp(problem, p, radius).covered_weight for p in range(1, problem.n_sites + 1)]
    assert all(b >= a - TOL for a, b in itertools.pairwise(covered))


@settings(max_examples=60, deadline=None)
@given(instances(), st.data())
def test_lscp_covers_everything_with_fewest_sites_or_names_the_unreachable(instance, data):
    problem, radius = instance
    fixed = _fixed(problem, data)
    covers = _distance(problem) <= radius
    unreachable = [f"d{i}" for i in np.flatnonzero(~covers.any(axis=1))]
    if unreachable:
        with pytest.raises(UnreachableDemand) as caught:
            lscp(problem, radius, fixed=[f"s{j}" for j in fixed])
        assert caught.value.demand_ids == unreachable
        for name in unreachable[:20]:
            assert name in str(caught.value)
        return
    result = lscp(problem, radius, fixed=[f"s{j}" for j in fixed])
    fewest = min(p for p in range(1, problem.n_sites + 1)
                 for s in _subsets(problem.n_sites, p, fixed) if covers[:, s].any(axis=1).all())
    assert result.status == "Optimal"
    assert len(result.chosen) == fewest
    assert result.assignments["covered"].all()
    assert {f"s{j}" for j in fixed} <= set(result.chosen)


@settings(max_examples=60, deadline=None)
@given(instances(), st.data())
def test_pmedian_equals_brute_force(instance, data):
    problem, _ = instance
    fixed = _fixed(problem, data)
    p = data.draw(st.integers(max(1, len(fixed)), problem.n_sites))
    first_k = data.draw(st.integers(1, 3))  # small lists force the widening path
    result = pmedian(problem, p, fixed=[f"s{j}" for j in fixed], first_k=first_k)
    d, w = _distance(problem), problem.weight
    best = min((w * d[:, s].min(axis=1)).sum() for s in _subsets(problem.n_sites, p, fixed))
    assert result.optimal
    assert result.weighted_distance == pytest.approx(best, rel=1e-9, abs=TOL)
    assert result.bound <= result.weighted_distance + 1e-6 * max(1.0, best)
    assert {f"s{j}" for j in fixed} <= set(result.chosen)
    # each demand point goes to its nearest chosen site
    chosen = [int(s[1:]) for s in result.chosen]
    nearest = d[:, chosen].min(axis=1)
    assert np.allclose(result.assignments["distance"], nearest)


@settings(max_examples=40, deadline=None)
@given(instances(), st.data())
def test_pmedian_on_widening_lists_alone_equals_brute_force(instance, data):
    """Without the Lagrangian reduction (as for instances too big to hold densely), the
    k-nearest lists with fallbacks still reach the proven optimum."""
    problem, _ = instance
    p = data.draw(st.integers(1, problem.n_sites))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(siting, "DENSE_LIMIT", 0)
        result = pmedian(problem, p, first_k=1)
    d, w = _distance(problem), problem.weight
    best = min((w * d[:, s].min(axis=1)).sum() for s in _subsets(problem.n_sites, p, []))
    assert result.optimal
    assert result.weighted_distance == pytest.approx(best, rel=1e-9, abs=TOL)


def test_pmedian_on_a_cost_list_equals_brute_force():
    """Costs given as a sparse list (unlisted pairs unreachable), solved with k = 1 first."""
    rng = np.random.default_rng(7)
    n, m, p = 10, 6, 2
    cost = rng.uniform(1, 60, (n, m))
    listed = rng.random((n, m)) < 0.7
    listed[:, 0] = True  # every point reaches site 0
    rows, cols = np.nonzero(listed)
    problem = SitingProblem([f"d{i}" for i in range(n)], rng.integers(1, 9, n),
                            [f"s{j}" for j in range(m)],
                            costs=(rows, cols, cost[rows, cols]))
    result = pmedian(problem, p, first_k=1)
    full = np.where(listed, cost, np.inf)
    best = min((problem.weight * full[:, s].min(axis=1)).sum()
               for s in _subsets(m, p, []))
    assert result.optimal
    assert result.weighted_distance == pytest.approx(best)


def test_mclp_marginal_gains_in_greedy_order():
    """Three sites on a line: existing site A first, then the one adding most."""
    problem = SitingProblem(["a", "b", "c", "d"], [5, 1, 10, 3], ["A", "B", "C"],
                            [[0, 0], [100, 0], [1000, 0], [2000, 0]],
                            [[0, 0], [1000, 0], [2000, 0]])
    result = mclp(problem, 3, 150, fixed=["A"])
    assert result.chosen == ["A", "B", "C"]
    assert result.sites["gain"].tolist() == [6.0, 10.0, 3.0]
    assert result.sites["fixed"].tolist() == [True, False, False]
    assert result.assignments.set_index("demand_id")["site_id"].to_dict() == {
        "a": "A", "b": "A", "c": "B", "d": "C"}


def test_bad_problems_are_named():
    problem = SitingProblem(["a"], [1], ["A", "B"], [[0, 0]], [[0, 0], [5, 5]])
    with pytest.raises(SitingError, match="unknown site id"):
        mclp(problem, 1, 10, fixed=["Z"])
    with pytest.raises(SitingError, match="p counts the fixed sites"):
        mclp(problem, 1, 10, fixed=["A", "B"])
    with pytest.raises(SitingError, match="p = 3"):
        pmedian(problem, 3)
    with pytest.raises(SitingError, match="not negative"):
        SitingProblem(["a"], [-1], ["A"], [[0, 0]], [[0, 0]])
    with pytest.raises(SitingError, match="every demand weight is 0"):
        pmedian(SitingProblem(["a"], [0], ["A"], [[0, 0]], [[0, 0]]), 1)
