"""The run's interventions between compiled chunks: which are on, when they act, what they log.

``Scheduler`` builds every intervention the ``PlasticityConfig`` turns on (and the ambient
ones the program supports, such as the replay-ratio schedule) against the training program —
which validates them all before anything is compiled — tells the runner the step intervals they
need boundaries at, and at each boundary lets each act in the registry's order, returning what
they did for the run store (``intervention/reset`` = 1 at the step of a reset, ``replay_ratio``
per seed, ...).
"""

from __future__ import annotations

import jax
import numpy as np

from plastix.errors import ConfigError
from plastix.plasticity.config import PlasticityConfig
from plastix.plasticity.interventions import REGISTRY, Context, Moment, Target


def _active(plasticity: PlasticityConfig, capabilities=None):
    """``(cls, config)`` of the interventions that will act (``capabilities``: the target's,
    for the ambient ones; None counts only those asked for)."""
    for name, config in plasticity.items():
        cls = REGISTRY[name]
        ambient = (
            cls.ambient
            and capabilities is not None
            and all(c in capabilities for c in cls.requires)
        )
        if cls.wanted(config) or ambient:
            yield cls, config


def build_options(plasticity: PlasticityConfig) -> dict:
    """The options the program must be built with for these interventions.

    The cures' optimizer ``wraps`` are chained in the registry's order; their ``body``
    overrides of the networks (``activation``, ``layer_norm``) are merged, and two cures that
    ask for different values of one field (CReLU and Fourier features) are refused."""
    options: dict = {"body": {}, "wraps": ()}
    owner: dict[str, str] = {}
    active = [cls.name for cls, _ in _active(plasticity)]
    for cls, _ in _active(plasticity):
        clash = [n for n in getattr(cls, "excludes", ()) if n in active]
        if clash:
            raise ConfigError(f"{cls.name} cannot be combined with {', '.join(clash)}")
    for cls, config in _active(plasticity):
        wanted = dict(cls.build_options(config))
        for field, value in wanted.pop("body", {}).items():
            if field in options["body"] and options["body"][field] != value:
                raise ConfigError(
                    f"{cls.name} sets the networks' {field} to {value!r} and {owner[field]} to "
                    f"{options['body'][field]!r}; choose one of them"
                )
            options["body"][field] = value
            owner[field] = cls.name
        options["wraps"] += tuple(wanted.pop("wraps", ()))
        options.update(wanted)
    return options


def max_replay_ratio(plasticity: PlasticityConfig, replay_ratio: float, options: dict) -> float:
    """The highest replay ratio any schedule of the run can set."""
    highest = replay_ratio
    for name, config in plasticity.items():
        value = REGISTRY[name].max_updates_per_step(config, replay_ratio, options)
        if value is not None and (REGISTRY[name].wanted(config) or REGISTRY[name].ambient):
            highest = max(highest, value)
    return highest


class Scheduler:
    def __init__(self, plasticity: PlasticityConfig, target: Target, context: Context):
        self.interventions = [
            cls(config, target, context) for cls, config in _active(plasticity, target.capabilities)
        ]

    def intervals(self) -> list[int]:
        """Environment-step intervals (and one-off steps) at which ``apply`` must run."""
        return [s for i in self.interventions for s in i.intervals() if s > 0]

    def initialize(self, state):
        for intervention in self.interventions:
            state = intervention.initialize(state)
        return state

    def note(self, moment: Moment) -> str | None:
        """A note for the progress display when applying takes long at this boundary."""
        notes = [n for i in self.interventions if (n := i.note(moment))]
        return "; ".join(notes) or None

    def observe(self, chunk) -> None:
        for intervention in self.interventions:
            intervention.observe(chunk)

    def summary(self) -> dict:
        out: dict = {}
        for intervention in self.interventions:
            out.update(intervention.summary())
        return out

    def apply(self, state, moment: Moment, seed_keys: jax.Array):
        """Applies what is due; returns the new state and ``{metric: per-seed values}``."""
        logged: dict[str, np.ndarray] = {}
        for intervention in self.interventions:
            state, values = intervention.apply(state, moment, seed_keys)
            logged.update(values)
        return state, logged

    def state_dict(self) -> dict:
        return {i.name: i.state_dict() for i in self.interventions}

    def load_state_dict(self, data: dict) -> None:
        for intervention in self.interventions:
            if intervention.name in data:
                intervention.load_state_dict(data[intervention.name])
