"""DeepMind Control Suite tasks of MuJoCo Playground (Zakka et al. 2025) on MJX, jittable, so
state-based control runs inside the compiled, seed-vmapped training loop (on a GPU above all).

``mjx:CartpoleSwingup`` is Playground's ``CartpoleSwingup`` with ``impl='jax'`` (MJX in JAX;
Playground's default, Warp, needs an NVIDIA GPU). Episodes last Playground's
``episode_length`` (1000 control steps) and end as a truncation (bootstrapped), as dm_control's
time limit; a state Playground marks ``done`` (its physics diverged) ends as a termination.
Options after commas: ``mjx:CartpoleSwingup,repeat=2`` repeats each action (the episode is
still 1000 control steps of physics, so 500 agent steps). Install: ``pip install -e ".[mjx]"``.

Playground's suite is a port, not dm_control itself: its tasks keep dm_control's rewards and
observations but use their own XML (e.g. fewer solver iterations, other contact settings and
timesteps for speed), so returns are close to, not the same as, ``dmc:`` returns; the physics
differences are listed in Playground's paper (arXiv 2502.08844, appendix on the DM Control
Suite) and ``docs/domains.md`` reports one measured comparison.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from plastix.envs.base import TimeStep
from plastix.envs.dmc import int_options
from plastix.envs.spaces import Box
from plastix.errors import ConfigError

PREFIX = "mjx:"
OPTIONS = ("repeat",)


def is_mjx(name) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def registry():
    try:
        from mujoco_playground import registry as playground
    except ImportError as e:
        raise ConfigError(
            f"mjx: environments need MuJoCo Playground ({e}); install it with "
            'pip install -e ".[mjx]"'
        ) from None
    return playground


@dataclass(frozen=True)
class MjxSpec:
    task: str
    repeat: int = 1

    @property
    def name(self) -> str:
        return PREFIX + self.task + (f",repeat={self.repeat}" if self.repeat != 1 else "")


def tasks() -> list[str]:
    """Playground's DM Control Suite tasks."""
    return list(registry().dm_control_suite.ALL_ENVS)


def parse(name: str) -> MjxSpec:
    """``mjx:TASK[,repeat=N]`` checked against Playground's DM Control Suite."""
    task, *options = name[len(PREFIX) :].split(",")
    choices = tasks()
    if task not in choices:
        close = difflib.get_close_matches(task, choices, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown mjx task {task!r}.{hint} Valid choices: {', '.join(choices)}")
    return MjxSpec(task, **int_options(name, options, OPTIONS))


class MjxEnv:
    """One Playground task in the plastix ``JaxEnv`` protocol; pure and jittable."""

    def __init__(self, name: str | MjxSpec):
        self.spec = parse(name) if isinstance(name, str) else name
        self.name = self.spec.name
        playground = registry()
        self.env = playground.load(self.spec.task, config_overrides={"impl": "jax"})
        length = int(playground.get_default_config(self.spec.task).episode_length)
        self.max_episode_steps = -(-length // self.spec.repeat)
        size = self.env.observation_size
        if not isinstance(size, int):
            raise ConfigError(f"{self.name}: dict observations ({size}) are not supported")
        self.observation_space = Box.from_bounds(-np.inf, np.inf, (size,))
        self.action_space = Box.from_bounds(-1.0, 1.0, (self.env.action_size,))
        # the loop's state holds Playground's state as its leaves (a checkpoint serialises
        # arrays, not MJX's own classes)
        self._treedef = jax.tree.structure(jax.eval_shape(self.env.reset, jax.random.key(0)))

    def __repr__(self) -> str:
        return f"MjxEnv({self.name!r})"

    def reset(self, key: jax.Array):
        state = self.env.reset(key)
        return state.obs.astype(jnp.float32), (tuple(jax.tree.leaves(state)), jnp.int32(0))

    def step(self, key: jax.Array, state, action: jax.Array):
        leaves, t = state
        inner = jax.tree.unflatten(self._treedef, list(leaves))
        reward = jnp.float32(0.0)
        for _ in range(self.spec.repeat):  # a done state stops adding reward
            alive = inner.done == 0
            inner = self.env.step(inner, action)
            reward = reward + jnp.where(alive, inner.reward, 0.0)
        t = t + 1
        terminated = inner.done > 0
        truncated = (t >= self.max_episode_steps) & ~terminated
        ended = terminated | truncated
        fresh = self.env.reset(key)
        after = jax.tree.map(lambda a, b: jnp.where(ended, a, b), fresh, inner)
        timestep = TimeStep(
            obs=after.obs.astype(jnp.float32),
            reward=reward.astype(jnp.float32),
            terminated=terminated,
            truncated=truncated,
            final_obs=inner.obs.astype(jnp.float32),
        )
        return timestep, (tuple(jax.tree.leaves(after)), jnp.where(ended, 0, t))
