"""The vectorised bridge search against the definition: an edge is a bridge when removing it
leaves more connected components (counted by scipy), on random multigraphs with loops of two
parallel edges, isolated nodes and several components."""

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse import csgraph

from placehealth.outputs.disclosure import _bridge_edges


def _components(a: np.ndarray, b: np.ndarray, n: int) -> int:
    graph = sparse.csr_array((np.ones(len(a)), (a, b)), shape=(n, n))
    return csgraph.connected_components(graph, directed=False)[0]


@pytest.mark.parametrize("seed", range(2))
def test_bridges_are_the_edges_whose_removal_splits_the_graph(seed):
    rng = np.random.default_rng(seed)
    for _ in range(100):
        n = int(rng.integers(2, 30))
        a = rng.integers(0, n, int(rng.integers(1, 40)))
        b = rng.integers(0, n, len(a))
        a, b = a[a != b], b[a != b]
        if not len(a):
            continue
        whole = _components(a, b, n)
        expected = [_components(np.delete(a, i), np.delete(b, i), n) > whole for i in range(len(a))]
        assert _bridge_edges(a, b, n).tolist() == expected


def test_a_long_path_and_a_parallel_pair():
    # a path 0-1-...-9 (every edge a bridge), then 9-10 twice (neither a bridge)
    a = np.r_[np.arange(9), 9, 9]
    b = np.r_[np.arange(1, 10), 10, 10]
    assert _bridge_edges(a, b, 11).tolist() == [True] * 9 + [False, False]
