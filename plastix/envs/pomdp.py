"""Partially observed tasks (``pomdp:NAME``), jittable, which only a policy with memory solves.

- ``pomdp:CartPole-v1``, ``pomdp:Acrobot-v1``, ``pomdp:Pendulum-v1``: the gymnax task with its
  velocities hidden. CartPole observes the cart's position and the pole's angle, Acrobot the
  cosines and sines of its two joints, Pendulum the cosine and sine of its angle. Everything
  else is the task's own: dynamics, rewards, time limit.
- ``pomdp:CueRoom-9x9``: a Dark Room whose goal is shown only at the first step. The goal is
  drawn uniformly from the 80 cells other than the start (the centre) at every reset. The
  observation is ``(x, y, goal x, goal y, cue)``: the goal cell and ``cue = 1`` at the first
  step, zeros after it. At that first step the agent stays where it is whatever it does; then
  it has 11 moves. Reaching the goal gives reward 1 and ends the episode; 12 steps cut it.
  Every goal lies within 8 moves, so a policy that remembers the cue always succeeds
  (return 1). A memory-free policy cannot, whatever it learns. After the first step its
  observations do not depend on the goal until it reaches it, so the distribution of its path
  is the same for every goal. Eleven moves visit at most 11 cells, so averaged over the 80
  goals it succeeds (and scores) at most 11/80 = 0.1375.

bsuite's memory task is in gymnax itself: ``MemoryChain-bsuite`` shows a context bit at the
first step and rewards +1 at the end only if the last action repeats it (−1 otherwise). A
memory-free policy's expected return there is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from plastix.envs.base import TimeStep
from plastix.envs.spaces import Box, Discrete
from plastix.errors import ConfigError

PREFIX = "pomdp:"
HIDDEN_VELOCITIES = {
    "CartPole-v1": (0, 2),  # x, x_dot, theta, theta_dot
    "Acrobot-v1": (0, 1, 2, 3),  # cos1, sin1, cos2, sin2, dtheta1, dtheta2
    "Pendulum-v1": (0, 1),  # cos, sin, theta_dot
}
CUE_ROOM = "CueRoom-9x9"
TASKS = (*HIDDEN_VELOCITIES, CUE_ROOM)


def is_pomdp(name) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def parse(name: str) -> str:
    task = name[len(PREFIX) :]
    if task not in TASKS:
        raise ConfigError(
            f"unknown partially observed task {name!r}; valid choices: "
            + ", ".join(PREFIX + t for t in TASKS)
        )
    return task


def make(name: str):
    task = parse(name)
    if task == CUE_ROOM:
        return CueRoom()
    from plastix.envs.gymnax_env import GymnaxEnv

    return HiddenVelocities(GymnaxEnv(task), HIDDEN_VELOCITIES[task])


class HiddenVelocities:
    """A jittable environment that observes only the entries ``keep`` of its task's
    observation."""

    def __init__(self, env, keep: tuple[int, ...]):
        self.env, self.keep = env, jnp.asarray(keep)
        self.name = f"{PREFIX}{env.name}"
        space = env.observation_space
        self.observation_space = Box.from_bounds(
            [space.low[i] for i in keep], [space.high[i] for i in keep], (len(keep),)
        )
        self.action_space = env.action_space
        self.max_episode_steps = env.max_episode_steps

    def __repr__(self) -> str:
        return f"HiddenVelocities({self.env.name!r}, keep={tuple(self.keep.tolist())})"

    def reset(self, key):
        obs, state = self.env.reset(key)
        return obs[self.keep], state

    def step(self, key, state, action):
        timestep, state = self.env.step(key, state, action)
        return timestep.replace(
            obs=timestep.obs[self.keep], final_obs=timestep.final_obs[self.keep]
        ), state


@struct.dataclass
class CueState:
    pos: jax.Array
    goal: jax.Array
    t: jax.Array


MOVES = np.array([[0, 0], [0, -1], [0, 1], [-1, 0], [1, 0]], np.int32)


@dataclass(frozen=True)
class CueRoom:
    """Actions: 0 stay, 1 up, 2 down, 3 left, 4 right (into a wall: stay)."""

    size: int = 9
    horizon: int = 12
    """steps per episode: the cue step and 11 moves."""
    name: str = f"{PREFIX}{CUE_ROOM}"

    @property
    def observation_space(self):
        return Box.from_bounds(0.0, float(self.size - 1), (5,))

    @property
    def action_space(self):
        return Discrete(5)

    @property
    def max_episode_steps(self) -> int:
        return self.horizon

    def start(self):
        return jnp.array([self.size // 2, self.size // 2], jnp.int32)

    def observe(self, pos, goal, t):
        cue = t == 0
        shown = jnp.where(cue, goal, 0).astype(jnp.float32)
        return jnp.concatenate([pos.astype(jnp.float32), shown, cue.astype(jnp.float32)[None]])

    def draw_goal(self, key):
        """Uniform over the cells other than the start."""
        cells = self.size * self.size
        centre = (self.size // 2) * self.size + self.size // 2
        index = jax.random.randint(key, (), 0, cells - 1)
        index = jnp.where(index >= centre, index + 1, index)
        return jnp.stack([index % self.size, index // self.size]).astype(jnp.int32)

    def reset(self, key):
        return self.reset_to(self.draw_goal(key))

    def reset_to(self, goal):
        state = CueState(self.start(), jnp.asarray(goal, jnp.int32), jnp.int32(0))
        return self.observe(state.pos, state.goal, state.t), state

    def step(self, key, state: CueState, action):
        move = jnp.where(state.t == 0, 0, action)  # the cue step: stay whatever the action
        pos = jnp.clip(state.pos + jnp.asarray(MOVES)[move], 0, self.size - 1)
        t1 = state.t + 1
        terminated = jnp.all(pos == state.goal)
        truncated = (t1 >= self.horizon) & ~terminated
        final_obs = self.observe(pos, state.goal, t1)
        obs, fresh = self.reset(key)
        done = terminated | truncated
        new = jax.tree.map(lambda a, b: jnp.where(done, a, b), fresh, CueState(pos, state.goal, t1))
        obs = jnp.where(done, obs, final_obs)
        timestep = TimeStep(obs, terminated.astype(jnp.float32), terminated, truncated, final_obs)
        return timestep, new
