"""Partially observed tasks (plastix/envs/pomdp.py): what they hide, that a policy with memory
solves them, and that a memory-free one cannot."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cli import main
from plastix.envs import check_env_name, make_env
from plastix.envs.gymnax_env import GymnaxEnv
from plastix.envs.pomdp import CueRoom
from plastix.errors import ConfigError


@pytest.mark.parametrize(
    "task, keep", [("CartPole-v1", [0, 2]), ("Acrobot-v1", [0, 1, 2, 3]), ("Pendulum-v1", [0, 1])]
)
def test_hidden_velocities_observe_the_task_without_its_velocities(task, keep):
    full, masked = GymnaxEnv(task), make_env(f"pomdp:{task}")
    assert masked.observation_space.shape == (len(keep),)
    assert masked.max_episode_steps == full.max_episode_steps
    key = jax.random.key(0)
    (o1, s1), (o2, s2) = full.reset(key), masked.reset(key)
    np.testing.assert_array_equal(o1[jnp.array(keep)], o2)
    step1, step2 = jax.jit(full.step), jax.jit(masked.step)
    for t in range(300):  # past an episode's end: final_obs and the reset are masked too
        k = jax.random.fold_in(key, t)
        action = full.action_space.sample(jax.random.fold_in(k, 1))
        (t1, s1), (t2, s2) = step1(k, s1, action), step2(k, s2, action)
        np.testing.assert_array_equal(t1.obs[jnp.array(keep)], t2.obs)
        np.testing.assert_array_equal(t1.final_obs[jnp.array(keep)], t2.final_obs)
        assert t1.reward == t2.reward and t1.terminated == t2.terminated


def rollout(env, goal, actions):
    obs, state = env.reset_to(goal)
    seen, rewards = [obs], []
    for t, a in enumerate(actions):
        timestep, state = env.step(jax.random.key(t), state, jnp.int32(a))
        seen.append(timestep.final_obs)
        rewards.append(float(timestep.reward))
        if timestep.terminated or timestep.truncated:
            break
    return np.array(seen), rewards


def test_cue_room_shows_the_goal_only_at_the_first_step():
    env = CueRoom()
    actions = [4, 1, 1, 3, 3, 3, 2, 2, 4, 4, 4, 2]
    a, _ = rollout(env, (0, 8), actions)
    b, _ = rollout(env, (8, 0), actions)
    assert a[0].tolist() == [4, 4, 0, 8, 1] and b[0].tolist() == [4, 4, 8, 0, 1]
    # after the cue, neither goal reached: the same observations whatever the goal
    np.testing.assert_array_equal(a[1:], b[1:])
    assert (a[1:, 2:] == 0).all()
    # the cue step does not move the agent, whatever it does
    assert a[1, :2].tolist() == [4, 4]


def test_cue_room_draws_every_goal_but_the_start_uniformly():
    goals = jax.vmap(CueRoom().draw_goal)(jax.random.split(jax.random.key(0), 40_000))
    index = np.asarray(goals[:, 1] * 9 + goals[:, 0])
    counts = np.bincount(index, minlength=81)
    assert counts[40] == 0 and (counts[np.arange(81) != 40] > 0).all()
    assert counts.max() / counts[counts > 0].min() < 1.5  # 500 expected per goal


def test_a_policy_that_remembers_the_cue_reaches_every_goal():
    env = CueRoom()
    for index in [i for i in range(81) if i != 40]:
        goal = (index % 9, index // 9)
        dx, dy = goal[0] - 4, goal[1] - 4
        moves = [4 if dx > 0 else 3] * abs(dx) + [2 if dy > 0 else 1] * abs(dy)
        _, rewards = rollout(env, goal, [0, *moves])  # any action at the cue step
        assert rewards[-1] == 1.0 and sum(rewards) == 1.0, goal


def test_unknown_pomdp_tasks_name_the_choices():
    with pytest.raises(ConfigError, match="valid choices: pomdp:CartPole-v1"):
        check_env_name("pomdp:CartPol")


@pytest.mark.slow  # about 2 minutes: three PPO runs
def test_memory_free_ppo_fails_where_it_solves_the_fully_observed_task(tmp_path):
    def train(env):
        out = tmp_path / env.replace(":", "-")
        argv = ["train", "ppo", "--env", env, "--steps", "100000", "--seeds", "4"]
        assert main([*argv, "--out", str(out), "--no-progress"]) == 0
        summary = json.loads((out / "summary.json").read_text())
        return np.array([s["recent_episode_return"] for s in summary["per_seed"]])

    assert (train("CartPole-v1") >= 400).all()
    assert (train("pomdp:CartPole-v1") <= 150).all()
    # at most 11/80 in expectation; 40 episodes: the bound plus three standard errors
    assert train("pomdp:CueRoom-9x9").mean() <= 0.1375 + 3 * np.sqrt(0.1375 * 0.8625 / 40)
