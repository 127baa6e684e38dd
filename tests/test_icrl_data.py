"""Learning-history datasets."""

import numpy as np
import pytest

from plastix.agents.base import ConfigError
from plastix.icrl import BanditEnv
from plastix.icrl.data import bandit_dataset, load, save


def test_bandit_dataset_round_trip_and_contents(tmp_path):
    env = BanditEnv(num_arms=5, horizon=50)
    arrays, meta = bandit_dataset(env, "thompson", num_tasks=64, seed=3)
    path = save(tmp_path / "d", arrays, meta)
    loaded, meta2 = load(path)
    assert meta2["source"] == "thompson" and meta2["version"] == 1
    for k, v in arrays.items():
        np.testing.assert_array_equal(loaded[k], v)
    assert loaded["action"].shape == (64, 50) and loaded["obs"].shape == (64, 50, 1)
    np.testing.assert_array_equal(loaded["optimal_action"], loaded["task"].argmax(axis=1))
    # Thompson sampling learns within each history: late pulls favour the best arm
    best = loaded["action"] == loaded["optimal_action"][:, None]
    assert best[:, -10:].mean() > best[:, :10].mean() + 0.2
    with pytest.raises(FileExistsError):
        save(path, arrays, meta)


def test_train_and_test_tasks_differ():
    env = BanditEnv(num_arms=5)
    train, _ = bandit_dataset(env, "random", 32, seed=0, split="train")
    test, _ = bandit_dataset(env, "random", 32, seed=0, split="test")
    assert not np.isclose(train["task"][:, None, :], test["task"][None, :, :]).all(-1).any()


def test_bad_source_is_refused():
    with pytest.raises(ConfigError, match="random, ucb, thompson"):
        bandit_dataset(BanditEnv(), "epsilon-greedy", 4, seed=0)
