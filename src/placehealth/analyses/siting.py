"""Outreach siting: where to run p clinics among candidate venues to reach the most need.

Three classic location models, each solved to proven optimality as a mixed-integer programme by
HiGHS (Huangfu & Hall 2018, through ``highspy``):

- **maximal covering** (MCLP; Church & ReVelle 1974, "The maximal covering location problem",
  *Papers of the Regional Science Association* 32:101-118): choose p sites to maximise the need
  within reach (a radius in metres, or a cost cut-off when a distance list is given);
- **location set covering** (LSCP; Toregas, Swain, ReVelle & Bergman 1971, "The location of
  emergency service facilities", *Operations Research* 19:1363-1373): the fewest sites so that
  every demand point is within reach; when that is impossible the demand points no candidate
  reaches are named (:class:`UnreachableDemand`);
- **p-median** (Hakimi 1964, "Optimum locations of switching centers and the absolute centers and
  medians of a graph", *Operations Research* 12:450-459; formulated as an integer programme by
  ReVelle & Swain 1970, "Central facilities location", *Geographical Analysis* 2:30-42): choose p
  sites to minimise the need-weighted distance from each demand point to its nearest site.

Existing sites can be fixed open. MCLP takes an optional equity constraint: at least a given share
of the covered need must lie in Core20 neighbourhoods (each demand point carries a ``core20`` flag).

Coverage is a sparse structure (a SciPy CSR matrix of demand x site built with a k-d tree,
:meth:`scipy.spatial.cKDTree.query_ball_point`, on British National Grid metres, or from a sparse
list of costs), never a dense demand x site matrix.

p-median on a sparse neighbourhood, with honest optimality: each demand point may be assigned only
to its k nearest candidates, plus a *fallback* variable whose cost is the distance to its
(k+1)-th nearest candidate. Any real assignment outside the k nearest costs at least that much, so
the restricted programme is a relaxation: its optimum is a lower bound on the true p-median. The
chosen sites are then evaluated exactly (each point to its nearest chosen site); when that true
cost equals the bound, the answer is proven optimal for the full problem. When it does not (some
point's nearest chosen site lies beyond its k nearest), k is doubled for those points and the
programme solved again, until the bound is met or every candidate is in every list. (The same
idea, with radii instead of k, is the radius formulation of García, Labbé & Marín 2011,
"Solving large p-median problems with a radius formulation", *INFORMS Journal on Computing*
23:546-556.)

Each chosen site's contribution is reported: for MCLP and LSCP in greedy order (existing sites
first), the need each adds to what the sites before it cover; for p-median, the need-weighted
distance the solution would gain if that site alone were closed (its demand going to the next
nearest chosen site), largest first.

This module is pure: arrays in, a :class:`SitingResult` out; it reads no store.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import highspy
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree

OBJECTIVES = ("mclp", "lscp", "pmedian")

#: First neighbourhood size for p-median (candidates per demand point), before doubling.
PMEDIAN_FIRST_K = 8

#: Largest demand x site matrix (cells) held in memory for the p-median starting heuristic.
DENSE_LIMIT = 20_000_000

#: Most subgradient steps of the Lagrangian bound used to rule out p-median candidates.
LAGRANGIAN_STEPS = 400

#: Names listed in an error message before "and N more".
LISTED = 20


class SitingError(ValueError):
    """A siting problem that cannot be posed or solved as given (the message says why)."""


class UnreachableDemand(SitingError):
    """A set cover is impossible: these demand points are beyond reach of every candidate."""

    def __init__(self, demand_ids: Sequence[str], reach: str) -> None:
        self.demand_ids = list(demand_ids)
        shown = ", ".join(map(str, self.demand_ids[:LISTED]))
        more = f" and {len(self.demand_ids) - LISTED} more" if len(self.demand_ids) > LISTED else ""
        super().__init__(
            f"no set of sites covers every demand point: {len(self.demand_ids)} "
            f"{'is' if len(self.demand_ids) == 1 else 'are'} beyond {reach} of every candidate "
            f"site ({shown}{more})")


@dataclass
class SitingProblem:
    """Demand points (need) and candidate sites, with how far each is from each.

    Distances are straight-line metres between ``demand_xy`` and ``site_xy`` (British National
    Grid), unless ``costs`` is given: a sparse list of (demand index, site index, cost) where a
    pair not listed is unreachable.
    """

    demand_ids: np.ndarray
    weight: np.ndarray
    site_ids: np.ndarray
    demand_xy: np.ndarray | None = None
    site_xy: np.ndarray | None = None
    costs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    core20: np.ndarray | None = None
    _cost_csr: sparse.csr_matrix | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.demand_ids = np.asarray(self.demand_ids).astype(str)
        self.site_ids = np.asarray(self.site_ids).astype(str)
        self.weight = np.asarray(self.weight, dtype=float)
        n, m = len(self.demand_ids), len(self.site_ids)
        if len(self.weight) != n:
            raise SitingError(f"{len(self.weight)} weights for {n} demand points")
        if n == 0:
            raise SitingError("no demand points")
        if m == 0:
            raise SitingError("no candidate sites")
        if not np.isfinite(self.weight).all() or (self.weight < 0).any():
            raise SitingError("demand weights must be finite and not negative")
        if self.core20 is not None:
            self.core20 = np.asarray(self.core20, dtype=bool)
        if self.costs is None:
            if self.demand_xy is None or self.site_xy is None:
                raise SitingError("give coordinates for demand and sites, or a list of costs")
            self.demand_xy = np.asarray(self.demand_xy, dtype=float).reshape(n, 2)
            self.site_xy = np.asarray(self.site_xy, dtype=float).reshape(m, 2)
        else:
            rows, cols, values = (np.asarray(a) for a in self.costs)
            values = values.astype(float)
            if (values < 0).any() or not np.isfinite(values).all():
                raise SitingError("costs must be finite and not negative")
            # stored as cost + 1 so that a zero cost stays an explicit entry
            self._cost_csr = sparse.csr_matrix((values + 1.0, (rows, cols)), shape=(n, m))
            self._cost_csr.sum_duplicates()

    @property
    def n_demand(self) -> int:
        return len(self.demand_ids)

    @property
    def n_sites(self) -> int:
        return len(self.site_ids)

    def with_sites(self, keep: np.ndarray) -> SitingProblem:
        """The same demand with only the candidate sites at positions ``keep``."""
        out = copy.copy(self)
        out.site_ids = self.site_ids[keep]
        if self.site_xy is not None:
            out.site_xy = self.site_xy[keep]
        if self._cost_csr is not None:
            out._cost_csr = self._cost_csr[:, keep].tocsr()
        return out

    def site_index(self, ids: Sequence[str]) -> np.ndarray:
        """Positions of site ids; an unknown id is an error naming it."""
        where = {s: i for i, s in enumerate(self.site_ids)}
        unknown = [s for s in ids if s not in where]
        if unknown:
            raise SitingError(f"unknown site id(s): {', '.join(map(str, unknown[:LISTED]))}")
        return np.array([where[s] for s in ids], dtype=np.int64)

    def cover(self, radius: float) -> sparse.csr_matrix:
        """Demand x site coverage (bool CSR): the site is within ``radius`` of the point."""
        n, m = self.n_demand, self.n_sites
        if self._cost_csr is not None:
            within = self._cost_csr.copy()
            within.data = within.data - 1.0 <= radius
            within.eliminate_zeros()
            return within.astype(bool).tocsr()
        lists = cKDTree(self.site_xy).query_ball_point(self.demand_xy, r=radius,
                                                       return_sorted=False)
        lengths = np.fromiter((len(s) for s in lists), dtype=np.int64, count=n)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        indices = (np.concatenate([np.asarray(s, dtype=np.int64) for s in lists])
                   if indptr[-1] else np.zeros(0, dtype=np.int64))
        out = sparse.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr),
                                shape=(n, m))
        out.sort_indices()
        return out

    def distances_to(self, sites: np.ndarray) -> np.ndarray:
        """Distance from every demand point to each of a few sites (n_demand x len(sites));
        ``inf`` where a cost list does not list the pair."""
        sites = np.asarray(sites, dtype=np.int64)
        if self._cost_csr is not None:
            block = self._cost_csr[:, sites].toarray()
            return np.where(block > 0, block - 1.0, np.inf)
        diff = self.demand_xy[:, None, :] - self.site_xy[None, sites, :]
        return np.sqrt((diff ** 2).sum(axis=2))

    def nearest(self, rows: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """For each demand row, its k nearest sites and their distances (nearest first) and the
        distance to its (k+1)-th nearest site (``inf`` when there are no more)."""
        out = []
        if self._cost_csr is not None:
            for r in rows:
                lo, hi = self._cost_csr.indptr[r], self._cost_csr.indptr[r + 1]
                idx, cost = self._cost_csr.indices[lo:hi], self._cost_csr.data[lo:hi] - 1.0
                order = np.argsort(cost, kind="stable")
                nxt = cost[order[k]] if len(order) > k else np.inf
                out.append((idx[order[:k]], cost[order[:k]], float(nxt)))
            return out
        kk = min(k + 1, self.n_sites)
        dist, idx = cKDTree(self.site_xy).query(self.demand_xy[rows], k=kk)
        dist, idx = dist.reshape(len(rows), kk), idx.reshape(len(rows), kk)
        for d, i in zip(dist, idx, strict=True):
            nxt = float(d[k]) if kk > k else np.inf
            out.append((i[:k], d[:k], nxt))
        return out


@dataclass
class SitingResult:
    """The chosen sites, how each demand point is served, and what the solver proved.

    ``sites``: one row per chosen site in order of contribution (``site_id``, ``order``,
    ``fixed``, ``gain`` as described in the module docstring, ``assigned_weight``,
    ``assigned_points``). ``assignments``: one row per demand point (``demand_id``, ``weight``,
    ``core20``, ``site_id`` — the assigned site, or missing when MCLP leaves it uncovered —,
    ``distance`` to the nearest chosen site, ``covered``).
    """

    objective: str
    status: str
    optimal: bool
    mip_gap: float
    objective_value: float
    bound: float
    p: int
    radius: float | None
    chosen: list[str]
    sites: pd.DataFrame
    assignments: pd.DataFrame
    covered_weight: float
    total_weight: float
    weighted_distance: float
    core20_share: float | None
    solve_seconds: float
    iterations: int = 1
    message: str = ""

    def summary(self) -> dict:
        """The headline figures as plain Python values (for JSON)."""
        def num(v: float | None) -> float | None:
            return None if v is None or not math.isfinite(v) else float(v)

        return {
            "objective": self.objective, "status": self.status, "optimal": self.optimal,
            "mip_gap": num(self.mip_gap), "objective_value": num(self.objective_value),
            "bound": num(self.bound), "p": self.p, "radius": self.radius,
            "chosen": self.chosen, "covered_weight": num(self.covered_weight),
            "total_weight": num(self.total_weight),
            "covered_share": num(self.covered_weight / self.total_weight
                                 if self.total_weight and self.covered_weight is not None
                                 else None),
            "weighted_distance": num(self.weighted_distance),
            "core20_share": num(self.core20_share), "solve_seconds": round(self.solve_seconds, 3),
            "iterations": self.iterations, "message": self.message,
        }


# --- the three models ------------------------------------------------------------------------

def mclp(problem: SitingProblem, p: int, radius: float, *, fixed: Sequence[str] = (),
         min_core20_share: float | None = None, mip_gap: float = 0.0,
         time_limit: float | None = None) -> SitingResult:
    """Maximal covering (Church & ReVelle 1974): p sites maximising the need within ``radius``.

    max sum_i w_i y_i  s.t.  y_i <= sum_{j in N_i} x_j,  sum_j x_j = p,  x_j = 1 for fixed j,
    x binary, 0 <= y <= 1 (y is integral at an optimum given binary x). With
    ``min_core20_share`` = a: sum_i (core20_i - a) w_i y_i >= 0, and for non-Core20 points
    y_i >= x_j for every j in N_i, so y counts exactly the points covered (a covered non-Core20
    point cannot be left out to flatter the share).
    """
    start = time.perf_counter()
    fixed_idx = problem.site_index(fixed)
    _check_p(problem, p, fixed_idx)
    cover = problem.cover(radius)
    w = problem.weight
    if min_core20_share is not None:
        if problem.core20 is None:
            raise SitingError("an equity constraint needs each demand point's core20 flag")
        if not 0 <= min_core20_share <= 1:
            raise SitingError(f"minimum Core20 share {min_core20_share} is not between 0 and 1")
    rows = np.flatnonzero((w > 0) & (np.diff(cover.indptr) > 0))  # points that can count
    core_flag = (problem.core20[rows] if min_core20_share is not None
                 else np.zeros(len(rows), dtype=bool))
    sub, weight, core = _merge_alike(cover[rows], w[rows], core_flag)
    m, r = problem.n_sites, sub.shape[0]
    lp = _Model(m + r, maximise=True)
    lp.cost[m:] = weight
    lp.integer[:m] = True
    lp.lower[fixed_idx] = 1.0
    # y_i - sum_j x_j <= 0
    lp.add_rows(_stack_rows(np.ones(r), m + np.arange(r), sub, -1.0, lp.n), upper=0.0)
    lp.add_rows([(np.arange(m), np.ones(m))], lower=p, upper=p)
    if min_core20_share is not None:
        coef = (core.astype(float) - min_core20_share) * weight
        lp.add_rows([(m + np.arange(r), coef)], lower=0.0)
        other = np.flatnonzero(~core)
        if len(other):  # y_i - x_j >= 0 for j in N_i, non-Core20 i
            block = sub[other].tocoo()
            lp.add_pairs(m + other[block.row], block.col, lower=0.0)
    solved = lp.solve(mip_gap, time_limit)
    chosen = _chosen(solved.x[:m]) if solved.has_solution else np.zeros(0, dtype=np.int64)
    result = _report("mclp", problem, solved, chosen, fixed_idx, p, radius, cover, start)
    if solved.status == "Infeasible" and min_core20_share is not None:
        result.message = (f"no choice of {p} sites puts at least {min_core20_share:.0%} of the "
                          "covered need in Core20 neighbourhoods (every site reaching other "
                          "need too): lower the share or change the candidates")
    return result


def lscp(problem: SitingProblem, radius: float, *, fixed: Sequence[str] = (),
         must_cover: np.ndarray | None = None, mip_gap: float = 0.0,
         time_limit: float | None = None) -> SitingResult:
    """Location set covering (Toregas et al. 1971): the fewest sites covering every demand point.

    min sum_j x_j  s.t.  sum_{j in N_i} x_j >= 1 for every i to cover,  x_j = 1 for fixed j,
    x binary. ``must_cover`` (bool per demand point, default all) restricts which points must be
    covered. Raises :class:`UnreachableDemand` naming the points no candidate reaches.
    """
    start = time.perf_counter()
    fixed_idx = problem.site_index(fixed)
    cover = problem.cover(radius)
    need = np.ones(problem.n_demand, bool) if must_cover is None else np.asarray(must_cover, bool)
    rows = np.flatnonzero(need)
    unreachable = rows[np.diff(cover.indptr)[rows] == 0]
    if len(unreachable):
        raise UnreachableDemand(problem.demand_ids[unreachable], _reach(problem, radius))
    m = problem.n_sites
    lp = _Model(m, maximise=False)
    lp.cost[:] = 1.0
    lp.integer[:] = True
    lp.lower[fixed_idx] = 1.0
    lp.add_rows(_stack_rows(None, None, cover[rows], 1.0, lp.n), lower=1.0)
    solved = lp.solve(mip_gap, time_limit)
    chosen = _chosen(solved.x[:m]) if solved.has_solution else np.zeros(0, dtype=np.int64)
    return _report("lscp", problem, solved, chosen, fixed_idx, len(chosen), radius, cover, start)


def pmedian(problem: SitingProblem, p: int, *, fixed: Sequence[str] = (),
            radius: float | None = None, first_k: int = PMEDIAN_FIRST_K, mip_gap: float = 0.0,
            time_limit: float | None = None) -> SitingResult:
    """p-median (Hakimi 1964; ReVelle & Swain 1970): p sites minimising need-weighted distance.

    min sum_i w_i (sum_{j in K_i} d_ij z_ij + D_i u_i)  s.t.  sum_j z_ij + u_i = 1,
    z_ij <= x_j,  sum_j x_j = p,  x_j = 1 for fixed j; K_i the k nearest candidates of point i
    and D_i the distance to its (k+1)-th (no u_i when K_i holds every reachable candidate). k
    doubles for the points whose nearest chosen site lies outside K_i until the relaxation's bound
    is met (module docstring). ``radius``, when given, only adds coverage figures to the report.
    """
    start = time.perf_counter()
    fixed_idx = problem.site_index(fixed)
    _check_p(problem, p, fixed_idx)
    rows = np.flatnonzero(problem.weight > 0)
    keep = _lagrangian_sites(problem, rows, p, fixed_idx)  # sites that can be in an optimum
    sub = problem.with_sites(keep)
    sub_fixed = np.searchsorted(keep, fixed_idx)
    solved, sub_chosen, iterations = _pmedian_on_lists(sub, rows, p, sub_fixed, first_k,
                                                       mip_gap, time_limit)
    chosen = keep[sub_chosen]
    result = _report("pmedian", problem, solved, chosen, fixed_idx, p, radius,
                     problem.cover(radius) if radius is not None else None, start)
    result.iterations = iterations
    if len(keep) < problem.n_sites:
        result.message = (f"{problem.n_sites - len(keep)} of {problem.n_sites} candidates "
                          "ruled out by Lagrangian bounds")
    return result


def _pmedian_on_lists(problem: SitingProblem, rows: np.ndarray, p: int, fixed_idx: np.ndarray,
                      first_k: int, mip_gap: float, time_limit: float | None):
    """Solve on k-nearest lists with fallbacks, widening lists until the bound is met."""
    m = problem.n_sites
    k = np.full(len(rows), max(1, min(first_k, m)), dtype=np.int64)
    iterations = 0
    while True:
        iterations += 1
        lists = _neighbour_lists(problem, rows, k)
        unreachable = [problem.demand_ids[r] for r, (idx, _, _) in zip(rows, lists, strict=True)
                       if len(idx) == 0]
        if unreachable:
            raise UnreachableDemand(unreachable, "the listed costs")
        solved = _solve_pmedian(lists, problem.weight[rows], m, p, fixed_idx, mip_gap,
                                time_limit)
        if not solved.has_solution:
            return solved, np.zeros(0, dtype=np.int64), iterations
        chosen = _chosen(solved.x[:m])
        outside = np.array([not np.isin(chosen, idx).any() and math.isfinite(nxt)
                            for idx, _, nxt in lists], dtype=bool)
        if not outside.any() or solved.status != "Optimal":
            return solved, chosen, iterations
        # the bound was not met for these points: widen their lists and solve again
        needed = _rank_of_nearest(problem, rows[outside], chosen)
        k[outside] = np.minimum(np.maximum(k[outside] * 2, needed + 1), m)


def _lagrangian_sites(problem: SitingProblem, rows: np.ndarray, p: int,
                      fixed_idx: np.ndarray) -> np.ndarray:
    """The candidates that can belong to an optimal p-median (sorted positions); the others are
    ruled out by Lagrangian bounds.

    Relaxing each point's assignment constraint with a multiplier l_i gives the lower bound
    L(l) = sum_i l_i + (sum of the p smallest r_j), r_j = sum_i min(0, w_i d_ij - l_i)
    (Cornuejols, Fisher & Nemhauser 1977; Beasley 1993, *European Journal of Operational
    Research* 65:383-399), raised by subgradient steps. A site outside the bound's choice whose
    inclusion lifts the bound above the cost of a known solution (greedy plus vertex substitution)
    cannot be in any optimum, so leaving it out keeps the proof of optimality intact. Only when
    the distances fit in memory (``DENSE_LIMIT``); otherwise every site is kept.
    """
    m = problem.n_sites
    free_count = p - len(set(fixed_idx.tolist()))
    if free_count == 0 or len(rows) == 0 or len(rows) * m > DENSE_LIMIT:
        return np.arange(m)
    d = problem.distances_to(np.arange(m))[rows]
    finite = np.isfinite(d)
    if not finite.all():  # unlisted pairs as a large finite cost: the bound stays a lower bound
        d = np.where(finite, d, 10 * float(d[finite].max(initial=0.0)) + 1)
    c = problem.weight[rows][:, None] * d
    seed = _pmedian_heuristic(problem, rows, p, fixed_idx)
    if seed is None or not finite[:, seed].any(axis=1).all():
        return np.arange(m)  # no known solution with a finite cost to bound against
    upper = float(c[:, seed].min(axis=1).sum())
    is_fixed = np.zeros(m, dtype=bool)
    is_fixed[fixed_idx] = True
    free = np.flatnonzero(~is_fixed)

    def bound(lam: np.ndarray):
        rho = np.minimum(c - lam[:, None], 0.0).sum(axis=0)
        pick = free[np.argpartition(rho[free], free_count - 1)[:free_count]]
        chosen = np.concatenate([np.flatnonzero(is_fixed), pick])
        return float(lam.sum() + rho[chosen].sum()), rho, chosen, pick

    lam = c[:, seed].min(axis=1).copy()
    best, best_lam, theta, stall = -np.inf, lam, 2.0, 0
    for _ in range(LAGRANGIAN_STEPS):
        value, _, chosen, _ = bound(lam)
        # the bound's own choice of sites is a solution too (a Lagrangian heuristic)
        upper = min(upper, float(c[:, chosen].min(axis=1).sum()))
        if value > best + 1e-12 * abs(upper):
            best, best_lam, stall = value, lam.copy(), 0
        else:
            stall += 1
            if stall >= 15:
                theta, stall = theta / 2, 0
        if upper - best <= 1e-9 * upper or theta < 1e-4:
            break
        g = 1.0 - (c[:, chosen] < lam[:, None]).sum(axis=1)
        norm = float(g @ g)
        if norm == 0:
            break
        lam = np.maximum(lam + theta * (upper - value) / norm * g, 0.0)
    value, rho, chosen, pick = bound(best_lam)
    last = rho[pick].max()
    lifted = value - last + rho  # the bound with site j forced in, for j outside the choice
    outside = np.ones(m, dtype=bool)
    outside[chosen] = False
    ruled_out = outside & (lifted > upper * (1 + 1e-7) + 1e-9)
    return np.flatnonzero(~ruled_out)


# --- solver plumbing -------------------------------------------------------------------------

@dataclass
class _Solved:
    status: str
    has_solution: bool
    x: np.ndarray
    objective: float
    bound: float
    gap: float
    optimal: bool


class _Model:
    """A MILP built from sparse rows and passed to HiGHS in one piece."""

    def __init__(self, n_cols: int, *, maximise: bool) -> None:
        self.n = n_cols
        self.maximise = maximise
        self.cost = np.zeros(n_cols)
        self.lower = np.zeros(n_cols)
        self.upper = np.ones(n_cols)
        self.integer = np.zeros(n_cols, dtype=bool)
        self._rows: list[sparse.csr_matrix] = []
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []

    def add_rows(self, rows: sparse.csr_matrix | list[tuple[np.ndarray, np.ndarray]], *,
                 lower: float = -np.inf, upper: float = np.inf) -> None:
        if isinstance(rows, list):  # a few dense-ish rows given as (columns, values)
            indptr = np.cumsum([0, *(len(c) for c, _ in rows)])
            cols = np.concatenate([np.asarray(c, dtype=np.int64) for c, _ in rows])
            vals = np.concatenate([np.asarray(v, dtype=float) for _, v in rows])
            rows = sparse.csr_matrix((vals, cols, indptr), shape=(len(rows), self.n))
        self._rows.append(rows)
        self._lo.append(np.full(rows.shape[0], lower))
        self._hi.append(np.full(rows.shape[0], upper))

    def add_pairs(self, plus: np.ndarray, minus: np.ndarray, *, lower: float = -np.inf,
                  upper: float = np.inf) -> None:
        """Rows col[plus] - col[minus] within [lower, upper], one per pair."""
        n = len(plus)
        cols = np.column_stack([plus, minus]).ravel()
        vals = np.tile([1.0, -1.0], n)
        rows = sparse.csr_matrix((vals, cols, np.arange(0, 2 * n + 1, 2)), shape=(n, self.n))
        self.add_rows(rows, lower=lower, upper=upper)

    def solve(self, mip_gap: float, time_limit: float | None) -> _Solved:
        a = sparse.vstack(self._rows, format="csr") if self._rows else sparse.csr_matrix(
            (0, self.n))
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n, a.shape[0]
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = self.cost, self.lower, self.upper
        lp.row_lower_ = np.concatenate(self._lo) if self._lo else np.zeros(0)
        lp.row_upper_ = np.concatenate(self._hi) if self._hi else np.zeros(0)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data.astype(float)
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = self.n, a.shape[0]
        lp.sense_ = highspy.ObjSense.kMaximize if self.maximise else highspy.ObjSense.kMinimize
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in self.integer]
        h = _quiet_highs()
        h.setOptionValue("mip_rel_gap", float(mip_gap))
        h.setOptionValue("threads", 1)
        if time_limit is not None:
            h.setOptionValue("time_limit", float(time_limit))
        h.passModel(lp)
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        info = h.getInfo()
        has = info.primal_solution_status == 2  # kSolutionStatusFeasible
        x = np.asarray(h.getSolution().col_value) if has else np.zeros(self.n)
        objective = info.objective_function_value if has else math.nan
        bound = info.mip_dual_bound if self.integer.any() else objective
        gap = info.mip_gap if self.integer.any() else 0.0
        return _Solved(status, has, x, objective, bound, gap, status == "Optimal")


def _quiet_highs() -> highspy.Highs:
    """A HiGHS instance that prints nothing: its constructor writes a banner to the process's
    standard output (file descriptor 1, below Python), which would corrupt CSV or JSON output."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    return h


