"""``PlasticityConfig``: the interventions of a run, by registered name; every one is off by
default.

Each is off until its interval (``every``, or ``at`` for one-off ones) is set; an interval of 0
is an error. On the command line each is a group of flags: ``--reset.every 20000
--reset.layers critic,actor``, ``--redo.every 1000``, ``--inject.at 50000``, ``--augment.pad 1``,
``--replay-schedule.kind adaptive``. In Python they are values of ``PlasticityConfig`` (or of
``plastix.train``'s ``plasticity``): ``PlasticityConfig(reset=ResetConfig(every=20_000))``.

Interventions act between compiled chunks of the training loop, after the environment step
they are due at; the chunk length divides all their intervals, so they are exact in environment
steps (for methods whose iterations have a fixed length; the others act at the first iteration
boundary after the step). An interval counted in ``updates`` acts every
``updates / replay_ratio`` environment steps (rounded down).
"""

from __future__ import annotations

import dataclasses

from plastix.errors import ConfigError
from plastix.plasticity.interventions import (
    REGISTRY,
    AugmentConfig,
    CBPConfig,
    CReLUConfig,
    FourierConfig,
    InjectConfig,
    L2Config,
    L2InitConfig,
    NaPConfig,
    ParsevalConfig,
    PrimeConfig,
    ReDoConfig,
    ReplayScheduleConfig,
    ResetConfig,
    ShrinkPerturbConfig,
    TRACConfig,
    WeightClipConfig,
    get,
)


class PlasticityConfig:
    """All interventions of a run, by registered name; combinable.

    ``PlasticityConfig(reset=ResetConfig(every=20_000, layers="critic"), redo=ReDoConfig(...))``;
    ``config.reset`` is the reset's config (its default when not given).
    """

    __slots__ = ("_configs",)

    def __init__(self, **configs):
        for name, value in configs.items():
            cls = get(name)
            if not isinstance(value, cls.Config):
                raise ConfigError(
                    f"plasticity {name} needs a {cls.Config.__name__}, got {type(value).__name__}"
                )
        object.__setattr__(self, "_configs", dict(configs))

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in REGISTRY:
            raise AttributeError(f"no intervention {name!r}; registered: {', '.join(REGISTRY)}")
        configs = object.__getattribute__(self, "_configs")
        return configs[name] if name in configs else REGISTRY[name].Config()

    def __setattr__(self, name, value):
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def items(self) -> list[tuple[str, object]]:
        """``(name, config)`` of every registered intervention, in the order they act."""
        return [(name, getattr(self, name)) for name in REGISTRY]

    def wanted(self) -> list[str]:
        """The interventions this config turns on."""
        return [name for name, config in self.items() if REGISTRY[name].wanted(config)]

    def replace(self, **changes) -> PlasticityConfig:
        return PlasticityConfig(**{**self._configs, **changes})

    def to_dict(self) -> dict:
        """``{name: fields}`` of every registered intervention (the run record's form)."""
        return {name: dataclasses.asdict(config) for name, config in self.items()}

    def __eq__(self, other) -> bool:
        return isinstance(other, PlasticityConfig) and self.items() == other.items()

    def __hash__(self) -> int:
        return hash(tuple(self.items()))

    def __repr__(self) -> str:
        given = ", ".join(f"{n}={c!r}" for n, c in self.items() if n in self._configs)
        return f"PlasticityConfig({given})"

    def __reduce__(self):
        return (_rebuild, (self._configs,))


def _rebuild(configs: dict) -> PlasticityConfig:
    return PlasticityConfig(**configs)


__all__ = [
    "AugmentConfig",
    "CBPConfig",
    "CReLUConfig",
    "FourierConfig",
    "InjectConfig",
    "L2Config",
    "L2InitConfig",
    "NaPConfig",
    "ParsevalConfig",
    "PlasticityConfig",
    "PrimeConfig",
    "ReDoConfig",
    "ReplayScheduleConfig",
    "ResetConfig",
    "ShrinkPerturbConfig",
    "TRACConfig",
    "WeightClipConfig",
]
