"""Continual-learning scenarios: one jittable environment whose task changes every ``every``
environment steps, inside the compiled loop.

Task 0 is the run's environment as it is; the tasks that follow depend on the kind:

- ``permuted``: task ``k`` shows the observation through a fixed random permutation of its
  entries (the features of a vector; the pixel positions of an image, channels kept), a new one
  per task, forever (Dohare et al. 2024's permuted inputs). The permutations are the same in
  every run: they define the problem, like the task order.
- ``sequence``: the run's environment, then each gymnax id of ``tasks``, cycled (MinAtar games
  in sequence, Abbas et al. 2023). Observations are zero-padded on their last axis (channels)
  to the widest; MinAtar games act on MinAtar's full set of six actions, where an action a
  game does not use does nothing (as in MinAtar itself); other sequences need one action space.
- ``dynamics``: the run's environment, then the same environment with each parameter override
  of ``tasks`` (``"length=1.0,masspole=0.2"``), cycled (gymnax's environment parameters; on
  CartPole the derived ``total_mass`` and ``polemass_length`` follow their parts).

The clock: every environment copy's state carries the run's environment-step count, advanced
by ``stride`` per step (the number of copies that step together), so a copy at step ``t`` is
in task ``t // every``: every copy of every seed switches at exactly the same step. A switch
truncates the running episode (its last transition is bootstrapped, its return logged) and
starts one in the new task. ``pinned(env, clock)`` is the environment held in the task of
``clock`` (evaluation, diagnostics, REINFORCE's batches of whole episodes).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from plastix.envs.gymnax_env import ALIASES, GYMNAX_IDS, GymnaxEnv
from plastix.envs.spaces import Box, Discrete
from plastix.errors import ConfigError

KINDS = ("permuted", "sequence", "dynamics")

MINATAR_ACTIONS = 6
"""MinAtar's full action set: no-op, left, up, right, down, fire."""

PERMUTATION_KEY = 20240821
"""the fixed key of the permutations of ``permuted`` (the same problem in every run)."""


def _cartpole(params):
    return params.replace(
        total_mass=params.masscart + params.masspole,
        polemass_length=params.masspole * params.length,
    )


DERIVED = {"CartPole-v1": (_cartpole, ("total_mass", "polemass_length"))}
"""parameters computed from others, recomputed after an override unless set themselves."""


@struct.dataclass
class ContinualState:
    inner: Any
    """the environment's state (for ``sequence``, one per distinct task)."""
    task: jax.Array
    """the index of the task in the sequence (0, 1, 2, ... however many tasks repeat)."""
    clock: jax.Array
    """the run's environment steps at this copy's next step."""


@dataclasses.dataclass(frozen=True)
class Scenario:
    """What a scenario is, static: its kind, its interval and its distinct tasks."""

    kind: str
    every: int
    tasks: tuple[str, ...]
    """names of the distinct tasks, in order (``permuted``: the first only)."""

    @property
    def cycle(self) -> int | None:
        """How many distinct tasks repeat (None: a new one every time)."""
        return None if self.kind == "permuted" else len(self.tasks)

    def task_name(self, task: int) -> str:
        if self.kind == "permuted":
            return self.tasks[0] if task == 0 else f"{self.tasks[0]} permutation {task}"
        return self.tasks[task % len(self.tasks)]

    def describe(self) -> str:
        order = "permuted anew each task" if self.kind == "permuted" else " → ".join(self.tasks)
        return f"{self.kind}: {order}, switching every {self.every:,} steps"


