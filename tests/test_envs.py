import gymnasium as gym
import jax
import numpy as np
import pytest

from plastix.envs import (
    Box,
    Discrete,
    EnvNotFoundError,
    GymnasiumEnv,
    GymnaxAsGymnasium,
    GymnaxEnv,
    is_jittable,
    make_env,
)


def jax_path(env_id, actions, seed):
    """Steps the JaxEnv with the key schedule GymnaxAsGymnasium documents."""
    env = GymnaxEnv(env_id)
    key = jax.random.key(seed)
    key, reset_key = jax.random.split(key)
    obs, state = env.reset(reset_key)
    step = jax.jit(env.step)
    out = [np.asarray(obs)]
    for a in actions:
        key, step_key = jax.random.split(key)
        ts, state = step(step_key, state, a)
        out.append(ts)
    return out


def host_path(env_id, actions, seed):
    env = GymnasiumEnv(lambda: GymnaxAsGymnasium(env_id), num_envs=1)
    out = [env.reset(seed)[0]]
    for a in actions:
        ts = env.step(np.asarray([a]))
        out.append(jax.tree.map(lambda x: x[0], ts))
    return out


@pytest.mark.parametrize(
    "env_id, length, random_actions",
    [("CartPole-v1", 120, True), ("Pendulum-v1", 230, False)],
)
def test_gymnax_and_gymnasium_paths_give_the_same_transitions(env_id, length, random_actions):
    rng = np.random.default_rng(0)
    if random_actions:
        actions = rng.integers(0, 2, size=length)
    else:
        actions = rng.uniform(-2, 2, size=(length, 1)).astype(np.float32)
    a = jax_path(env_id, actions, seed=3)
    b = host_path(env_id, actions, seed=3)
    np.testing.assert_allclose(a[0], b[0], atol=1e-5)
    ended = {"terminated": 0, "truncated": 0}
    for ts_a, ts_b in zip(a[1:], b[1:], strict=True):
        np.testing.assert_allclose(ts_a.obs, ts_b.obs, atol=1e-4)
        np.testing.assert_allclose(ts_a.final_obs, ts_b.final_obs, atol=1e-4)
        np.testing.assert_allclose(ts_a.reward, ts_b.reward, atol=1e-4)
        assert bool(ts_a.terminated) == bool(ts_b.terminated)
        assert bool(ts_a.truncated) == bool(ts_b.truncated)
        ended["terminated"] += int(ts_a.terminated)
        ended["truncated"] += int(ts_a.truncated)
    # The test is only worth something if it crossed episode ends of the kind it targets.
    if env_id == "CartPole-v1":
        assert ended["terminated"] >= 2
    else:
        assert ended["truncated"] == 1 and ended["terminated"] == 0


def test_gymnasium_truncation_keeps_the_true_final_observation():
    env = GymnasiumEnv("Pendulum-v1", num_envs=2)
    obs = env.reset(0)
    for t in range(200):
        ts = env.step(np.zeros((2, 1), np.float32))
        if t < 199:
            assert not ts.truncated.any()
            np.testing.assert_array_equal(ts.final_obs, ts.obs)
    assert ts.truncated.all() and not ts.terminated.any()
    # obs is already the next episode's first observation; final_obs is the last one.
    assert not np.allclose(ts.final_obs, ts.obs)
    assert obs.shape == (2, 3)


@pytest.mark.parametrize(
    "game, channels, actions",
    [
        ("MinAtar-Breakout", 4, 3),
        ("MinAtar-Asterix", 4, 5),
        ("MinAtar-Freeway", 7, 3),
        ("MinAtar-SpaceInvaders", 6, 4),
    ],
)
def test_minatar_games_are_10x10_grids(game, channels, actions):
    env = make_env(game)
    assert is_jittable(env)
    assert env.observation_space.shape == (10, 10, channels)
    assert env.action_space == Discrete(actions)
    obs, state = env.reset(jax.random.key(0))
    ts, _ = env.step(jax.random.key(1), state, 0)
    assert obs.shape == ts.obs.shape == (10, 10, channels)


@pytest.mark.parametrize(
    "env_id", ["CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCarContinuous-v0"]
)
def test_classic_control_spaces(env_id):
    env = make_env(env_id)
    continuous = env_id in ("Pendulum-v1", "MountainCarContinuous-v0")
    assert isinstance(env.action_space, Box if continuous else Discrete)


class CoinFlip(gym.Env):
    """A user's own environment: guess a coin, three guesses per episode."""

    observation_space = gym.spaces.Box(0, 1, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.coin = int(self.np_random.integers(2))
        return np.array([self.coin], np.float32), {}

    def step(self, action):
        self.t += 1
        reward = float(action == self.coin)
        self.coin = int(self.np_random.integers(2))
        return np.array([self.coin], np.float32), reward, False, self.t >= 3, {}


def test_user_env_instance_is_vectorised_on_the_host():
    env = make_env(CoinFlip(), num_envs=4)
    assert not is_jittable(env)
    assert env.action_space == Discrete(2)
    env.reset(0)
    for _ in range(3):
        ts = env.step(np.zeros(4, int))
    assert ts.truncated.all()


def test_unknown_environment_names_the_choices():
    with pytest.raises(EnvNotFoundError, match="Valid choices: .*CartPole-v1"):
        make_env("CartPoel-v1")
    with pytest.raises(EnvNotFoundError, match="Did you mean: CartPole-v1"):
        make_env("gymnasium:CartPoel-v1")
