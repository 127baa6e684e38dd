import jax
import jax.numpy as jnp
import numpy as np
import pytest

import plastix
from plastix.agents import DQN, SAC, DQNConfig, SACConfig
from plastix.agents.sac import squash_log_prob
from plastix.envs import probes
from plastix.envs.spaces import Box, Discrete
from plastix.errors import ConfigError
from plastix.replay import Batch

SMALL = dict(hidden_sizes=(32, 32), batch_size=32, learning_starts=50)


class TableQ:
    """A mock Q-network: observation i -> the row i of the table in ``params``."""

    def apply(self, variables, obs, mutable=None):
        q = variables["params"]["table"][obs.astype(jnp.int32)[:, 0]]
        if mutable is None:
            return q
        return q, {"activations": {"torso": {"dense_0_out": (q,)}}}  # its one "layer"


def mock_dqn(**config):
    agent = DQN(DQNConfig(**config), Box.from_bounds(0, 1, (1,)), Discrete(2), 1000)
    agent.network = TableQ()
    return agent


@pytest.mark.parametrize("double, expected_target", [(True, 1 + 0.5 * 2.0), (False, 1 + 0.5 * 3.0)])
def test_dqn_target_double_vs_max(double, expected_target):
    agent = mock_dqn(double_dqn=double, huber_delta=float("inf"))
    # state 0: Q = [0, 0]; next state 1: online Q = [1, 5] (picks action 1), target Q = [3, 2].
    online = {"table": jnp.array([[0.0, 0.0], [1.0, 5.0]])}
    target = {"table": jnp.array([[0.0, 0.0], [3.0, 2.0]])}
    batch = Batch(
        obs=jnp.array([[0.0]]),
        action=jnp.array([0]),
        reward=jnp.array([1.0]),
        next_obs=jnp.array([[1.0]]),
        discount=jnp.array([0.5]),
    )
    loss, _ = agent.loss(online, target, batch)
    assert float(loss) == pytest.approx(0.5 * expected_target**2)


def test_dqn_huber_loss_is_linear_beyond_delta():
    agent = mock_dqn(huber_delta=1.0)
    table = {"table": jnp.zeros((2, 2))}
    batch = Batch(
        obs=jnp.array([[0.0]]),
        action=jnp.array([1]),
        reward=jnp.array([3.0]),
        next_obs=jnp.array([[1.0]]),
        discount=jnp.array([0.0]),
    )
    loss, _ = agent.loss(table, table, batch)
    assert float(loss) == pytest.approx(1.0 * (3.0 - 0.5))


def make_real_dqn(**config):
    return DQN(
        DQNConfig(hidden_sizes=(8,), **config), Box.from_bounds(0, 1, (1,)), Discrete(2), 1000
    )


def random_batch(n=4):
    return Batch(
        obs=jnp.ones((n, 1)),
        action=jnp.zeros((n,), jnp.int32),
        reward=jnp.ones(n),
        next_obs=jnp.ones((n, 1)),
        discount=jnp.full((n,), 0.9),
    )


def leaves_equal(a, b):
    return all(
        bool(jnp.array_equal(x, y))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def test_dqn_hard_target_update_every_k_updates():
    agent = make_real_dqn(target_update_interval=3, tau=1.0)
    state = agent.init(jax.random.key(0))
    initial_target = state.target_params["critic"]
    for i in range(1, 7):
        state, _ = agent.update(state, random_batch(), jax.random.key(i))
        if i % 3:
            assert not leaves_equal(state.target_params["critic"], state.params["critic"])
        else:
            assert leaves_equal(state.target_params["critic"], state.params["critic"])
        if i < 3:
            assert leaves_equal(state.target_params["critic"], initial_target)


def test_dqn_soft_target_update_is_polyak_average():
    agent = make_real_dqn(target_update_interval=1, tau=0.1)
    state = agent.init(jax.random.key(0))
    old_target = state.target_params["critic"]
    new, _ = agent.update(state, random_batch(), jax.random.key(1))
    expected = jax.tree.map(lambda t, o: 0.1 * o + 0.9 * t, old_target, new.params["critic"])
    for x, y in zip(
        jax.tree.leaves(expected), jax.tree.leaves(new.target_params["critic"]), strict=True
    ):
        np.testing.assert_allclose(x, y, rtol=1e-6)


def test_epsilon_schedule_is_linear_then_flat():
    agent = make_real_dqn(epsilon_start=1.0, epsilon_end=0.1, exploration_fraction=0.5)
    assert float(agent.epsilon(0)) == pytest.approx(1.0)
    assert float(agent.epsilon(250)) == pytest.approx(0.55)
    assert float(agent.epsilon(500)) == pytest.approx(0.1)
    assert float(agent.epsilon(900)) == pytest.approx(0.1)


def test_networks_have_named_submodules():
    dqn = DQN(DQNConfig(hidden_sizes=(8,)), Box.from_bounds(0, 1, (10, 10, 4)), Discrete(3), 10)
    params = dqn.init(jax.random.key(0)).params["critic"]
    assert set(params) == {"encoder", "torso", "head"}
    sac = SAC(
        SACConfig(hidden_sizes=(8, 8)),
        Box.from_bounds(0, 1, (3,)),
        Box.from_bounds(-2, 2, (1,)),
        10,
    )
    params = sac.init(jax.random.key(0)).params
    assert set(params) == {"actor", "critic", "temperature"}
    assert set(params["actor"]) == set(params["critic"]) == {"torso", "head"}
    assert params["critic"]["torso"]["dense_0"]["kernel"].shape == (2, 4, 8)  # twin critics


def test_squashed_gaussian_log_prob_matches_change_of_variables():
    mean = jnp.array([[0.3, -1.0]])
    log_std = jnp.array([[-0.5, 0.2]])
    noise = jnp.array([[0.7, -0.4]])
    action, log_prob = squash_log_prob(mean, log_std, noise)
    u = mean + jnp.exp(log_std) * noise
    gauss = jax.scipy.stats.norm.logpdf(u, mean, jnp.exp(log_std))
    expected = jnp.sum(gauss - jnp.log(1 - jnp.tanh(u) ** 2), axis=-1)
    np.testing.assert_allclose(action, jnp.tanh(u), rtol=1e-6)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-5)