class ContinualEnv:
    """A ``JaxEnv`` of a scenario; ``stride`` copies step together (0: the task never moves)."""

    def __init__(self, scenario: Scenario, envs: list[GymnaxEnv], params, stride: int):
        self.scenario = scenario
        self.envs = envs
        self.params = params  # dynamics: the parameters of each task, stacked
        self.stride = int(stride)
        self.start = 0  # the clock of a reset
        self.every = scenario.every
        self.name = f"{envs[0].name} ({scenario.kind})"
        first = envs[0]
        self.max_episode_steps = max(e.max_episode_steps for e in envs)
        if scenario.kind == "sequence":
            self.observation_space, self.action_space = _sequence_spaces(envs)
            self._minatar = isinstance(self.action_space, Discrete) and all(
                e.name.endswith("-MinAtar") for e in envs
            )
            if self._minatar:
                self.action_space = Discrete(MINATAR_ACTIONS)
        else:
            self.observation_space, self.action_space = first.observation_space, first.action_space
        self._shape = tuple(self.observation_space.shape)

    def __repr__(self) -> str:
        return f"ContinualEnv({self.scenario.describe()!r})"

    def pinned(self, clock) -> ContinualEnv:
        """This scenario held in the task of ``clock`` (a traced value is fine): resets start
        there and steps never switch."""
        env = copy.copy(self)
        env.stride, env.start = 0, clock
        return env

    def task_of(self, clock):
        return jnp.asarray(clock, jnp.int32) // self.every

    # the tasks ---------------------------------------------------------------------------------

    def _observe(self, obs, task):
        kind = self.scenario.kind
        if kind == "permuted":
            return _permute(obs, task)
        if kind == "sequence":
            pad = self._shape[-1] - obs.shape[-1]
            return jnp.pad(obs, [(0, 0)] * (obs.ndim - 1) + [(0, pad)]) if pad else obs
        return obs

    def _reset_task(self, key, task):
        kind = self.scenario.kind
        if kind == "sequence":
            keys = jax.random.split(key, len(self.envs))
            pairs = [e.reset(k) for e, k in zip(self.envs, keys, strict=True)]
            which = task % len(self.envs)
            obs = [self._observe(o, task) for o, _ in pairs]
            return _select(which, obs), tuple(s for _, s in pairs)
        if kind == "dynamics":
            params = jax.tree.map(lambda p: p[task % len(self.scenario.tasks)], self.params)
            obs, inner = self.envs[0].reset_with(key, params)
            return obs, inner
        obs, inner = self.envs[0].reset(key)
        return self._observe(obs, task), inner

    def _step_task(self, key, inner, action, task):
        kind = self.scenario.kind
        if kind == "sequence":
            which = task % len(self.envs)
            steps, states = [], []
            for i, env in enumerate(self.envs):
                a = _minatar_action(env, action) if self._minatar else action
                ts, s = env.step(key, inner[i], a)
                ts = ts.replace(
                    obs=self._observe(ts.obs, task), final_obs=self._observe(ts.final_obs, task)
                )
                steps.append(ts)
                # only the current task's game moves; the others wait for their turn
                states.append(
                    jax.tree.map(lambda new, old, i=i: jnp.where(which == i, new, old), s, inner[i])
                )
            return _select(which, steps), tuple(states)
        if kind == "dynamics":
            params = jax.tree.map(lambda p: p[task % len(self.scenario.tasks)], self.params)
            return self.envs[0].step_with(key, inner, action, params)
        ts, inner = self.envs[0].step(key, inner, action)
        return ts.replace(obs=_permute(ts.obs, task), final_obs=_permute(ts.final_obs, task)), inner

    # the JaxEnv protocol -----------------------------------------------------------------------

    def reset(self, key: jax.Array):
        return self.reset_at(key, self.start)

    def reset_at(self, key: jax.Array, clock):
        clock = jnp.asarray(clock, jnp.int32)
        task = self.task_of(clock)
        obs, inner = self._reset_task(key, task)
        return obs, ContinualState(inner, task, clock)

    def step(self, key: jax.Array, state: ContinualState, action):
        step_key, reset_key = jax.random.split(key)
        ts, inner = self._step_task(step_key, state.inner, action, state.task)
        if not self.stride:  # pinned
            return ts, state.replace(inner=inner)
        clock = state.clock + self.stride
        task = self.task_of(clock)
        switched = task != state.task
        obs, fresh = self._reset_task(reset_key, task)
        inner = jax.tree.map(lambda a, b: jnp.where(switched, a, b), fresh, inner)
        ts = ts.replace(
            obs=jnp.where(switched, obs, ts.obs),
            truncated=ts.truncated | (switched & ~ts.terminated),
        )
        return ts, ContinualState(inner, task, clock)


def pinned(env, clock):
    """``env`` held in the task of ``clock`` when it is a scenario; itself otherwise."""
    return env.pinned(clock) if isinstance(env, ContinualEnv) else env


def scenario_of(env) -> Scenario | None:
    return env.scenario if isinstance(env, ContinualEnv) else None


# building -------------------------------------------------------------------------------------


def make_scenario(
    kind: str,
    env_id: str,
    every: int,
    tasks: tuple[str, ...],
    stride: int,
    align: tuple[int, str] | None = None,
):
    """The ``ContinualEnv`` of a scenario on ``env_id`` (a gymnax id) with ``stride`` copies
    stepping together; ``align``: ``(steps, what)``, the steps of one iteration of the
    program, which switches must fall between. Every problem is named before anything is
    built."""
    if kind not in KINDS:
        raise ConfigError(f"unknown scenario {kind!r}; valid choices: none, {', '.join(KINDS)}")
    if env_id not in GYMNAX_IDS and env_id not in ALIASES:
        raise ConfigError(
            f"scenarios run inside the compiled loop, on jittable environments (gymnax ids, "
            f"e.g. CartPole-v1 or MinAtar-Breakout); {env_id!r} is not one"
        )
    if every < 1:
        raise ConfigError(f"a scenario needs switch_every >= 1 environment steps, got {every}")
    if stride and every % stride:
        raise ConfigError(
            f"switch_every ({every}) must be a multiple of the {stride} environment copies that "
            "step together, so every task has exactly switch_every steps"
        )
    if align is not None and every % align[0]:
        raise ConfigError(
            f"switch_every ({every}) must be a multiple of {align[0]} ({align[1]}: one "
            "iteration), so every switch falls between iterations, where the task that ended "
            "is evaluated"
        )
    first = GymnaxEnv(env_id)
    if kind == "permuted":
        if tasks:
            raise ConfigError(
                "a permuted scenario takes no scenario_tasks (each task is a new permutation "
                f"of {first.name}'s observations); got {', '.join(tasks)}"
            )
        return ContinualEnv(Scenario(kind, every, (first.name,)), [first], None, stride)
    if not tasks:
        what = "gymnax ids" if kind == "sequence" else "parameter overrides like length=1.0"
        raise ConfigError(
            f"a {kind} scenario needs scenario_tasks: the tasks after {env_id} ({what})"
        )
    if kind == "sequence":
        bad = [t for t in tasks if t not in GYMNAX_IDS and t not in ALIASES]
        if bad:
            raise ConfigError(
                f"sequence tasks must be gymnax ids; unknown: {', '.join(bad)} (valid: "
                f"{', '.join(sorted(set(GYMNAX_IDS) | set(ALIASES)))})"
            )
        envs = [first] + [GymnaxEnv(t) for t in tasks]
        _sequence_spaces(envs)  # refuses spaces that cannot share one network
        names = tuple(e.name for e in envs)
        return ContinualEnv(Scenario(kind, every, names), envs, None, stride)
    overrides = [parse_overrides(first, text) for text in tasks]
    params = [first.params] + [_with(first, o) for o in overrides]
    stacked = jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *params)
    names = (first.name,) + tuple(f"{first.name} {t}" for t in tasks)
    return ContinualEnv(Scenario(kind, every, names), [first], stacked, stride)


