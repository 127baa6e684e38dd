"""The two environment kinds plastix trains on.

``JaxEnv``: a pure, jittable environment in the gymnax style. ``reset(key)`` and
``step(key, state, action)`` are pure functions, so the whole training loop compiles into one
program and seeds are a ``vmap``.

``HostEnv``: a batch of environments stepped on the host (Gymnasium vector environments). The
training loop calls the compiled agent between host steps.

Both report the same ``TimeStep``: after a step that ends an episode, ``obs`` is already the
first observation of the next episode and ``final_obs`` is the true last observation of the
ended one, which is what a transition must store as its next observation. ``terminated``
(the MDP ended: do not bootstrap) and ``truncated`` (a time limit cut the episode: do bootstrap
from ``final_obs``) are kept apart.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax
from flax import struct

from plastix.envs.spaces import Space


@struct.dataclass
class TimeStep:
    obs: Any
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: Any
    life_loss: Any = None
    """an end for learning only, the episode goes on (Atari's lost life); None: never."""


@runtime_checkable
class JaxEnv(Protocol):
    """A jittable environment; ``name``, spaces and ``max_episode_steps`` are static."""

    name: str
    observation_space: Space
    action_space: Space
    max_episode_steps: int

    def reset(self, key: jax.Array) -> tuple[Any, Any]:
        """Returns ``(obs, state)`` for one environment."""
        ...

    def step(self, key: jax.Array, state: Any, action: jax.Array) -> tuple[TimeStep, Any]:
        """Steps one environment, resetting it automatically when the episode ends."""
        ...


class HostEnv(Protocol):
    """``num_envs`` environments stepped together on the host, arrays batched on axis 0."""

    name: str
    observation_space: Space
    action_space: Space
    num_envs: int

    def reset(self, seed: int) -> Any: ...

    def step(self, action) -> TimeStep: ...

    def close(self) -> None: ...
