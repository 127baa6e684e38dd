"""Dark Room and Dark Key-to-Door (Laskin et al. 2022): grid tasks whose goal is hidden.

The observation is the agent's cell ``(x, y)`` only; the goal (or key and door) is the task and
never observed, so an agent must find it by exploring and then remember it — across episodes,
in context. Actions: 0 stay, 1 up, 2 down, 3 left, 4 right (moves into a wall stay put).

- ``DarkRoom``: ``size × size`` (9 × 9), start in the centre, reward 1 on every step spent on
  the goal, ``horizon`` steps per episode (20). 81 goals; the held-out split is every goal
  whose index ``y · size + x`` is a multiple of 5 (17 goals), the other 64 are for training.
- ``DarkKeyToDoor``: reward 1 the first time the agent reaches the key and 1 when it then
  reaches the door, which ends the episode; ``horizon`` 50. A task is a (key, door) pair of
  distinct cells; held out: pairs whose key index is a multiple of 5.

``reset(key)`` draws a training task; ``reset_to(key, task)`` starts a given one; ``tasks(split)``
lists a split (``"train"`` or ``"test"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from plastix.envs.base import TimeStep
from plastix.envs.spaces import Box, Discrete
from plastix.errors import require

MOVES = jnp.array([[0, 0], [0, -1], [0, 1], [-1, 0], [1, 0]], jnp.int32)
SPLITS = ("train", "test")


def held_out(index):
    """The held-out rule of every finite task family: an index that is a multiple of 5
    (``index`` may be an array)."""
    return index % 5 == 0


@struct.dataclass
class GridState:
    pos: jax.Array
    task: jax.Array
    """DarkRoom: the goal cell [2]; DarkKeyToDoor: key and door cells [4]."""
    has_key: jax.Array
    t: jax.Array


@dataclass(frozen=True)
class _Grid:
    size: int = 9
    horizon: int = 20
    uses_key = False  # a class constant, not a field

    def __post_init__(self):
        require(self.size >= 3, f"size must be >= 3, got {self.size}")
        require(self.horizon >= 1, f"horizon must be >= 1, got {self.horizon}")

    @property
    def observation_space(self):
        return Box.from_bounds(0.0, float(self.size - 1), (2,))

    @property
    def action_space(self):
        return Discrete(5)

    @property
    def max_episode_steps(self) -> int:
        return self.horizon

    def start(self):
        return jnp.array([self.size // 2, self.size // 2], jnp.int32)

    def observe(self, pos):
        return pos.astype(jnp.float32)

    def move(self, pos, action):
        return jnp.clip(pos + MOVES[action], 0, self.size - 1)

    def check_split(self, split: str):
        require(split in SPLITS, f"split must be one of {', '.join(SPLITS)}; got {split!r}")

    def reset(self, key):
        tasks = jnp.asarray(self.tasks("train"))
        return self.reset_to(key, tasks[jax.random.randint(key, (), 0, len(tasks))])

    def reset_to(self, key, task):
        pos = self.start()
        state = GridState(pos, jnp.asarray(task, jnp.int32), jnp.bool_(False), jnp.int32(0))
        return self.observe(pos), state


@dataclass(frozen=True)
class DarkRoom(_Grid):
    name: str = "DarkRoom-9x9"

    def tasks(self, split: str = "train") -> np.ndarray:
        """Goal cells ``[n, 2]`` of a split."""
        self.check_split(split)
        cells = [(i % self.size, i // self.size) for i in range(self.size**2)]
        keep = [c for i, c in enumerate(cells) if held_out(i) == (split == "test")]
        return np.array(keep, np.int32)

    def step(self, key, state: GridState, action):
        pos = self.move(state.pos, action)
        reward = jnp.all(pos == state.task).astype(jnp.float32)
        t1 = state.t + 1
        truncated = t1 >= self.horizon
        final_obs = self.observe(pos)
        pos = jnp.where(truncated, self.start(), pos)
        new = GridState(pos, state.task, state.has_key, jnp.where(truncated, 0, t1))
        return TimeStep(self.observe(pos), reward, jnp.bool_(False), truncated, final_obs), new


@dataclass(frozen=True)
class DarkKeyToDoor(_Grid):
    horizon: int = 50
    uses_key = True
    name: str = "DarkKeyToDoor-9x9"

    def tasks(self, split: str = "train") -> np.ndarray:
        """(key x, key y, door x, door y) ``[n, 4]`` of a split."""
        self.check_split(split)
        n = self.size**2
        out = [
            (k % self.size, k // self.size, d % self.size, d // self.size)
            for k in range(n)
            for d in range(n)
            if k != d and held_out(k) == (split == "test")
        ]
        return np.array(out, np.int32)

    def step(self, key, state: GridState, action):
        pos = self.move(state.pos, action)
        at_key = jnp.all(pos == state.task[:2])
        at_door = jnp.all(pos == state.task[2:])
        got_key = at_key & ~state.has_key
        opened = at_door & state.has_key
        reward = got_key.astype(jnp.float32) + opened.astype(jnp.float32)
        has_key = state.has_key | at_key
        t1 = state.t + 1
        terminated = opened
        truncated = (t1 >= self.horizon) & ~terminated
        done = terminated | truncated
        final_obs = self.observe(pos)
        pos = jnp.where(done, self.start(), pos)
        new = GridState(pos, state.task, jnp.where(done, False, has_key), jnp.where(done, 0, t1))
        return TimeStep(self.observe(pos), reward, terminated, truncated, final_obs), new
