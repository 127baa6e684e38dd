"""Learning-history datasets: sources, splits, layout, the format on disk."""

import numpy as np
import pytest

from plastix.errors import ConfigError
from plastix.icrl.data import generate, load, save
from plastix.icrl.sources import QLearning
from plastix.icrl.tasks import Family, FamilyConfig, SourceConfig

BANDIT = Family(FamilyConfig(arms=5, horizon=50))
ROOM = Family(FamilyConfig(family="darkroom"))


def test_bandit_dataset_round_trip_and_contents(tmp_path):
    arrays, meta = generate(BANDIT, SourceConfig(source="thompson"), 64, seed=3)
    path = save(tmp_path / "d", arrays, meta)
    loaded, meta2 = load(path)
    assert meta2["source"] == "thompson" and meta2["version"] == 1
    assert meta2["family"] == {
        "family": "bandit",
        "horizon": 50,
        "arms": 5,
        "kind": "gaussian",
        "sigma": 0.3,
    }
    for k, v in arrays.items():
        np.testing.assert_array_equal(loaded[k], v)
    assert loaded["action"].shape == (64, 50) and loaded["obs"].shape == (64, 50, 1)
    np.testing.assert_array_equal(loaded["optimal_action"][:, 0], loaded["task"].argmax(axis=1))
    # Thompson sampling learns within each history: late pulls favour the best arm
    best = loaded["action"] == loaded["optimal_action"]
    assert best[:, -10:].mean() > best[:, :10].mean() + 0.2
    with pytest.raises(FileExistsError):
        save(path, arrays, meta)


def test_bandit_train_and_test_tasks_differ():
    train = BANDIT.tasks("train", 32, seed=0)
    test = BANDIT.tasks("test", 32, seed=0)
    assert not np.isclose(train[:, None, :], test[None, :, :]).all(-1).any()


def test_darkroom_histories_learn_and_never_see_held_out_goals():
    source = SourceConfig(
        source="q-learning", episodes=60, q_learning=QLearning(anneal_episodes=30)
    )
    arrays, meta = generate(ROOM, source, 128, seed=0)
    held_out = {tuple(g) for g in ROOM.env.tasks("test")}
    assert not {tuple(g) for g in arrays["task"]} & held_out
    assert len({tuple(g) for g in arrays["task"]}) == 64  # every training goal, twice
    returns = arrays["reward"].reshape(128, 60, 20).sum(-1)
    assert returns[:, -10:].mean() > returns[:, :10].mean() + 5  # Q-learning improves
    # every episode starts in the centre and the done flags close each one
    np.testing.assert_array_equal(arrays["obs"].reshape(128, 60, 20, 2)[:, :, 0], 4.0)
    assert arrays["done"].reshape(128, 60, 20)[:, :, -1].all()
    # optimal actions: at the goal stay, elsewhere a move that shortens the distance
    obs, goal = arrays["obs"][0], arrays["task"][0]
    moves = np.array([[0, 0], [0, -1], [0, 1], [-1, 0], [1, 0]])
    nxt = obs + moves[arrays["optimal_action"][0]]
    dist = np.abs(obs - goal).sum(-1)
    assert (np.abs(nxt - goal).sum(-1) == np.maximum(dist - 1, 0)).all()
    assert meta["episodes_per_history"] == 60


def test_subsampling_keeps_every_nth_episode():
    source = SourceConfig(source="random", episodes=6)
    full, _ = generate(ROOM, source, 4, seed=1)
    sub, meta = generate(ROOM, SourceConfig(source="random", episodes=6, subsample=3), 4, seed=1)
    np.testing.assert_array_equal(
        sub["action"], full["action"].reshape(4, 6, 20)[:, ::3].reshape(4, -1)
    )
    assert meta["episodes_per_history"] == 2


def test_bad_inputs_are_refused_with_the_choices():
    with pytest.raises(ConfigError, match="thompson, ucb, random, dirichlet"):
        generate(BANDIT, SourceConfig(source="epsilon-greedy"), 4, seed=0)
    with pytest.raises(ConfigError, match="bandit, darkroom, keytodoor, xland"):
        Family(FamilyConfig(family="maze"))
    with pytest.raises(ConfigError, match="split"):
        BANDIT.tasks("validation", 4, 0)


def test_the_dpt_papers_bandits_and_context_distribution():
    """Gaussian arms with uniform means (Lee et al. 2023), Dirichlet contexts mixed with a
    one-hot by a weight in {0, 0.1, ..., 1}: about 1 history in 11 pulls one arm only."""
    import jax

    from plastix.icrl.bandits import baseline_regret

    family = Family(FamilyConfig(arms=5, horizon=200, means="uniform"))
    mixed = SourceConfig(source="dirichlet", dirichlet_mix=True)
    arrays, meta = generate(family, mixed, 2200, seed=0)
    assert meta["family"]["means"] == "uniform" and meta["source_settings"]["dirichlet_mix"]
    assert (arrays["task"] >= 0).all() and (arrays["task"] <= 1).all()
    single = np.mean([len(np.unique(a)) == 1 for a in arrays["action"]])
    assert 0.06 < single < 0.125  # 1/11 = 0.091; 2,200 histories give SE 0.006
    plain, _ = generate(family, SourceConfig(source="dirichlet"), 2200, seed=0)
    assert np.mean([len(np.unique(a)) == 1 for a in plain["action"]]) < 0.01
    # Thompson sampling's prior matches the means: N(1/2, 1/12)
    tasks = family.tasks("test", 300, seed=1)
    regret = {
        name: float(baseline_regret(family.env, name, tasks, jax.random.key(0))[:, -1].mean())
        for name in ("random", "thompson")
    }
    assert regret["thompson"] < regret["random"] / 4
    with pytest.raises(ConfigError, match="dirichlet-mix"):
        generate(family, SourceConfig(source="ucb", dirichlet_mix=True), 4, seed=0)
    with pytest.raises(ConfigError, match="means must be one of normal, uniform"):
        Family(FamilyConfig(means="beta"))
