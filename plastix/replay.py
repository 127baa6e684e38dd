"""A jittable ring buffer of transitions with O(batch) sampling and n-step returns.

Layout: every field is an array ``[capacity, num_envs, ...]``; one ``add`` writes one row (one
step of all environments). Sampling draws ``batch_size`` (time, env) pairs with ``randint`` and
gathers them, so its cost does not depend on the buffer size.

n-step returns are computed when sampling. For a start index ``t`` the window is
``t .. t+n-1`` of the same environment column; it stops at the first step that ends an episode
(terminated or truncated), so it never crosses an episode boundary::

    reward   = sum_{j<=k} gamma^j r_{t+j}
    next_obs = final observation of step t+k
    discount = gamma^(k+1) * (1 - terminated_{t+k})

where ``k`` is the last step of the window. A truncated episode therefore bootstraps from its
true final observation, a terminated one does not bootstrap. Only start indices with ``n``
stored successors are drawn, so a window never reads past the newest row.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Transition:
    obs: Any
    action: jax.Array
    reward: jax.Array
    next_obs: Any
    terminated: jax.Array
    truncated: jax.Array


@struct.dataclass
class Batch:
    """What an agent's update reads: ``target = reward + discount * V(next_obs)``."""

    obs: Any
    action: jax.Array
    reward: jax.Array
    next_obs: Any
    discount: jax.Array


@struct.dataclass
class ReplayBuffer:
    data: Any  # Transition rows (or a frame memory's FrameData); ``reward`` is [capacity, envs]
    position: jax.Array  # next row to write
    size: jax.Array  # rows holding data (<= capacity)

    @property
    def capacity(self) -> int:
        return self.data.reward.shape[0]

    @property
    def num_envs(self) -> int:
        return self.data.reward.shape[1]


def init_buffer(example: Transition, capacity: int) -> ReplayBuffer:
    """An empty buffer shaped like ``example`` (one row: leaves ``[num_envs, ...]``)."""
    data = jax.tree.map(
        lambda x: jnp.zeros((capacity,) + jnp.shape(x), jnp.asarray(x).dtype), example
    )
    return ReplayBuffer(data=data, position=jnp.int32(0), size=jnp.int32(0))


def add(buffer: ReplayBuffer, row: Transition) -> ReplayBuffer:
    data = jax.tree.map(
        lambda store, x: store.at[buffer.position].set(jnp.asarray(x, store.dtype)),
        buffer.data,
        row,
    )
    return buffer.replace(
        data=data,
        position=(buffer.position + 1) % buffer.capacity,
        size=jnp.minimum(buffer.size + 1, buffer.capacity),
    )


def window(buffer, start, env, n_step: int, gamma: float):
    """The n-step window of logical rows ``start`` (0: the oldest) of columns ``env``:
    ``(rows(offset), n-step reward, last offset, discount)``."""
    oldest = (buffer.position - buffer.size) % buffer.capacity

    def rows(offset):
        return (oldest + start + offset) % buffer.capacity

    batch_size = start.shape[0]
    window = rows(jnp.arange(n_step)[:, None])  # [n, batch]
    rewards = buffer.data.reward[window, env]
    ended = jnp.logical_or(buffer.data.terminated[window, env], buffer.data.truncated[window, env])
    # alive[j]: no episode end strictly before step j of the window.
    alive = jnp.cumprod(
        jnp.concatenate([jnp.ones((1, batch_size)), 1.0 - ended[:-1].astype(jnp.float32)]), axis=0
    )
    discounts = gamma ** jnp.arange(n_step, dtype=jnp.float32)[:, None]
    n_step_reward = jnp.sum(discounts * alive * rewards, axis=0)
    last = jnp.sum(alive, axis=0).astype(jnp.int32) - 1
    terminated = buffer.data.terminated[rows(last), env]
    discount = (gamma ** (last + 1).astype(jnp.float32)) * (1.0 - terminated.astype(jnp.float32))
    return rows, n_step_reward, last, discount


def gather(buffer: ReplayBuffer, start, env, n_step: int = 1, gamma: float = 0.99) -> Batch:
    """The n-step transitions starting at logical rows ``start`` of columns ``env``."""
    rows, reward, last, discount = window(buffer, start, env, n_step, gamma)
    first_row, last_row = rows(0), rows(last)
    return Batch(
        obs=jax.tree.map(lambda x: x[first_row, env], buffer.data.obs),
        action=buffer.data.action[first_row, env],
        reward=reward,
        next_obs=jax.tree.map(lambda x: x[last_row, env], buffer.data.next_obs),
        discount=discount,
    )


def draw(key, buffer, batch_size: int, low, high):
    """Uniform logical start rows in ``[low, high)`` and environment columns."""
    time_key, env_key = jax.random.split(key)
    start = jax.random.randint(time_key, (batch_size,), low, high)
    env = jax.random.randint(env_key, (batch_size,), 0, buffer.num_envs)
    return start, env


def sample(
    buffer: ReplayBuffer, key: jax.Array, batch_size: int, n_step: int = 1, gamma: float = 0.99
) -> Batch:
    """Draws ``batch_size`` n-step transitions uniformly; needs ``size >= n_step``."""
    start, env = draw(key, buffer, batch_size, 0, buffer.size - n_step + 1)
    return gather(buffer, start, env, n_step, gamma)


def cut(buffer: ReplayBuffer, obs) -> ReplayBuffer:
    """The newest row's episodes were cut off (a resumed run that starts fresh episodes):
    its rows that did not end an episode become truncations whose next observation is ``obs``."""
    newest = (buffer.position - 1) % buffer.capacity
    d = buffer.data
    open_ = ~(d.terminated[newest] | d.truncated[newest]) & (buffer.size > 0)
    mask = lambda x: open_.reshape(open_.shape + (1,) * (x.ndim - 2))  # noqa: E731
    data = d.replace(
        truncated=d.truncated.at[newest].set(d.truncated[newest] | open_),
        next_obs=jax.tree.map(
            lambda x, o: x.at[newest].set(jnp.where(mask(x), jnp.asarray(o, x.dtype), x[newest])),
            d.next_obs,
            obs,
        ),
    )
    return buffer.replace(data=data)


class Transitions:
    """The plain memory: every transition stores its observation and next observation."""

    extra_rows = 0

    def init(self, example: Transition, capacity: int) -> ReplayBuffer:
        return init_buffer(example, capacity)

    def add(self, buffer, row: Transition, first) -> ReplayBuffer:
        return add(buffer, row)

    def sample(self, buffer, key, batch_size: int, n_step: int, gamma: float) -> Batch:
        return sample(buffer, key, batch_size, n_step, gamma)

    def cut(self, buffer, obs):
        return cut(buffer, obs)