def _merge_alike(cover: sparse.csr_matrix, weight: np.ndarray, core: np.ndarray):
    """Demand points reached by exactly the same sites (and alike in Core20 flag) merged into one
    with their summed weight: an exact reduction for covering models (same y in every solution)."""
    cover = cover.tocsr()
    cover.sort_indices()
    keys = {}
    group = np.empty(cover.shape[0], dtype=np.int64)
    for i in range(cover.shape[0]):
        key = (bool(core[i]), cover.indices[cover.indptr[i]:cover.indptr[i + 1]].tobytes())
        group[i] = keys.setdefault(key, len(keys))
    if len(keys) == cover.shape[0]:
        return cover, weight, core
    first = np.unique(group, return_index=True)[1]
    merged = np.bincount(group, weights=weight, minlength=len(keys))
    return cover[first], merged, core[first]


def _stack_rows(diag: np.ndarray | None, diag_cols: np.ndarray | None, block: sparse.csr_matrix,
                sign: float, n_cols: int) -> sparse.csr_matrix:
    """Rows ``diag_i * col[diag_cols_i] + sign * sum_{j in block row i} x_j`` (x first)."""
    r = block.shape[0]
    data = np.full(block.nnz, sign)
    indices, indptr = block.indices.astype(np.int64), block.indptr.astype(np.int64)
    if diag is None:
        return sparse.csr_matrix((data, indices, indptr), shape=(r, n_cols))
    lengths = np.diff(indptr) + 1
    new_ptr = np.concatenate([[0], np.cumsum(lengths)])
    cols = np.empty(new_ptr[-1], dtype=np.int64)
    vals = np.empty(new_ptr[-1])
    first = new_ptr[:-1]
    cols[first], vals[first] = diag_cols, diag
    rest = np.ones(new_ptr[-1], dtype=bool)
    rest[first] = False
    cols[rest], vals[rest] = indices, data
    out = sparse.csr_matrix((vals, cols, new_ptr), shape=(r, n_cols))
    out.sort_indices()
    return out


