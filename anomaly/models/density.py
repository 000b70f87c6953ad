"""A fitted `CellDensity` as plain counts, scored without scikit-learn.

`CellDensity` (`anomaly.models.estimators`) is the estimator: it validates its input, chooses
the bins and learns. What it learns is a `DensityTable`: the bins, the smoothing and the counts
of cells, of states within cells and of states anywhere, as sorted int64 arrays. Scoring needs
only the table and numpy, so a model file holding tables loads without importing scikit-learn
(about a second of a detection process's start-up).

A sample's score is its smoothed log-probability, log p(cell) + log p(state | cell) (the
estimator's docstring gives the smoothing); higher is more usual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["DensityTable"]

_KEY_BASE: Final = np.int64(1 << 20)  # bins per dimension in the packed key (signed, offset)
_BASE: Final = 1 << 20  # the same, as a Python int
_EXACT_DIMS: Final = 3  # packed exactly up to this many dimensions, hashed beyond
_HASH_PRIME: Final = np.int64(0x100000001B3)  # FNV-1a's 64-bit prime
_MASK: Final = (1 << 64) - 1
_FAST_ROWS: Final = 512  # up to this many rows, `score_array` looks counts up row by row
_CACHED: Final = 1 << 16  # cells' and rows' counts remembered (then forgotten all at once)


class _Keys(NamedTuple):
    spatial: NDArray[np.int64]  # the spatial bins of each sample
    cells: NDArray[np.int64]  # packed cell key
    joint: NDArray[np.int64]  # packed cell and state key
    pure: NDArray[np.int64]  # packed state key, whatever the cell
    off_centre: NDArray[np.float64]


_EMPTY: Final = np.zeros(0, dtype=np.int64)


@dataclass(eq=False)
class DensityTable:
    """The counts of a fitted `CellDensity`, and its scoring."""

    bin_widths: NDArray[np.float64]
    periods: list[float | None]
    spatial_dims: int
    alpha: float
    neighbourhood: int
    state_prior: float
    n_state_bins: int
    n_samples: int = 0
    cell_keys: NDArray[np.int64] = field(default_factory=lambda: _EMPTY)
    cell_counts: NDArray[np.int64] = field(default_factory=lambda: _EMPTY)
    state_keys: NDArray[np.int64] = field(default_factory=lambda: _EMPTY)
    state_counts: NDArray[np.int64] = field(default_factory=lambda: _EMPTY)
    global_keys: NDArray[np.int64] = field(default_factory=lambda: _EMPTY)
    global_counts: NDArray[np.int64] = field(default_factory=lambda: _EMPTY)

    @property
    def n_features(self) -> int:
        return len(self.periods)

    def count(self, X: NDArray[np.float64]) -> DensityTable:
        """Count the samples of `X` (a float64 array of `n_features` columns); returns self."""
        keys = self.keys(X)
        self.__dict__.pop("_fast", None)  # the counts of a previous fit
        self.cell_keys, self.cell_counts = np.unique(keys.cells, return_counts=True)
        self.state_keys, self.state_counts = np.unique(keys.joint, return_counts=True)
        self.global_keys, self.global_counts = np.unique(keys.pure, return_counts=True)
        self.n_samples = X.shape[0]
        return self

    def score(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Each sample's log-probability, vectorised (for many rows at a time)."""
        return self._score(self.keys(X))

    def score_array(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """`score` for the per-vessel hot path (a few tens of rows at a time).

        The same numbers as `score`: the same bins, and the same arithmetic on the same counts,
        but the counts of a small array are looked up row by row in dictionaries (built on
        first use) and each cell's neighbourhood count is remembered, where the vectorised
        path packs and searches once per neighbour, which for a few rows costs far more than
        the work itself."""
        if X.shape[0] > _FAST_ROWS:
            return self.score(X)
        fast = self.__dict__.get("_fast")
        if fast is None:
            fast = self.__dict__["_fast"] = _FastCounts(self)
        bins, off_centre = self.bins(X)
        around_n, cell_n, joint_n, anywhere = fast.counts(bins)
        if self.spatial_dims == self.n_features:
            return self._score_counts(around_n, None, None, None, off_centre)
        return self._score_counts(
            around_n, cell_n, joint_n, anywhere if self.state_prior > 0 else None, off_centre
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_fast", None)  # a cache, rebuilt on first use
        return state

    def bins(self, X: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Each sample's bins, and how far it sits from the centres of its bins (0 to 1)."""
        periodic = [(j, p) for j, p in enumerate(self.periods) if p]
        if periodic:
            X = X.copy()
            for j, period in periodic:
                X[:, j] = np.mod(X[:, j], period)
        scaled = X / self.bin_widths
        floor = np.floor(scaled)
        out = floor.astype(np.int64)
        far = np.abs(scaled - floor - 0.5)
        off_centre = np.zeros(X.shape[0], dtype=np.float64)
        for j in range(X.shape[1]):  # column by column: the same sums as ever
            off_centre += far[:, j]
        return out, off_centre / max(1, X.shape[1])

    @staticmethod
    def pack(bins: NDArray[np.int64]) -> NDArray[np.int64]:
        """One int64 per row. Exact for up to three dimensions of bins below 2**20; beyond
        that an FNV-style hash of every bin (rare collisions only make two states share a
        count), as shifting a fourth bin in would push the first out of the 64 bits."""
        key = np.zeros(bins.shape[0], dtype=np.int64)
        exact = bins.shape[1] <= _EXACT_DIMS
        for j in range(bins.shape[1]):
            if exact:
                key = key * _KEY_BASE + (bins[:, j] % _KEY_BASE)
            else:  # int64 arithmetic wraps round, as the hash wants
                key = (key ^ bins[:, j]) * _HASH_PRIME
        return key

    def keys(self, X: NDArray[np.float64]) -> _Keys:
        bins, off_centre = self.bins(X)
        spatial = bins[:, : self.spatial_dims]
        cells = self.pack(spatial)
        if self.spatial_dims < bins.shape[1]:
            pure = self.pack(bins[:, self.spatial_dims :])
            joint = self.pack(bins)  # every bin: the same state in two cells counts apart
        else:
            pure = joint = cells
        return _Keys(spatial, cells, joint, pure, off_centre)

    def _cell_counts(self, keys: _Keys) -> NDArray[np.float64]:
        """Each sample's cell count, averaged over its neighbourhood."""
        k = self.neighbourhood
        if k <= 0:
            return _lookup(self.cell_keys, self.cell_counts, keys.cells)
        total = np.zeros(len(keys.cells), dtype=np.float64)
        span = range(-k, k + 1)
        offsets = np.array(np.meshgrid(*[span] * keys.spatial.shape[1])).reshape(
            keys.spatial.shape[1], -1
        )
        for offset in offsets.T:
            total += _lookup(self.cell_keys, self.cell_counts, self.pack(keys.spatial + offset))
        result: NDArray[np.float64] = total / offsets.shape[1]
        return result

    def _score(self, keys: _Keys) -> NDArray[np.float64]:
        """log p(cell) + log p(state | cell), smoothed (see `_score_counts`)."""
        if self.spatial_dims == self.n_features:
            cell_n = joint_n = anywhere = None
        else:
            cell_n = _lookup(self.cell_keys, self.cell_counts, keys.cells)
            joint_n = _lookup(self.state_keys, self.state_counts, keys.joint)
            anywhere = (
                _lookup(self.global_keys, self.global_counts, keys.pure)
                if self.state_prior > 0
                else None
            )
        return self._score_counts(
            self._cell_counts(keys), cell_n, joint_n, anywhere, keys.off_centre
        )

    def _score_counts(
        self,
        around_n: NDArray[np.float64],
        cell_n: NDArray[np.float64] | None,
        joint_n: NDArray[np.float64] | None,
        anywhere: NDArray[np.float64] | None,
        off_centre: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """log p(cell) + log p(state | cell), smoothed, from each sample's counts: of its cell
        over the neighbourhood, of its cell, of its cell and state, and of its state anywhere;
        less a hair for samples far from the centres of their bins, which breaks the ties of a
        histogram (and so lets the decision function call exactly the `contamination` share of
        the training data outliers)."""
        a = self.alpha
        n = self.n_samples
        tie_break = 1e-6 * off_centre
        n_cells = len(self.cell_keys) + 1
        log_cell = np.log(around_n + a) - np.log(n + a * n_cells)
        if cell_n is None or joint_n is None:
            only_cell: NDArray[np.float64] = log_cell - tie_break
            return only_cell
        if self.state_prior > 0 and anywhere is not None:
            usual = (anywhere + a) / (n + a * self.n_state_bins)
            prior = self.state_prior
            log_state = np.log(joint_n + prior * usual) - np.log(cell_n + prior)
        else:
            log_state = np.log(joint_n + a) - np.log(cell_n + a * self.n_state_bins)
        both: NDArray[np.float64] = log_cell + log_state - tie_break
        return both


def _lookup(
    keys: NDArray[np.int64], counts: NDArray[np.int64], query: NDArray[np.int64]
) -> NDArray[np.float64]:
    idx = np.searchsorted(keys, query)
    idx = np.clip(idx, 0, len(keys) - 1)
    found = keys[idx] == query
    return np.where(found, counts[idx], 0).astype(np.float64)


def _pack_key(values: list[int]) -> int:
    """`DensityTable.pack` of one row, in Python ints: the same int64."""
    key = 0
    if len(values) <= _EXACT_DIMS:
        for v in values:
            key = key * _BASE + v % _BASE
        return key
    prime = int(_HASH_PRIME)
    for v in values:
        key = ((key ^ (v & _MASK)) * prime) & _MASK
    return key - (1 << 64) if key >= 1 << 63 else key


class _FastCounts:
    """A table's counts as dictionaries, for scoring a few rows at a time, and the counts of
    the rows of bins seen (a vessel's fixes fall in few cells and states)."""

    __slots__ = ("around", "cells", "joint", "offsets", "pure", "rows", "spatial_dims")

    def __init__(self, table: DensityTable) -> None:
        self.spatial_dims = table.spatial_dims
        self.cells = dict(zip(table.cell_keys.tolist(), table.cell_counts.tolist(), strict=True))
        self.joint = dict(zip(table.state_keys.tolist(), table.state_counts.tolist(), strict=True))
        self.pure = dict(zip(table.global_keys.tolist(), table.global_counts.tolist(), strict=True))
        k = table.neighbourhood
        if k > 0:
            span = range(-k, k + 1)
            grid = np.array(np.meshgrid(*[span] * self.spatial_dims))
            self.offsets = grid.reshape(self.spatial_dims, -1).T.tolist()  # as `_cell_counts`
        else:
            self.offsets = []
        self.around: dict[tuple[int, ...], tuple[float, int]] = {}
        self.rows: dict[tuple[int, ...], tuple[float, int, int, int]] = {}

    def _cell(self, spatial: tuple[int, ...]) -> tuple[float, int]:
        """A cell's count averaged over its neighbourhood, and its own count."""
        own = self.cells.get(_pack_key(list(spatial)), 0)
        if not self.offsets:
            return float(own), own
        total = 0
        for offset in self.offsets:
            total += self.cells.get(
                _pack_key([b + o for b, o in zip(spatial, offset, strict=True)]), 0
            )
        return float(total) / len(self.offsets), own

    def _row(self, row: tuple[int, ...]) -> tuple[float, int, int, int]:
        """A row of bins' neighbourhood, cell, cell-and-state and state counts."""
        sd = self.spatial_dims
        spatial = row[:sd]
        cell = self.around.get(spatial)
        if cell is None:
            if len(self.around) >= _CACHED:
                self.around.clear()
            cell = self.around[spatial] = self._cell(spatial)
        state = list(row[sd:])
        if not state:
            return cell[0], cell[1], 0, 0
        joint = self.joint.get(_pack_key(list(row)), 0)
        return cell[0], cell[1], joint, self.pure.get(_pack_key(state), 0)

    def counts(self, bins: NDArray[np.int64]) -> NDArray[np.float64]:
        """Per row of bins, a column each: the neighbourhood, cell, cell-and-state and state
        counts (contiguous columns, as the vectorised lookups give)."""
        rows = self.rows
        if len(rows) >= _CACHED:
            rows.clear()
        get = rows.get
        found = []
        for key in map(tuple, bins.tolist()):
            got = get(key)
            if got is None:
                got = rows[key] = self._row(key)
            found.append(got)
        return np.array(found, dtype=np.float64).reshape(-1, 4).T.copy()
