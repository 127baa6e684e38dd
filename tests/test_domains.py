"""DeepMind Control (state and pixels) and Atari 100k: ids, spaces, time limits, frame stacks,
lost lives, and the memory a 100k-transition buffer takes."""

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import algorithms
from plastix.config import RunConfig
from plastix.envs import EnvNotFoundError, atari, check_env_name, dmc, make_env
from plastix.errors import ConfigError


def test_dmc_state_flattens_and_ends_by_truncation_at_the_time_limit():
    env = make_env("dmc:cartpole-swingup,repeat=4", num_envs=2)
    try:
        assert env.observation_space.shape == (5,) and env.observation_space.dtype_name == "float32"
        assert env.max_episode_steps == 250
        obs = env.reset(0)
        assert obs.shape == (2, 5) and obs.dtype == np.float32
        for t in range(250):
            ts = env.step(np.zeros((2, 1), np.float32))
            assert not ts.terminated.any()
            assert ts.truncated.all() == (t == 249)
        # the step that ends an episode returns the next one's first observation
        assert not np.array_equal(ts.obs, ts.final_obs)
    finally:
        env.close()


def test_dmc_seeds_reproduce_and_differ():
    a, b = dmc.DMCEnv("dmc:walker-walk"), dmc.DMCEnv("dmc:walker-walk")
    x, _ = a.reset(seed=3)
    y, _ = b.reset(seed=3)
    z, _ = b.reset(seed=4)
    np.testing.assert_array_equal(x, y)
    assert not np.array_equal(x, z)


def test_dmc_pixels_render_stacked_bytes_padded_with_the_first_frame():
    env = dmc.DMCEnv("dmc-pixels:cartpole-swingup,size=32")
    assert env.task_spec.repeat == 2 and env.frame_stack == 3
    assert env.observation_space.shape == (32, 32, 9)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.uint8 and obs.std() > 0
    np.testing.assert_array_equal(obs[..., :3], obs[..., 6:])
    for _ in range(3):
        nxt, *_ = env.step(np.ones(1))
    # the stack moves by one frame per step: the newest frame becomes the middle one
    again, *_ = env.step(np.ones(1))
    np.testing.assert_array_equal(again[..., 3:6], nxt[..., 6:])
    assert not np.array_equal(again[..., 6:], nxt[..., 6:])


def test_dmc_quadruped_pixels_use_camera_two():
    assert dmc.parse("dmc-pixels:quadruped-run").camera == 2
    assert dmc.parse("dmc-pixels:walker-walk").camera == 0
    assert dmc.parse("dmc-pixels:walker-walk,repeat=4").name == "dmc-pixels:walker-walk,repeat=4"


@pytest.mark.parametrize(
    "name, says",
    [
        ("dmc:walker-wlak", "walker-walk"),
        ("dmc:walker-walk,stack=3", "valid options: repeat"),
        ("dmc-pixels:walker-walk,size=big", "must be an integer"),
        ("atari:Pongg", "Pong"),
    ],
)
def test_bad_domain_ids_are_refused_by_name(name, says):
    with pytest.raises((ConfigError, EnvNotFoundError), match=says):
        check_env_name(name)


def test_atari_100k_protocol_and_lost_lives():
    env = atari.AtariEnv("Breakout")
    assert env.observation_space.shape == (84, 84, 4) and env.max_episode_steps == 27_000
    spec = env._env.env.spec.kwargs
    assert spec["repeat_action_probability"] == 0.0 and spec["frameskip"] == 1
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.uint8
    np.testing.assert_array_equal(obs[..., 0], obs[..., 3])
    rng = np.random.default_rng(0)
    lives_lost, steps = 0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(4)))
        steps += 1
        if terminated or truncated:
            break
        lives_lost += info["life_loss"]
    # five lives: four are lost within the episode, the fifth ends it
    assert lives_lost == 4 and terminated and not truncated and steps > 50


def test_human_normalised_scores_use_the_published_references():
    assert atari.human_normalised("Pong", 14.6) == pytest.approx(1.0)
    assert atari.human_normalised("Breakout", 1.7) == pytest.approx(0.0)
    assert len(atari.ATARI_100K) == 26
    with pytest.raises(ConfigError, match="Atari 100k games"):
        atari.human_normalised("Tetris", 0)


class Lives(gym.Env):
    """Ten steps of reward 1; a life is lost at step 3 (an end for learning only)."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.full(2, self.t / 10, np.float32)
        return obs, 1.0, self.t == 10, False, {"life_loss": self.t == 3}


def test_a_lost_life_is_terminal_for_learning_but_not_for_returns_or_evaluation():
    run = RunConfig(env="lives", steps=40, eval_every=40, eval_episodes=2)
    config = algorithms.get("dqn").Config(
        hidden_sizes=(8,), batch_size=4, learning_starts=10, buffer_size=100
    )
    program = algorithms.get("dqn").build(config, run, Lives())
    state = program.init(jnp.stack([jax.random.key(0)]))
    program.compile(state, [20])
    state, log = program.advance(state, 20, 0)
    # training episodes run their ten steps: the lost life did not end them
    assert [(round(float(r)), int(n)) for _, _, r, n in log.episodes] == [(10, 10), (10, 10)]
    terminated = np.asarray(state.buffer.data.terminated)[0, :20, 0]
    assert terminated.nonzero()[0].tolist() == [2, 9, 12, 19]
    keys = jnp.stack([jax.random.key(1)])
    np.testing.assert_array_equal(program.evaluate(state, 0, keys), [[10.0, 10.0]])
    program.close()


def test_a_100k_buffer_fits_the_memory_targets():
    """One seed's 100k-transition replay buffer, by shapes alone (nothing is allocated):
    Atari ≤ 1 GB, DeepMind Control pixels ≤ 2.5 GB."""

    def buffer_bytes(agent, env, **options):
        run = RunConfig(env=env, steps=100_000)
        algorithm = algorithms.get(agent)
        program = algorithm.build(algorithm.Config(**options), run, env)
        shapes = program.state_shapes(jnp.stack([jax.random.key(0)])).buffer
        return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(shapes))

    atari_bytes = buffer_bytes("drq-eps", "atari:Pong")
    pixels_bytes = buffer_bytes("sac", "dmc-pixels:cartpole-swingup", buffer_size=100_000)
    assert 0.7e9 < atari_bytes <= 1e9
    assert 2.1e9 < pixels_bytes <= 2.5e9