def _neighbour_lists(problem: SitingProblem, rows: np.ndarray, k: np.ndarray):
    out: list = [None] * len(rows)
    for kk in np.unique(k):
        at = np.flatnonzero(k == kk)
        for pos, item in zip(at, problem.nearest(rows[at], int(kk)), strict=True):
            out[pos] = item
    return out


def _solve_pmedian(lists, w: np.ndarray, m: int, p: int, fixed_idx: np.ndarray,
                   mip_gap: float, time_limit: float | None) -> _Solved:
    sizes = np.array([len(idx) for idx, _, _ in lists], dtype=np.int64)
    has_fallback = np.array([math.isfinite(nxt) for _, _, nxt in lists], dtype=bool)
    n_z, n_u = int(sizes.sum()), int(has_fallback.sum())
    z0, u0 = m, m + n_z
    lp = _Model(m + n_z + n_u, maximise=False)
    lp.integer[:m] = True
    lp.lower[fixed_idx] = 1.0
    site = np.concatenate([idx for idx, _, _ in lists]).astype(np.int64)
    dist = np.concatenate([d for _, d, _ in lists]).astype(float)
    point = np.repeat(np.arange(len(lists)), sizes)
    lp.cost[z0:u0] = w[point] * dist
    fallback_points = np.flatnonzero(has_fallback)
    lp.cost[u0:] = w[fallback_points] * np.array([lists[i][2] for i in fallback_points])
    # sum_j z_ij + u_i = 1
    u_of_point = np.full(len(lists), -1, dtype=np.int64)
    u_of_point[fallback_points] = u0 + np.arange(n_u)
    lengths = sizes + has_fallback
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    cols = np.empty(indptr[-1], dtype=np.int64)
    z_pos = np.ones(indptr[-1], dtype=bool)
    last = indptr[1:] - 1
    z_pos[last[has_fallback]] = False
    cols[z_pos] = z0 + np.arange(n_z)
    cols[last[has_fallback]] = u_of_point[has_fallback]
    lp.add_rows(sparse.csr_matrix((np.ones(len(cols)), cols, indptr),
                                  shape=(len(lists), lp.n)), lower=1.0, upper=1.0)
    lp.add_pairs(z0 + np.arange(n_z), site, upper=0.0)  # z_ij - x_j <= 0
    lp.add_rows([(np.arange(m), np.ones(m))], lower=p, upper=p)
    return lp.solve(mip_gap, time_limit)


