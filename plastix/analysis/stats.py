"""Aggregate scores over seeds (and tasks) the way the field does (Agarwal et al. 2021).

Scores are arrays ``[runs, tasks]`` (one column per task; a 1-D array is one task). Point
estimates:

- ``iqm``: the interquartile mean, the mean of the middle 50% of all runs × tasks (as
  ``scipy.stats.trim_mean(x, 0.25)``: ``floor(0.25 n)`` scores cut from each end);
- ``mean`` over all runs × tasks;
- ``median`` as rliable defines it: the median over tasks of each task's mean over runs (so
  for one task it is that task's mean).

Uncertainty: ``interval(scores, "iqm")`` gives the point estimate with a 95% percentile
confidence interval from a *stratified* bootstrap — each task's runs are resampled with
replacement, separately, so every replicate keeps every task (rliable's default). And
``probability_of_improvement(x, y)``, P(X > Y): the chance that a run of configuration X beats
a run of Y on the same task (ties count half), averaged over tasks, with its own bootstrap
interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

DEFAULT_REPS = 2000


def _as_matrix(scores) -> np.ndarray:
    x = np.asarray(scores, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"scores must be [runs] or [runs, tasks] with runs >= 1, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("scores must be finite")
    return x


def _flat(x: np.ndarray) -> np.ndarray:
    """``[..., runs, tasks]`` -> ``[..., runs * tasks]``."""
    return x.reshape(x.shape[:-2] + (-1,))


def iqm(scores, axis=None) -> np.ndarray:
    """Interquartile mean: the mean after cutting ``floor(n/4)`` scores from each end."""
    x = np.asarray(scores, dtype=float)
    if axis is None:
        x, axis = x.reshape(-1), 0
    x = np.sort(x, axis=axis)
    n = x.shape[axis]
    cut = int(0.25 * n)
    return np.take(x, np.arange(cut, n - cut), axis=axis).mean(axis=axis)


AGGREGATES: dict[str, Callable] = {
    "iqm": lambda x: iqm(_flat(x), axis=-1),
    "mean": lambda x: _flat(x).mean(axis=-1),
    "median": lambda x: np.median(x.mean(axis=-2), axis=-1),
}


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval."""

    point: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.point:.3g} [{self.low:.3g}, {self.high:.3g}]"

    def format(self, digits: int = 1) -> str:
        return f"{self.point:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def _resample(x: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """Stratified bootstrap replicates ``[reps, runs, tasks]``: runs resampled per task."""
    runs, tasks = x.shape
    idx = rng.integers(0, runs, size=(reps, runs, tasks))
    return x[idx, np.arange(tasks)]


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _check(statistic: str, confidence: float, reps: int) -> None:
    if statistic not in AGGREGATES:
        raise ValueError(f"unknown statistic {statistic!r}; valid choices: {', '.join(AGGREGATES)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")


def interval(
    scores,
    statistic: str = "iqm",
    confidence: float = 0.95,
    reps: int = DEFAULT_REPS,
    seed: int = 0,
) -> Interval:
    """``statistic`` of ``scores`` with a stratified-bootstrap percentile interval."""
    _check(statistic, confidence, reps)
    x = _as_matrix(scores)
    fn = AGGREGATES[statistic]
    replicates = fn(_resample(x, reps, np.random.default_rng(seed)))
    return Interval(float(fn(x)), *_percentiles(replicates, confidence))


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) for ``[..., runs_x, tasks]`` and ``[..., runs_y, tasks]``, averaged over
    tasks (ties count half)."""
    diff = x[..., :, None, :] - y[..., None, :, :]  # [..., runs_x, runs_y, tasks]
    wins = (diff > 0) + 0.5 * (diff == 0)
    return wins.mean(axis=(-3, -2)).mean(axis=-1)


def probability_of_improvement(
    x, y, confidence: float = 0.95, reps: int = DEFAULT_REPS, seed: int = 0
) -> Interval:
    """P(X > Y): how often a run of X beats a run of Y on the same task (the Mann–Whitney
    statistic, ties count half), averaged over tasks; with a stratified-bootstrap interval
    (X's and Y's runs resampled independently)."""
    _check("mean", confidence, reps)
    x, y = _as_matrix(x), _as_matrix(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same tasks, got {x.shape[1]} and {y.shape[1]}")
    rng = np.random.default_rng(seed)
    point = float(_improvement(x, y))
    replicates = np.concatenate(
        [
            _improvement(_resample(x, n, rng), _resample(y, n, rng))
            for n in _batches(reps, x.shape[0] * y.shape[0] * x.shape[1])
        ]
    )
    return Interval(point, *_percentiles(replicates, confidence))


def _batches(reps: int, cost: int, budget: int = 2_000_000) -> list[int]:
    """Replicates per batch so that a batch holds at most ``budget`` pair comparisons."""
    size = max(1, budget // max(cost, 1))
    return [min(size, reps - start) for start in range(0, reps, size)]


def curve_intervals(
    scores,
    statistic: str = "iqm",
    confidence: float = 0.95,
    reps: int = 500,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step ``(point, low, high)`` for learning curves: ``scores`` is ``[runs, steps]``
    (one task), each step bootstrapped over runs."""
    _check(statistic, confidence, reps)
    x = np.asarray(scores, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"scores must be [runs, steps], got shape {x.shape}")
    fn = AGGREGATES[statistic]
    rng = np.random.default_rng(seed)
    runs, steps = x.shape
    idx = rng.integers(0, runs, size=(reps, runs))
    # [reps, runs, steps] -> statistic over runs, per step: move steps first as "batch"
    replicates = x[idx]  # [reps, runs, steps]
    per_step = np.moveaxis(replicates, -1, 0)[..., None]  # [steps, reps, runs, 1]
    values = fn(per_step)  # [steps, reps]
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail], axis=1)
    point = fn(np.moveaxis(x, -1, 0)[..., None])
    return point, low, high
