"""Environments: one protocol, adapters for gymnax and Gymnasium, and ``make_env``."""

from __future__ import annotations

import difflib
import functools

import gymnasium as gym
import jax
import numpy as np

from plastix.envs import atari, dmc, mjx, pomdp
from plastix.envs.base import HostEnv, JaxEnv, TimeStep
from plastix.envs.continual import ContinualEnv, Scenario, make_scenario, pinned, scenario_of
from plastix.envs.gymnasium_env import GymnasiumEnv, GymnaxAsGymnasium
from plastix.envs.gymnax_env import ALIASES, GYMNAX_IDS, GymnaxEnv
from plastix.envs.spaces import Box, Discrete, Space
from plastix.errors import ConfigError

GYMNASIUM_PREFIX = "gymnasium:"

__all__ = [
    "Box",
    "ContinualEnv",
    "Scenario",
    "Discrete",
    "EnvNotFoundError",
    "GymnasiumEnv",
    "GymnaxAsGymnasium",
    "GymnaxEnv",
    "HostEnv",
    "JaxEnv",
    "Space",
    "TimeStep",
    "check_observations",
    "env_choices",
    "host_env",
    "is_host_id",
    "is_jittable",
    "make_env",
    "make_run_env",
    "pinned",
    "scenario_of",
]


class EnvNotFoundError(ValueError):
    """An environment name that names no environment plastix can make."""


def env_choices() -> list[str]:
    """The jittable environment ids; any Gymnasium id works as ``gymnasium:ID``."""
    return sorted(set(GYMNAX_IDS) | set(ALIASES) | {pomdp.PREFIX + t for t in pomdp.TASKS})


HOST_PREFIXES = (GYMNASIUM_PREFIX, *dmc.PREFIXES, atari.PREFIX)
"""ids of environments stepped on the host: Gymnasium, DeepMind Control, Atari."""


def is_host_id(name) -> bool:
    return isinstance(name, str) and name.startswith(HOST_PREFIXES)


def host_factory(name: str):
    """``(name, factory)`` of a host environment id: ``factory()`` makes one ``gymnasium.Env``.
    The factory can be pickled (a ``partial``, not a closure), so the vector of environments can
    be too, and a resumed run continues their episodes exactly."""
    if dmc.is_dmc(name):
        spec = dmc.parse(name)
        return spec.name, functools.partial(dmc.DMCEnv, spec)
    if atari.is_atari(name):
        game = atari.parse(name)
        return f"{atari.PREFIX}{game}", functools.partial(atari.AtariEnv, game)
    gym_id = name[len(GYMNASIUM_PREFIX) :] if name.startswith(GYMNASIUM_PREFIX) else name
    return gym_id, functools.partial(gym.make, gym_id)


def host_env(spec, num_envs: int) -> GymnasiumEnv:
    """``num_envs`` copies of a host environment: an id (``gymnasium:``, ``dmc:``,
    ``dmc-pixels:``, ``atari:``), a ``gymnasium.Env`` or a function making one."""
    if isinstance(spec, str):
        name, factory = host_factory(spec)
        return GymnasiumEnv(factory, num_envs=num_envs, name=name)
    if isinstance(spec, GymnasiumEnv):
        raise ConfigError("pass a Gymnasium id or gymnasium.Env, not a built GymnasiumEnv")
    return GymnasiumEnv(spec, num_envs=num_envs)


def check_env_name(name: str) -> None:
    """Raises ``EnvNotFoundError`` naming the valid choices, without building anything."""
    if dmc.is_dmc(name):
        dmc.parse(name)
        return
    if mjx.is_mjx(name):
        mjx.parse(name)
        return
    if pomdp.is_pomdp(name):
        pomdp.parse(name)
        return
    if atari.is_atari(name):
        atari.parse(name)
        return
    if name.startswith(GYMNASIUM_PREFIX):
        gym_id = name[len(GYMNASIUM_PREFIX) :]
        if gym_id not in gym.registry:
            close = difflib.get_close_matches(gym_id, list(gym.registry), n=5)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise EnvNotFoundError(
                f"unknown Gymnasium environment {gym_id!r}.{hint} Registered ids are listed by "
                "`python -c 'import gymnasium; gymnasium.pprint_registry()'`."
            )
        return
    if name not in GYMNAX_IDS and name not in ALIASES:
        close = difflib.get_close_matches(name, env_choices(), n=3)
        close += [
            f"{GYMNASIUM_PREFIX}{g}" for g in difflib.get_close_matches(name, gym.registry, n=2)
        ]
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise EnvNotFoundError(
            f"unknown environment {name!r}.{hint} Valid choices: {', '.join(env_choices())}; "
            "DeepMind Control as dmc:DOMAIN-TASK or dmc-pixels:DOMAIN-TASK (e.g. "
            "dmc:walker-walk), MuJoCo Playground's jittable DM Control as mjx:TASK (e.g. "
            "mjx:CartpoleSwingup), Atari 100k as atari:GAME (e.g. atari:Pong), "
            f"or any Gymnasium id as '{GYMNASIUM_PREFIX}ID' "
            f"(e.g. {GYMNASIUM_PREFIX}LunarLander-v3)."
        )