def _pmedian_heuristic(problem: SitingProblem, rows: np.ndarray, p: int,
                       fixed_idx: np.ndarray) -> np.ndarray | None:
    """A good p-median solution to size the candidate lists: greedy addition, then vertex
    substitution (Teitz & Bart 1968, *Operations Research* 16:955-961) until no swap helps.
    Only when the demand x site distances fit in memory (``DENSE_LIMIT`` cells); else None."""
    m = problem.n_sites
    if len(rows) * m > DENSE_LIMIT:
        return None
    d = problem.distances_to(np.arange(m))[rows].astype(np.float32)
    finite = np.isfinite(d)
    if not finite.any():
        return None
    d[~finite] = 10 * float(d[finite].max()) + 1  # unlisted pairs: far worse than any listed
    w = problem.weight[rows].astype(np.float32)
    chosen = list(dict.fromkeys(fixed_idx.tolist()))
    best = d[:, chosen].min(axis=1) if chosen else np.full(len(rows), np.inf, np.float32)
    while len(chosen) < p:
        cost = (w[:, None] * np.minimum(best[:, None], d)).sum(axis=0)
        cost[chosen] = np.inf
        j = int(np.argmin(cost))
        chosen.append(j)
        best = np.minimum(best, d[:, j])
    current = float((w * best).sum())
    for _ in range(50):  # substitution passes
        improved = False
        for pos in range(len(fixed_idx), len(chosen)):
            others = chosen[:pos] + chosen[pos + 1:]
            without = d[:, others].min(axis=1) if others else np.full(len(rows), np.inf)
            cost = (w[:, None] * np.minimum(without[:, None], d)).sum(axis=0)
            cost[chosen] = np.inf
            j = int(np.argmin(cost))
            if cost[j] < current * (1 - 1e-9):
                chosen[pos], current, improved = j, float(cost[j]), True
        if not improved:
            break
    return np.array(chosen, dtype=np.int64)