def test_sac_action_scaling_round_trip():
    sac = SAC(
        SACConfig(hidden_sizes=(8,)),
        Box.from_bounds(0, 1, (3,)),
        Box.from_bounds([-2.0, 0.0], [2.0, 1.0], (2,)),
        10,
    )
    unit = jnp.array([[-1.0, 1.0], [0.0, 0.0]])
    env_action = sac.to_env(unit)
    np.testing.assert_allclose(env_action, [[-2.0, 1.0], [0.0, 0.5]])
    np.testing.assert_allclose(sac.from_env(env_action), unit, atol=1e-6)


def test_agents_reject_action_spaces_they_cannot_handle():
    with pytest.raises(ConfigError, match="dqn needs a discrete action space"):
        DQN(DQNConfig(), Box.from_bounds(0, 1, (3,)), Box.from_bounds(-1, 1, (1,)), 10)
    with pytest.raises(ConfigError, match="sac needs a continuous"):
        SAC(SACConfig(), Box.from_bounds(0, 1, (3,)), Discrete(2), 10)


@pytest.mark.parametrize(
    "field, value",
    [
        ("learning_rate", 0.0),
        ("gamma", 1.5),
        ("n_step", 0),
        ("tau", 0.0),
        ("batch_size", 0),
        ("exploration_fraction", 2.0),
        ("hidden_sizes", ()),
    ],
)
def test_dqn_config_validation_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        DQNConfig(**{field: value})


# PROBE ENVIRONMENTS: each trains for a few hundred steps; the learned values are known.
def q_values(result, env, steps):
    params = jax.tree.map(lambda x: x[0], result.state.agent.params["critic"])
    obs = jnp.stack([env.observe(t) for t in steps])
    return np.asarray(result.agent.network.apply({"params": params}, obs))


def probe_run(env, agent="dqn", steps=1500, **config):
    return plastix.train(
        agent,
        env,
        steps=steps,
        eval_every=steps,
        eval_episodes=2,
        log_every=steps,
        progress=False,
        **{**SMALL, **config},
    )


def test_dqn_learns_the_one_step_value():
    env = probes.OneStep()
    result = probe_run(env, steps=800)
    np.testing.assert_allclose(q_values(result, env, [0]), 1.0, atol=0.05)


@pytest.mark.parametrize("n_step", [1, 2])
def test_dqn_learns_the_discounted_two_step_values(n_step):
    env = probes.TwoStep()
    result = probe_run(env, gamma=0.9, n_step=n_step)
    q = q_values(result, env, [0, 1])
    np.testing.assert_allclose(q[0], 0.9, atol=0.07)
    np.testing.assert_allclose(q[1], 1.0, atol=0.07)


def test_dqn_bootstraps_through_time_limit_truncation():
    # Reward 1 forever, cut at 5 steps by a time limit: every state is worth 1 / (1 - 0.5) = 2.
    # Treating the truncation as a termination would give the last state 1.
    env = probes.Truncated(horizon=5)
    result = probe_run(env, gamma=0.5, steps=2000)
    q = q_values(result, env, range(5))
    np.testing.assert_allclose(q, 2.0, atol=0.1)


def test_sac_finds_the_best_continuous_action():
    result = probe_run(
        probes.ContinuousBandit(target=0.5), agent="sac", steps=1500, learning_rate=3e-3
    )
    action = result.predict(np.ones((1,), np.float32))
    assert action == pytest.approx([0.5], abs=0.1)
