"""Mechanics of the in-context models: causal masking, token layout, online evaluation."""

import jax
import jax.numpy as jnp
import numpy as np

from plastix.icrl import BanditEnv
from plastix.icrl.bandit_icrl import TrainConfig, ad_batch, dpt_batch, evaluate_online, make_model

ENV = BanditEnv(num_arms=3, horizon=8)
MODEL = make_model(ENV, TrainConfig(dim=16, layers=1, heads=2))


def test_outputs_depend_on_the_past_only():
    actions = jnp.array([[0, 1, 2, 0, 1, 2, 0, 1]])
    rewards = jnp.linspace(-1, 1, 8)[None]
    params = MODEL.init(jax.random.key(0), actions, rewards)
    base = MODEL.apply(params, actions, rewards)
    assert base.shape == (1, 9, 3)  # the start token, then one output per history step
    changed = MODEL.apply(params, actions.at[0, 5].set(2), rewards.at[0, 5].set(3.0))
    # position i reads steps 0..i-1: positions 0..5 unchanged, 6.. changed
    np.testing.assert_allclose(base[0, :6], changed[0, :6], rtol=1e-5, atol=1e-6)
    assert not np.allclose(base[0, 6:], changed[0, 6:])


def test_batches_have_the_documented_labels():
    actions, rewards, labels = dpt_batch(ENV, jax.random.key(1), 4)
    assert actions.shape == rewards.shape == (4, 8) and labels.shape == (4, 9)
    assert (labels == labels[:, :1]).all()  # DPT: the optimal arm at every position
    arrays = {"action": jnp.arange(16).reshape(2, 8) % 3, "reward": jnp.ones((2, 8))}
    actions, _, labels = ad_batch(arrays, jax.random.key(2), 5)
    np.testing.assert_array_equal(labels[:, :-1], actions)  # AD: the source's next action
    assert (labels[:, -1] == -1).all()


def test_online_evaluation_returns_cumulative_regret():
    params = MODEL.init(jax.random.key(0), jnp.zeros((1, 8), jnp.int32), jnp.zeros((1, 8)))
    tasks = jnp.array([[0.0, 1.0, 0.5], [1.0, 1.0, 1.0]])
    regret = evaluate_online(MODEL, params, ENV, tasks, jax.random.key(3))
    assert regret.shape == (2, 8)
    assert (np.diff(regret, axis=1) >= -1e-6).all()
    np.testing.assert_allclose(regret[1], 0.0)  # every arm is optimal
