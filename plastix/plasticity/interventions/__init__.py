"""The interventions, one module each, in the order they act when several are due at once.

Adding a cure: write its module (a ``Config`` and an ``Intervention`` subclass, see
``base``) and add one line to ``BUILT_IN``; a cure of your own, outside plastix:
``plastix.register_intervention(MyCure)``. Its config then joins ``PlasticityConfig``, the CLI
(``--<name>.<field>``), the run record and every algorithm whose program offers what it needs.
"""

from __future__ import annotations

import dataclasses
import re

from plastix.errors import ConfigError, unknown
from plastix.keys import Stream
from plastix.plasticity.interventions.augment import Augment, AugmentConfig
from plastix.plasticity.interventions.base import Context, Cure, Intervention, Moment, Target
from plastix.plasticity.interventions.cbp import CBP, CBPConfig
from plastix.plasticity.interventions.crelu import CReLU, CReLUConfig
from plastix.plasticity.interventions.fourier import Fourier, FourierConfig
from plastix.plasticity.interventions.inject import Inject, InjectConfig, inject
from plastix.plasticity.interventions.l2 import L2, L2Config, L2Init, L2InitConfig
from plastix.plasticity.interventions.nap import NaP, NaPConfig
from plastix.plasticity.interventions.parseval import Parseval, ParsevalConfig
from plastix.plasticity.interventions.prime import Prime, PrimeConfig
from plastix.plasticity.interventions.redo import ReDo, ReDoConfig, redo, redo_masks
from plastix.plasticity.interventions.replay_schedule import ReplaySchedule, ReplayScheduleConfig
from plastix.plasticity.interventions.reset import Reset, ResetConfig, reset
from plastix.plasticity.interventions.shrink_perturb import (
    ShrinkPerturb,
    ShrinkPerturbConfig,
    shrink_perturb,
)
from plastix.plasticity.interventions.trac import TRAC, TRACConfig
from plastix.plasticity.interventions.weight_clip import WeightClip, WeightClipConfig

REGISTRY: dict[str, type[Intervention]] = {}

BUILT_IN = (
    Reset,
    ShrinkPerturb,
    ReDo,
    CBP,
    Prime,
    Inject,
    Augment,
    ReplaySchedule,
    # cures built into the networks and optimizers (their wraps chain in this order)
    CReLU,
    Fourier,
    NaP,
    L2,
    L2Init,
    Parseval,
    WeightClip,
    TRAC,
)


def register(cls: type[Intervention], replace: bool = False) -> type[Intervention]:
    """Adds an intervention class to the registry (usable as a decorator); it acts after the
    ones registered before it."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ConfigError(
            f"an intervention needs a lower-case identifier as its name, got {name!r}"
        )
    if not (isinstance(cls, type) and issubclass(cls, Intervention)):
        raise ConfigError(f"{name}: an intervention must subclass plastix Intervention")
    config = getattr(cls, "Config", None)
    if not (dataclasses.is_dataclass(config) and config.__dataclass_params__.frozen):
        raise ConfigError(f"{name}: Config must be a frozen dataclass")
    if name in REGISTRY and not replace:
        raise ConfigError(f"an intervention named {name!r} is registered already")
    taken = {c.stream: n for n, c in REGISTRY.items() if n != name}
    if cls.salt is not None and cls.salt in taken and not replace:
        raise ConfigError(f"{name}: key stream {cls.salt} is {taken[cls.salt]!r}'s")
    REGISTRY[name] = cls
    return cls


def get(name: str) -> type[Intervention]:
    if name not in REGISTRY:
        raise unknown("intervention", name, list(REGISTRY))
    return REGISTRY[name]


for _cls in BUILT_IN:
    register(_cls)

assert {c.salt for c in BUILT_IN if c.salt} <= set(Stream)

__all__ = [
    "BUILT_IN",
    "REGISTRY",
    "Augment",
    "AugmentConfig",
    "CBP",
    "CBPConfig",
    "CReLU",
    "CReLUConfig",
    "Context",
    "Cure",
    "Fourier",
    "FourierConfig",
    "L2",
    "L2Config",
    "L2Init",
    "L2InitConfig",
    "NaP",
    "NaPConfig",
    "Parseval",
    "ParsevalConfig",
    "TRAC",
    "TRACConfig",
    "WeightClip",
    "WeightClipConfig",
    "Inject",
    "InjectConfig",
    "Intervention",
    "Moment",
    "Prime",
    "PrimeConfig",
    "ReDo",
    "ReDoConfig",
    "ReplaySchedule",
    "ReplayScheduleConfig",
    "Reset",
    "ResetConfig",
    "ShrinkPerturb",
    "ShrinkPerturbConfig",
    "Target",
    "get",
    "inject",
    "redo",
    "redo_masks",
    "register",
    "reset",
    "shrink_perturb",
]