def make_env(env, num_envs: int = 1) -> JaxEnv | HostEnv:
    """Builds an environment from a name, a ``gymnasium.Env`` or an existing plastix env.

    Names of gymnax environments (``CartPole-v1``, ``Breakout-MinAtar`` or ``MinAtar-Breakout``,
    ...) give a jittable ``GymnaxEnv``; ``gymnasium:ID`` gives a host-stepped ``GymnasiumEnv`` of
    ``num_envs`` copies, and so do ``dmc:DOMAIN-TASK``, ``dmc-pixels:DOMAIN-TASK``
    (``plastix.envs.dmc``), ``atari:GAME`` (``plastix.envs.atari``) and a ``gymnasium.Env``
    instance; ``mjx:TASK`` gives a jittable MuJoCo Playground task (``plastix.envs.mjx``) and
    ``pomdp:TASK`` a jittable partially observed one (``plastix.envs.pomdp``).
    """
    if isinstance(env, str):
        check_env_name(env)
        if is_host_id(env):
            return host_env(env, num_envs)
        if mjx.is_mjx(env):
            return mjx.MjxEnv(env)
        if pomdp.is_pomdp(env):
            return pomdp.make(env)
        return GymnaxEnv(env)
    if isinstance(env, gym.Env):
        return GymnasiumEnv(env, num_envs=num_envs)
    if isinstance(env, GymnasiumEnv):
        return env
    if isinstance(env, JaxEnv):
        return env
    raise TypeError(
        f"cannot make an environment from {type(env).__name__}: pass an id (str), a "
        "gymnasium.Env, or an object with the plastix JaxEnv interface"
    )


def make_run_env(env, run, stride: int, align=None) -> JaxEnv | HostEnv:
    """The environment of a run: ``env`` (``make_env``), or ``run``'s continual scenario on it
    with ``stride`` copies stepping together (0: whole batches of episodes pinned to a task)
    and switches between iterations of ``align = (steps, what)``."""
    if run.scenario == "none":
        return make_env(env, num_envs=1)
    if not isinstance(env, str):
        raise ConfigError(
            "a scenario is built from an environment id (a gymnax id such as CartPole-v1 or "
            f"MinAtar-Breakout), not from a {type(env).__name__} object"
        )
    check_env_name(env)
    return make_scenario(
        run.scenario, ALIASES.get(env, env), run.switch_every, run.scenario_tasks, stride, align
    )


def check_observations(env) -> None:
    """Checks, before anything is built on it, that the environment's first observation has
    the shape, a numeric type and (for a host environment) the bounds its observation space
    declares; a ``ConfigError`` names what differs."""
    space = env.observation_space
    if isinstance(env, GymnasiumEnv):
        single = env.vector_env.envs[0]
        try:
            obs, _ = single.reset(seed=0)
        except Exception as e:  # the user's environment failing: name it
            raise ConfigError(f"{env.name}: reset() failed: {type(e).__name__}: {e}") from None
        obs = np.asarray(obs)
        declared = env.vector_env.single_observation_space
        low, high = np.asarray(declared.low), np.asarray(declared.high)
    else:
        try:
            obs, _ = jax.eval_shape(env.reset, jax.random.key(0))
        except Exception as e:
            raise ConfigError(f"{env.name}: reset() failed: {type(e).__name__}: {e}") from None
        low = high = None
    if tuple(obs.shape) != tuple(space.shape):
        raise ConfigError(
            f"{env.name}: reset() returns observations of shape {tuple(obs.shape)}, but its "
            f"observation space says {tuple(space.shape)}"
        )
    if not (np.issubdtype(obs.dtype, np.number) or obs.dtype == bool):
        raise ConfigError(f"{env.name}: observations must be numbers, got dtype {obs.dtype}")
    if low is not None:
        outside = (obs < low) | (obs > high)
        if outside.any():
            i = np.unravel_index(int(np.flatnonzero(outside)[0]), obs.shape)
            raise ConfigError(
                f"{env.name}: its first observation lies outside its observation space at "
                f"{int(outside.sum())} of {obs.size} entries (entry {tuple(map(int, i))}: "
                f"{obs[i]} not in [{low[i]}, {high[i]}])"
            )


def is_jittable(env) -> bool:
    return isinstance(env, JaxEnv) and not isinstance(env, GymnasiumEnv)
