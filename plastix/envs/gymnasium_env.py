"""Gymnasium environments stepped on the host, and gymnax environments seen as Gymnasium ones.

plastix builds its own ``SyncVectorEnv`` in ``SAME_STEP`` autoreset mode: the step that ends an
episode returns the next episode's first observation, and the true final observation arrives in
``info["final_obs"]``. Transitions store that final observation as their next observation, so
no transition ever crosses an episode boundary (the pitfall of the default ``NEXT_STEP`` mode,
whose extra step after each episode end must be thrown away).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import gymnasium as gym
import jax
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from plastix.envs.base import TimeStep
from plastix.envs.spaces import Box, Discrete, Space
from plastix.errors import ConfigError


def convert_space(space: gym.Space, what: str, env_name: str) -> Space:
    if isinstance(space, gym.spaces.Discrete):
        if int(space.start) != 0:
            raise ConfigError(
                f"{env_name}: Discrete {what} space starting at {space.start} is not supported "
                "(plastix numbers actions from 0)"
            )
        return Discrete(int(space.n))
    if isinstance(space, gym.spaces.Box):
        dtype = np.uint8 if space.dtype == np.uint8 else np.float32
        return Box.from_bounds(space.low, space.high, space.shape, dtype)
    raise ConfigError(
        f"{env_name}: its {what} space {type(space).__name__} is not supported "
        "(plastix supports Discrete and Box spaces)"
    )


class GymnasiumEnv:
    """``num_envs`` copies of a Gymnasium environment, stepped together on the host.

    ``env`` is a ``gymnasium.make`` id, a ``gymnasium.Env`` instance (deep-copied once per copy)
    or a function returning a new ``gymnasium.Env`` (named ``name``).

    Observations keep the dtype their space declares when it is ``uint8`` (images), else they
    are ``float32``. An environment may report ``info["life_loss"]`` (Atari): the step is then
    an episode end for learning only (``TimeStep.life_loss``), the episode goes on. One with a
    ``frame_stack`` attribute promises stacks of that many frames on the last axis, padded at an
    episode's start by repeating its first frame (the replay buffer stores each frame once).
    """

    def __init__(
        self,
        env: str | gym.Env | Callable[[], gym.Env],
        num_envs: int = 1,
        name: str | None = None,
    ):
        if isinstance(env, str):
            self.name = env
            factory = lambda: gym.make(env)  # noqa: E731
        elif isinstance(env, gym.Env):
            self.name = env.spec.id if env.spec is not None else type(env).__name__
            factory = lambda: copy.deepcopy(env)  # noqa: E731
        elif callable(env):
            self.name = name or getattr(env, "__name__", "custom")
            factory = env
        else:
            raise TypeError(f"cannot make a Gymnasium environment from {env!r}")
        self.num_envs = int(num_envs)
        self.vector_env = SyncVectorEnv(
            [factory for _ in range(self.num_envs)], autoreset_mode=AutoresetMode.SAME_STEP
        )
        self.observation_space = convert_space(
            self.vector_env.single_observation_space, "observation", self.name
        )
        self.action_space = convert_space(self.vector_env.single_action_space, "action", self.name)
        single = self.vector_env.envs[0].unwrapped
        self.frame_stack = getattr(single, "frame_stack", None)
        self.max_episode_steps = getattr(single, "max_episode_steps", None)
        self._dtype = np.uint8 if self.observation_space.dtype_name == "uint8" else np.float32

    def __repr__(self) -> str:
        return f"GymnasiumEnv({self.name!r}, num_envs={self.num_envs})"

    def reset(self, seed: int | list[int]) -> np.ndarray:
        """Resets every copy; copy ``i`` gets ``seed + i``, or ``seed[i]`` for a list."""
        seeds = (
            list(seed)
            if isinstance(seed, (list, tuple))
            else [seed + i for i in range(self.num_envs)]
        )
        obs, _ = self.vector_env.reset(seed=seeds)
        return np.asarray(obs, self._dtype)

    def step(self, action) -> TimeStep:
        action = np.asarray(action)
        if isinstance(self.action_space, Discrete):
            action = action.astype(np.int64)
        obs, reward, terminated, truncated, info = self.vector_env.step(action)
        obs = np.asarray(obs, self._dtype)
        final_obs = obs.copy()
        if "final_obs" in info:
            for i in np.flatnonzero(info["_final_obs"]):
                final_obs[i] = np.asarray(info["final_obs"][i], self._dtype)
        terminated = np.asarray(terminated, bool)
        life_loss = None
        if "life_loss" in info:
            life_loss = np.asarray(info["life_loss"], bool) & np.asarray(info["_life_loss"], bool)
        return TimeStep(
            obs=obs,
            reward=np.asarray(reward, np.float32),
            terminated=terminated,
            truncated=np.asarray(truncated, bool) & ~terminated,
            final_obs=final_obs,
            life_loss=life_loss,
        )

    def close(self) -> None:
        self.vector_env.close()


class GymnaxAsGymnasium(gym.Env):
    """A gymnax environment behind the Gymnasium ``Env`` interface.

    Its random keys follow the ``JaxEnv`` path exactly: each ``step`` draws
    ``key = split(self.key)`` and gymnax splits that into a step key and a reset key; the
    automatic reset that follows an episode end uses that reset key. Stepping both paths with
    the same actions therefore gives the same transitions, which is what the differential test
    checks.
    """

    def __init__(self, env_id: str):
        from plastix.envs.gymnax_env import GymnaxEnv

        self.jax_env = GymnaxEnv(env_id)
        self.spec = None
        self.observation_space = _to_gym_space(self.jax_env.observation_space)
        self.action_space = _to_gym_space(self.jax_env.action_space)
        self._key = jax.random.key(0)
        self._pending_reset_key = None
        self._state = None
        inner, params = self.jax_env.env, self.jax_env.params
        self._reset_env = jax.jit(lambda k: inner.reset_env(k, params))

        def step_env(key, state, action):
            obs, state, reward, terminated, _ = inner.step_env(key, state, action, params)
            return obs, state, reward, terminated, inner.is_truncated(state, params)

        self._step_env = jax.jit(step_env)

    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self._key = jax.random.key(seed)
            self._key, reset_key = jax.random.split(self._key)
        else:
            reset_key = self._pending_reset_key
            if reset_key is None:
                self._key, reset_key = jax.random.split(self._key)
        obs, self._state = self._reset_env(reset_key)
        return np.asarray(obs, np.float32), {}

    def step(self, action):
        self._key, key = jax.random.split(self._key)
        step_key, self._pending_reset_key = jax.random.split(key)
        obs, self._state, reward, terminated, truncated = self._step_env(
            step_key, self._state, np.asarray(action)
        )
        return (np.asarray(obs, np.float32), float(reward), bool(terminated), bool(truncated), {})


def _to_gym_space(space: Space) -> gym.Space:
    if isinstance(space, Discrete):
        return gym.spaces.Discrete(space.n)
    return gym.spaces.Box(
        np.asarray(space.low, np.float32).reshape(space.shape),
        np.asarray(space.high, np.float32).reshape(space.shape),
        dtype=np.float32,
    )
