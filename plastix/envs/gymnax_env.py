"""gymnax environments in the plastix ``JaxEnv`` protocol (gymnax 1.x: six-value ``step``)."""

from __future__ import annotations

from typing import Any

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces as gymnax_spaces

from plastix.envs.base import TimeStep
from plastix.envs.spaces import Box, Discrete, Space
from plastix.errors import ConfigError

GYMNAX_IDS: tuple[str, ...] = tuple(gymnax.registered_envs)

# MinAtar games are also known by the name users type most often.
ALIASES: dict[str, str] = {
    f"MinAtar-{game}": f"{game}-MinAtar"
    for game in ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")
}


def convert_space(space: Any, what: str, env_name: str) -> Space:
    if isinstance(space, gymnax_spaces.Discrete):
        return Discrete(int(space.n))
    if isinstance(space, gymnax_spaces.Box):
        shape = tuple(space.shape) if space.shape else ()
        return Box.from_bounds(np.asarray(space.low), np.asarray(space.high), shape)
    raise ConfigError(
        f"{env_name}: its {what} space {type(space).__name__} is not supported "
        "(plastix supports Discrete and Box spaces)"
    )


class GymnaxEnv:
    """A gymnax environment with its parameters bound; pure and jittable."""

    def __init__(self, env_id: str, **param_overrides):
        self.name = ALIASES.get(env_id, env_id)
        self.env, params = gymnax.make(self.name)
        self.params = params.replace(**param_overrides) if param_overrides else params
        self.observation_space = convert_space(
            self.env.observation_space(self.params), "observation", self.name
        )
        self.action_space = convert_space(self.env.action_space(self.params), "action", self.name)
        self.max_episode_steps = int(self.params.max_steps_in_episode)

    def __repr__(self) -> str:
        return f"GymnaxEnv({self.name!r})"

    def reset(self, key: jax.Array):
        return self.reset_with(key, self.params)

    def step(self, key: jax.Array, state, action: jax.Array):
        return self.step_with(key, state, action, self.params)

    def reset_with(self, key: jax.Array, params):
        """``reset`` under other environment parameters (a pytree like ``self.params``)."""
        obs, state = self.env.reset(key, params)
        return jnp.asarray(obs, jnp.float32), state

    def step_with(self, key: jax.Array, state, action: jax.Array, params):
        """``step`` under other environment parameters."""
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        timestep = TimeStep(
            obs=jnp.asarray(obs, jnp.float32),
            reward=jnp.asarray(reward, jnp.float32),
            terminated=jnp.asarray(terminated, bool),
            truncated=jnp.logical_and(jnp.asarray(truncated, bool), ~jnp.asarray(terminated, bool)),
            final_obs=jnp.asarray(info["final_observation"], jnp.float32),
        )
        return timestep, state