def parse_overrides(env: GymnaxEnv, text: str) -> dict[str, float]:
    """``"length=1.0,masspole=0.2"`` -> ``{"length": 1.0, "masspole": 0.2}``, checked against
    the environment's parameters."""
    fields = {f.name for f in dataclasses.fields(env.params)} - {"max_steps_in_episode"}
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in fields:
            raise ConfigError(
                f"dynamics task {text!r}: {part!r} is not NAME=VALUE with a parameter of "
                f"{env.name} (its parameters: {', '.join(sorted(fields))})"
            )
        current = np.asarray(getattr(env.params, name))
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"dynamics task {text!r}: {value!r} is not a number") from None
        if current.shape != ():
            raise ConfigError(
                f"dynamics task {text!r}: {name} is an array; only scalars can be set"
            )
        out[name] = number
    if not out:
        raise ConfigError(f"dynamics task {text!r} sets no parameter (NAME=VALUE,...)")
    return out


def _with(env: GymnaxEnv, overrides: dict[str, float]):
    params = env.params
    kinds = {name: np.asarray(getattr(params, name)).dtype for name in overrides}
    params = params.replace(**{n: np.asarray(v, kinds[n]).item() for n, v in overrides.items()})
    derive, derived = DERIVED.get(env.name, (None, ()))
    if derive is not None and not set(derived) & set(overrides):
        params = derive(params)
    return params


def _sequence_spaces(envs: list[GymnaxEnv]):
    """The spaces a sequence of environments shares, or a ``ConfigError`` naming the one that
    differs: observation shapes equal but on the last axis (padded), one kind of action."""
    first = envs[0]
    shapes = [tuple(e.observation_space.shape) for e in envs]
    if any(len(s) != len(shapes[0]) or s[:-1] != shapes[0][:-1] for s in shapes):
        listed = ", ".join(f"{e.name} {s}" for e, s in zip(envs, shapes, strict=True))
        raise ConfigError(
            "a sequence's observations must have the same shape except on the last axis "
            f"(channels, padded with zeros): {listed}"
        )
    width = max(s[-1] for s in shapes)
    obs_space = Box.from_bounds(
        min(min(e.observation_space.low) for e in envs),
        max(max(e.observation_space.high) for e in envs),
        shapes[0][:-1] + (width,),
    )
    actions = [e.action_space for e in envs]
    minatar = all(e.name.endswith("-MinAtar") for e in envs)
    if not minatar and any(a != actions[0] for a in actions):
        listed = ", ".join(f"{e.name} {a.describe()}" for e, a in zip(envs, actions, strict=True))
        raise ConfigError(
            f"a sequence's environments must share one action space (MinAtar games share "
            f"MinAtar's six actions): {listed}"
        )
    return obs_space, first.action_space


def _minatar_action(env: GymnaxEnv, action):
    """MinAtar's full action -> the index in ``env``'s own action set; no-op if not in it."""
    full = np.asarray(env.env.action_set)
    table = np.zeros(MINATAR_ACTIONS, np.int32)  # index 0 of every game's set is the no-op
    for i, a in enumerate(full):
        table[int(a)] = i
    return jnp.asarray(table)[action]


def _select(which, values: list):
    """``values[which]`` for a traced ``which`` (pytrees of one structure)."""
    if len(values) == 1:
        return values[0]
    return jax.tree.map(lambda *xs: jnp.stack(xs)[which], *values)


def _permute(obs, task):
    """``obs`` through task ``task``'s permutation (task 0: as it is)."""
    image = obs.ndim == 3
    flat = obs.reshape((-1, obs.shape[-1])) if image else obs.reshape(-1)
    n = flat.shape[0]
    key = jax.random.fold_in(jax.random.key(PERMUTATION_KEY), task)
    order = jnp.where(task == 0, jnp.arange(n), jax.random.permutation(key, n))
    return flat[order].reshape(obs.shape)
