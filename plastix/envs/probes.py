"""Probe environments whose correct values are known, for testing an agent's mechanics.

Each isolates one thing an agent must get right (after Andy Jones's "debugging RL" probes, as
used by rejax's tests):

- ``OneStep``: one step, reward 1, terminated: learns ``Q = 1``.
- ``TwoStep``: observation 0 then 1, reward only at the second step: ``Q(0) = gamma``,
  ``Q(1) = 1``; tests bootstrapping and the discount.
- ``Truncated``: reward 1 every step and episodes cut by a time limit, never terminated: the true
  value is ``1 / (1 - gamma)`` at every step; an agent that mistakes truncation for termination
  learns less at the last step.
- ``ContinuousBandit``: one step, reward ``-(a - target)^2`` for an action in ``[-1, 1]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from plastix.envs.base import TimeStep
from plastix.envs.spaces import Box, Discrete


@struct.dataclass
class ProbeState:
    t: jax.Array


class ProbeEnv:
    """Base: the observation is ``[t + 1]`` at step ``t``; ``step`` resets automatically.

    (Not ``[t]``: an all-zero input into zero-initialised biases leaves every ReLU unit dead,
    and then only the output bias can learn.)
    """

    max_episode_steps: int = 1
    observation_space = Box.from_bounds(0.0, 100.0, (1,))
    action_space = Discrete(2)

    def observe(self, t):
        return jnp.asarray([t + 1], jnp.float32)

    def reset(self, key):
        return self.observe(0), ProbeState(jnp.int32(0))

    def reward(self, t, action) -> jax.Array:
        raise NotImplementedError

    def terminal(self, t1) -> jax.Array:
        return t1 >= self.max_episode_steps

    def truncation(self, t1) -> jax.Array:
        return jnp.bool_(False)

    def step(self, key, state, action):
        t1 = state.t + 1
        terminated = self.terminal(t1)
        truncated = jnp.logical_and(self.truncation(t1), ~terminated)
        done = terminated | truncated
        final_obs = self.observe(t1)
        obs = jnp.where(done, self.observe(0), final_obs)
        timestep = TimeStep(
            obs, jnp.float32(self.reward(state.t, action)), terminated, truncated, final_obs
        )
        return timestep, ProbeState(jnp.where(done, 0, t1))


class OneStep(ProbeEnv):
    name = "probe-one-step"

    def reward(self, t, action):
        return 1.0


class TwoStep(ProbeEnv):
    name = "probe-two-step"
    max_episode_steps = 2

    def reward(self, t, action):
        return jnp.where(t == 1, 1.0, 0.0)


class Truncated(ProbeEnv):
    name = "probe-truncated"

    def __init__(self, horizon: int = 5):
        self.max_episode_steps = horizon

    def reward(self, t, action):
        return 1.0

    def terminal(self, t1):
        return jnp.bool_(False)

    def truncation(self, t1):
        return t1 >= self.max_episode_steps


class ContinuousBandit(ProbeEnv):
    name = "probe-continuous-bandit"
    action_space = Box.from_bounds(-1.0, 1.0, (1,))

    def __init__(self, target: float = 0.5):
        self.target = target

    def reward(self, t, action):
        return -jnp.square(action[0] - self.target)
