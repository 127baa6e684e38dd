"""DeepMind Control Suite tasks (Tassa et al. 2018) as Gymnasium environments, by short ids.

- ``dmc:DOMAIN-TASK`` (``dmc:walker-walk``): the task's observations flattened into one
  ``float32`` vector, in the order of its observation spec.
- ``dmc-pixels:DOMAIN-TASK``: the DrQ-v2 protocol (Yarats et al. 2021): ``84×84`` RGB frames
  rendered from the task's camera (camera 2 for quadruped, 0 otherwise), the last 3 stacked on
  the channel axis (``uint8``, ``84×84×9``), padded at an episode's start by repeating its first
  frame, each action repeated 2 times.

Options follow the id after commas: ``repeat`` (action repeat; 1 for state, 2 for pixels by
default), and for pixels ``stack``, ``size`` and ``camera``, e.g.
``dmc-pixels:cartpole-swingup,repeat=8``. A repeated action sums its rewards and stops early
at the episode's end. The suite's 1000-step time limit (in physics control steps) ends every
episode as a truncation, which is bootstrapped; a task that ends with discount 0 terminates.

Rendering runs headless through MuJoCo's EGL backend (``libegl1``; works on CPU with Mesa and
on NVIDIA GPUs), falling back to OSMesa (``libosmesa6``) when EGL is missing. ``MUJOCO_GL``,
when set, is left alone. ``mujoco`` must be below 4.0: 4.0 breaks ``dm-control`` 1.0.50.
"""

from __future__ import annotations

import ctypes.util
import math
import os
from dataclasses import dataclass, replace

import gymnasium as gym
import numpy as np

from plastix.errors import ConfigError

STATE_PREFIX = "dmc:"
PIXELS_PREFIX = "dmc-pixels:"
PREFIXES = (STATE_PREFIX, PIXELS_PREFIX)
OPTIONS = ("repeat", "stack", "size", "camera")


@dataclass(frozen=True)
class DMCSpec:
    domain: str
    task: str
    pixels: bool = False
    repeat: int = 1
    stack: int = 3
    size: int = 84
    camera: int = 0

    @property
    def name(self) -> str:
        prefix = PIXELS_PREFIX if self.pixels else STATE_PREFIX
        default = default_spec(self.domain, self.task, self.pixels)
        options = [
            f"{k}={getattr(self, k)}"
            for k in (OPTIONS if self.pixels else ("repeat",))
            if getattr(self, k) != getattr(default, k)
        ]
        return ",".join([f"{prefix}{self.domain}-{self.task}"] + options)


def default_spec(domain: str, task: str, pixels: bool) -> DMCSpec:
    if not pixels:
        return DMCSpec(domain, task)
    return DMCSpec(domain, task, True, repeat=2, camera=2 if domain == "quadruped" else 0)


def is_dmc(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIXES)


def select_gl() -> None:
    """Picks MuJoCo's headless rendering backend before ``mujoco`` is first imported."""
    if "MUJOCO_GL" in os.environ:
        return
    if ctypes.util.find_library("EGL"):
        os.environ["MUJOCO_GL"] = "egl"
    elif ctypes.util.find_library("OSMesa"):
        os.environ["MUJOCO_GL"] = "osmesa"
        os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")


def suite():
    select_gl()
    try:
        from dm_control import suite as dm_suite
    except ImportError as e:
        raise ConfigError(
            f"DeepMind Control needs the dmc extra: pip install 'plastix[dmc]' ({e})"
        ) from None
    return dm_suite


def tasks() -> list[str]:
    """Every suite task as ``domain-task``."""
    return [f"{d}-{t}" for d, t in suite().ALL_TASKS]


def parse(name: str) -> DMCSpec:
    """The spec a ``dmc:`` or ``dmc-pixels:`` id names; a ``ConfigError`` names what is wrong
    and the valid choices, before anything is built."""
    pixels = name.startswith(PIXELS_PREFIX)
    head, *options = name[len(PIXELS_PREFIX if pixels else STATE_PREFIX) :].split(",")
    domain, _, task = head.partition("-")
    if (domain, task) not in suite().ALL_TASKS:
        import difflib

        close = difflib.get_close_matches(head, tasks(), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"unknown DeepMind Control task {head!r}.{hint} Valid tasks: {', '.join(tasks())}"
        )
    spec = default_spec(domain, task, pixels)
    return replace(spec, **int_options(name, options, OPTIONS if pixels else ("repeat",)))


def int_options(name: str, options: list[str], valid: tuple[str, ...]) -> dict[str, int]:
    """``key=value`` options of an environment id (the parts after its commas), each an
    integer >= 1 (``camera`` >= 0); a ``ConfigError`` names a bad one and the valid keys."""
    changes = {}
    for option in options:
        key, _, value = option.partition("=")
        if key not in valid:
            raise ConfigError(
                f"{name}: unknown option {key!r}; valid options: {', '.join(valid)} "
                "(as key=value after a comma)"
            )
        try:
            changes[key] = int(value)
        except ValueError:
            raise ConfigError(f"{name}: option {key} must be an integer, got {value!r}") from None
        if changes[key] < (0 if key == "camera" else 1):
            raise ConfigError(f"{name}: option {key} must be >= 1, got {value}")
    return changes


class DMCEnv(gym.Env):
    """One suite task behind the Gymnasium interface, as ``DMCSpec`` describes."""

    metadata = {"render_modes": []}

    def __init__(self, spec: DMCSpec | str):
        self.task_spec = parse(spec) if isinstance(spec, str) else spec
        s = self.task_spec
        self._env = suite().load(s.domain, s.task, task_kwargs={"random": 0})
        action = self._env.action_spec()
        self.action_space = gym.spaces.Box(
            np.asarray(action.minimum, np.float32),
            np.asarray(action.maximum, np.float32),
            dtype=np.float32,
        )
        if s.pixels:
            shape = (s.size, s.size, 3 * s.stack)
            self.observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
            self.frame_stack = s.stack
        else:
            size = sum(int(np.prod(v.shape)) for v in self._env.observation_spec().values())
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)
            self.frame_stack = None
        # the suite's limit in control steps, in agent steps
        self.max_episode_steps = math.ceil(float(self._env._step_limit) / s.repeat)
        self._frames: list[np.ndarray] = []

    def _observe(self, timestep, first: bool) -> np.ndarray:
        s = self.task_spec
        if not s.pixels:
            return np.concatenate(
                [np.asarray(v, np.float32).ravel() for v in timestep.observation.values()]
            )
        frame = self._env.physics.render(height=s.size, width=s.size, camera_id=s.camera)
        self._frames = [frame] * s.stack if first else self._frames[1:] + [frame]
        return np.concatenate(self._frames, axis=-1)

    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self._env.task.random.seed(seed)
        return self._observe(self._env.reset(), first=True), {}

    def step(self, action):
        reward = 0.0
        action = np.asarray(action, np.float64)
        for _ in range(self.task_spec.repeat):
            timestep = self._env.step(action)
            reward += timestep.reward or 0.0
            if timestep.last():
                break
        ended = timestep.last()
        terminated = bool(ended and timestep.discount == 0.0)
        return (
            self._observe(timestep, first=False),
            reward,
            terminated,
            ended and not terminated,
            {},
        )

    def render(self):
        s = self.task_spec
        return self._env.physics.render(height=s.size, width=s.size, camera_id=s.camera)
