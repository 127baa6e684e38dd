import numpy as np
import pytest
from scipy import stats as scipy_stats

from plastix.analysis import stats


def test_iqm_hand_computed():
    # 8 scores: cut 2 from each end, mean of 3, 4, 5, 6
    assert stats.iqm(np.arange(1, 9)) == 4.5
    # 5 scores: cut 1 from each end
    assert stats.iqm([10, 0, 3, 1, 2]) == 2.0
    # [runs, tasks] pools every run of every task
    assert stats.iqm([[1, 5], [2, 6], [3, 7], [4, 8]]) == 4.5


@pytest.mark.parametrize("n", [4, 7, 10, 33])
def test_iqm_matches_scipy_trim_mean(n):
    x = np.random.default_rng(n).normal(size=(n, 3))
    assert np.isclose(stats.iqm(x), scipy_stats.trim_mean(x, 0.25, axis=None))


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    trials, hits = 300, 0
    for t in range(trials):
        sample = rng.normal(loc=3.0, size=30)
        ci = stats.interval(sample, "mean", reps=1000, seed=t)
        assert ci.low <= ci.point <= ci.high
        hits += ci.low <= 3.0 <= ci.high
    # The percentile bootstrap of a mean of 30 normals slightly under-covers: 0.935 over 3,000
    # trials. With 300 trials the standard error is 0.014; accept 4 of them either side.
    assert 0.88 <= hits / trials <= 0.99, hits / trials


def test_bootstrap_is_stratified_by_task():
    # every run scores 0 on task 0 and 100 on task 1: each replicate keeps both tasks, so
    # the mean is exactly 50 in every replicate (an unstratified bootstrap would vary)
    scores = np.stack([np.zeros(5), np.full(5, 100.0)], axis=1)
    ci = stats.interval(scores, "mean", reps=500)
    assert (ci.point, ci.low, ci.high) == (50.0, 50.0, 50.0)


def test_probability_of_improvement_hand_computed():
    # pairs (3,1) win, (3,4) loss, (4,1) win, (4,4) tie: (1 + 0 + 1 + 0.5) / 4
    assert stats.probability_of_improvement([3, 4], [1, 4]).point == 0.625
    x, y = np.random.default_rng(1).normal(size=(2, 12, 2))
    forward = stats.probability_of_improvement(x, y).point
    backward = stats.probability_of_improvement(y, x).point
    assert np.isclose(forward + backward, 1.0)
    # per task, then averaged over tasks
    per_task = [stats.probability_of_improvement(x[:, j], y[:, j]).point for j in range(2)]
    assert np.isclose(forward, np.mean(per_task))


def test_probability_of_improvement_interval_separates_clear_differences():
    rng = np.random.default_rng(2)
    better, worse = rng.normal(2.0, 1.0, size=10), rng.normal(0.0, 1.0, size=10)
    ci = stats.probability_of_improvement(better, worse)
    assert 0.5 < ci.low <= ci.point <= ci.high <= 1.0


def test_curve_intervals_per_step():
    x = np.random.default_rng(3).normal(size=(6, 4))
    point, low, high = stats.curve_intervals(x)
    np.testing.assert_allclose(point, [stats.iqm(x[:, j]) for j in range(4)])
    assert np.all(low <= point) and np.all(point <= high)


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="valid choices: iqm, mean, median"):
        stats.interval([1.0, 2.0], "mode")
    with pytest.raises(ValueError, match="finite"):
        stats.interval([1.0, np.nan])
    with pytest.raises(ValueError, match="same tasks"):
        stats.probability_of_improvement(np.ones((3, 2)), np.ones((3, 1)))
