"""The ``Program`` protocol: what the runner drives, whatever the algorithm.

A program holds an algorithm's pure functions for a batch of seeds (a ``vmap``) and the
compiled pieces made from them. The runner calls, between compiled chunks:

- ``init(keys) -> state`` and ``compile(state, chunk_lengths)``;
- ``advance(state, n, iteration) -> (state, ChunkLog)``: ``n`` iterations of every seed (one
  compiled ``scan`` where the environment is jittable);
- ``evaluate(state, index) -> [seeds, episodes]`` returns of the deterministic policy;
- ``activations(state, key, size)`` and ``params(state)`` (one seed each) for the diagnostics;
- ``policy_state(state)`` (what ``params.msgpack`` holds) and ``act`` (one seed);
- and, for the interventions, the ``plasticity.interventions.Target`` methods.

An *iteration* is one environment step of every parallel environment (off-policy agents), one
roll-out and its updates (PPO), a batch of whole episodes (REINFORCE) or a generation (ES). A
program's ``clock`` says how iterations map to environment steps: ``FixedClock`` when every
iteration takes the same number of steps (events land on the exact step), ``StepClock`` when
they vary (events at the first iteration boundary after the step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ChunkLog:
    """What a chunk of iterations did, per seed."""

    steps: np.ndarray
    """[seeds] environment steps of every seed after the chunk."""
    episodes: list[tuple[int, int, float, float | None]] = field(default_factory=list)
    """``(seed index, step, return, length or None)`` of every episode that ended (or, for
    methods that only report a chunk's mean return, one row per seed)."""
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    """[seeds] update metrics averaged over the chunk's updates."""
    counted: np.ndarray | None = None
    """[seeds] whether the seed made updates in the chunk (its metrics are logged)."""
    update_counts: np.ndarray | None = None
    """[seeds] the gradient updates each seed made in the chunk (what ``metrics`` average)."""
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    """[seeds] values logged as they are (``updates``, a backend's bookkeeping)."""


class FixedClock:
    """Iterations of ``iteration_steps`` environment steps each, ``total`` of them: an interval
    of ``s`` steps is every ``s // iteration_steps`` iterations, and chunks are as long as the
    greatest common divisor of the intervals, so every event falls on its exact step."""

    fixed = True

    def __init__(self, total: int, iteration_steps: int):
        self.total = int(total)
        self.iteration_steps = int(iteration_steps)

    @property
    def total_steps(self) -> int:
        return self.total * self.iteration_steps

    def units(self, steps: int) -> int:
        return max(1, int(steps) // self.iteration_steps)

    def chunk(self, intervals: list[int]) -> int:
        # an interval longer than the run never fires and must not shorten the chunks
        length = 0
        for interval in intervals:
            units = self.units(interval)
            if units <= self.total:
                length = math.gcd(length, units)
        return length or self.total

    def lengths(self, chunk: int, iteration: int = 0) -> set[int]:
        """The chunk lengths the run from ``iteration`` on will ask for."""
        rest = (self.total - iteration) % chunk
        return {chunk} | ({rest} if rest else set())

    def now(self, iteration: int, steps: np.ndarray) -> int:
        return iteration

    def done(self, iteration: int, steps: np.ndarray) -> bool:
        return iteration >= self.total

    def next(self, iteration: int, chunk: int) -> int:
        return min(chunk, self.total - iteration)


class StepClock:
    """Iterations whose length varies (whole episodes), run until every seed has ``budget``
    steps: intervals count environment steps of the seed with the fewest, and an event fires at
    the first chunk boundary after its step. Chunks are as long as the shortest interval allows
    at the longest possible iteration (``max_iteration_steps``)."""

    fixed = False

    def __init__(self, budget: int, max_iteration_steps: int):
        self.budget = int(budget)
        self.max_iteration_steps = max(1, int(max_iteration_steps))

    @property
    def total_steps(self) -> int:
        return self.budget

    def units(self, steps: int) -> int:
        return max(1, int(steps))

    def chunk(self, intervals: list[int]) -> int:
        shortest = min([i for i in intervals if 0 < i <= self.budget] or [self.budget])
        return max(1, shortest // self.max_iteration_steps)

    def lengths(self, chunk: int, iteration: int = 0) -> set[int]:
        return {chunk}

    def now(self, iteration: int, steps: np.ndarray) -> int:
        return int(np.min(steps))

    def done(self, iteration: int, steps: np.ndarray) -> bool:
        return bool(np.all(steps >= self.budget))

    def next(self, iteration: int, chunk: int) -> int:
        return chunk


class Program:
    """Base class of the training programs: the attributes every one has.

    Subclasses fill in the methods listed in the module docstring; ``capabilities`` names what
    the interventions may ask of it (``plasticity.interventions.base``).
    """

    algorithm: str
    agent: Any
    """the agent or method object (its config, spaces, networks)."""
    clock: FixedClock | StepClock
    capabilities: frozenset[str] = frozenset()
    networks: tuple[str, ...] = ()
    injection: tuple[str, ...] = ()
    observation_shape: tuple[int, ...] = ()
    jittable: bool = True
    """whether the environment steps inside the compiled program."""
    scenario: Any = None
    """the continual scenario (``plastix.envs.Scenario``) the program trains on, if any."""

    def updates_per_step(self, max_replay_ratio: float) -> float:
        """An upper bound of gradient updates per environment step."""
        return max_replay_ratio

    def host_state(self) -> bytes | None:
        """State kept outside the JAX state (host environments), for checkpoints."""
        return None

    def restore_host(self, state, data: bytes | None):
        """Restores ``host_state`` into a resumed run; returns ``(state, exact)``, ``exact``
        False when the host state could not be kept (the run continues from fresh episodes)."""
        return state, True

    def summary(self) -> dict:
        """Bookkeeping the run's summary carries (a backend's)."""
        return {}

    def close(self) -> None:
        pass


def model_options(options: dict) -> dict:
    """The keyword arguments an agent or on-policy method is built with from the
    interventions' build options: the networks with injection branches, the cures' network
    overrides (``body``: ``activation``, ``layer_norm``) and optimizer wraps."""
    return {
        "injection": tuple(options.get("injection", ())),
        "body": dict(options.get("body", {})),
        "wraps": tuple(options.get("wraps", ())),
    }