def _rank_of_nearest(problem: SitingProblem, rows: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """For each demand row, how many candidates are at least as near as its nearest chosen site
    (the list length that holds the assignment)."""
    nearest = problem.distances_to(chosen)[rows].min(axis=1)
    if problem._cost_csr is not None:
        sub = problem._cost_csr[rows]
        costs = sub.data - 1.0
        row_of = np.repeat(np.arange(len(rows)), np.diff(sub.indptr))
        within = costs <= nearest[row_of] * (1 + 1e-12)
        return np.bincount(row_of[within], minlength=len(rows)).astype(np.int64)
    tree = cKDTree(problem.site_xy)
    return np.asarray(tree.query_ball_point(problem.demand_xy[rows], nearest * (1 + 1e-12) + 1e-9,
                                            return_length=True), dtype=np.int64)


def _check_p(problem: SitingProblem, p: int, fixed_idx: np.ndarray) -> None:
    if not (problem.weight > 0).any():
        raise SitingError("every demand weight is 0: there is no need to site for")
    if p < 1 or p > problem.n_sites:
        raise SitingError(f"p = {p}: choose between 1 and the {problem.n_sites} candidate sites")
    if len(set(fixed_idx.tolist())) > p:
        raise SitingError(f"{len(set(fixed_idx.tolist()))} fixed sites but p = {p}: "
                          "p counts the fixed sites too")


def _chosen(x: np.ndarray) -> np.ndarray:
    return np.flatnonzero(x > 0.5)


def _reach(problem: SitingProblem, radius: float) -> str:
    return (f"a cost of {radius:g}" if problem.costs is not None
            else f"{radius:g} m")


# --- reporting -------------------------------------------------------------------------------

def _report(objective: str, problem: SitingProblem, solved: _Solved, chosen: np.ndarray,
            fixed_idx: np.ndarray, p: int, radius: float | None,
            cover: sparse.csr_matrix | None, start: float) -> SitingResult:
    w = problem.weight
    total = float(w.sum())
    core = problem.core20
    if not solved.has_solution or len(chosen) == 0:
        empty_sites = pd.DataFrame(columns=["site_id", "order", "fixed", "gain",
                                            "assigned_weight", "assigned_points"])
        assignments = pd.DataFrame({"demand_id": problem.demand_ids, "weight": w,
                                    "core20": core if core is not None else pd.NA,
                                    "site_id": pd.NA, "distance": np.nan, "covered": False})
        return SitingResult(objective, solved.status, False, solved.gap, math.nan, solved.bound,
                            p, radius, [], empty_sites, assignments, 0.0, total, math.nan,
                            None, time.perf_counter() - start,
                            message=f"no solution: HiGHS status {solved.status}")
    dist = problem.distances_to(chosen)  # n_demand x p (p small)
    nearest = dist.argmin(axis=1)
    nearest_d = dist[np.arange(problem.n_demand), nearest]
    if cover is not None:
        covers = cover[:, chosen].toarray()
        covered = covers.any(axis=1)
        # the nearest chosen site that covers the point
        masked = np.where(covers, dist, np.inf)
        covering = masked.argmin(axis=1)
    else:
        covers, covered, covering = None, np.ones(problem.n_demand, bool), nearest
    if objective == "pmedian":
        site_of = np.where(np.isfinite(nearest_d), chosen[nearest], -1)
    else:
        site_of = np.where(covered, chosen[covering], -1)
    assignments = pd.DataFrame({
        "demand_id": problem.demand_ids, "weight": w,
        "core20": core if core is not None else pd.NA,
        "site_id": pd.array([problem.site_ids[s] if s >= 0 else None for s in site_of],
                            dtype="string"),
        "distance": nearest_d, "covered": covered})
    is_fixed = np.isin(chosen, fixed_idx)
    if objective == "pmedian":
        order, gain = _drop_one(dist, w)
    else:
        order, gain = _greedy(covers, w, is_fixed)
    served = pd.Series(w).groupby(site_of).agg(["sum", "size"])
    sites = pd.DataFrame({
        "site_id": problem.site_ids[chosen[order]], "order": np.arange(1, len(order) + 1),
        "fixed": is_fixed[order], "gain": gain,
        "assigned_weight": [float(served["sum"].get(chosen[j], 0.0)) for j in order],
        "assigned_points": [int(served["size"].get(chosen[j], 0)) for j in order]})
    covered_weight = float(w[covered].sum())
    share = None
    if core is not None and covered_weight > 0:
        share = float(w[covered & core].sum() / covered_weight)
    weighted = float((w * nearest_d)[w > 0].sum())
    value = {"mclp": covered_weight, "lscp": float(len(chosen)), "pmedian": weighted}[objective]
    return SitingResult(objective, solved.status, solved.optimal, solved.gap, value,
                        solved.bound, p, radius, [str(s) for s in problem.site_ids[chosen[order]]],
                        sites, assignments, covered_weight, total, weighted, share,
                        time.perf_counter() - start)


def _greedy(covers: np.ndarray, w: np.ndarray, is_fixed: np.ndarray):
    """Chosen sites in greedy order (fixed first), each with the need it adds to those before."""
    seen = np.zeros(covers.shape[0], dtype=bool)
    left = list(range(covers.shape[1]))
    order, gain = [], []
    for group in (True, False):
        pool = [j for j in left if is_fixed[j] == group]
        while pool:
            adds = [float(w[covers[:, j] & ~seen].sum()) for j in pool]
            best = int(np.argmax(adds))
            j = pool.pop(best)
            order.append(j)
            gain.append(adds[best])
            seen |= covers[:, j]
    return np.array(order, dtype=np.int64), np.array(gain)


def _drop_one(dist: np.ndarray, w: np.ndarray):
    """Each chosen site's removal cost: the rise in need-weighted distance if it alone closed."""
    keep = w > 0
    d, ww = dist[keep], w[keep]
    base = d.min(axis=1)
    if d.shape[1] == 1:
        return np.array([0]), np.array([math.inf])
    part = np.partition(d, 1, axis=1)
    second = part[:, 1]
    owner = d.argmin(axis=1)
    rise = np.array([float((ww * (second - base))[owner == j].sum()) for j in range(d.shape[1])])
    order = np.argsort(-rise, kind="stable")
    return order, rise[order]
