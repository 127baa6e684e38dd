"""plastix: plasticity loss and its cures in deep RL, on JAX.

Importing plastix has no side effect on the process: the names below load their modules when
first used, and nothing touches the CPU affinity or ``XLA_FLAGS`` unless asked
(``PLASTIX_CPU_CORES``; see ``plastix/_xla.py``). The ``plastix`` command applies the CPU
settings the installed JAX needs before it starts JAX.
"""

from __future__ import annotations

import importlib
import importlib.util

from plastix import _xla
from plastix._version import __version__

_xla.configure_if_asked()

_EXPORTS = {
    "DQN": ("plastix.agents", "DQN"),
    "SAC": ("plastix.agents", "SAC"),
    "DQNConfig": ("plastix.agents", "DQNConfig"),
    "SACConfig": ("plastix.agents", "SACConfig"),
    "ALGORITHMS": ("plastix.algorithms", "ALGORITHMS"),
    "Policy": ("plastix.api", "Policy"),
    "TrainResult": ("plastix.api", "TrainResult"),
    "load_policy": ("plastix.api", "load_policy"),
    "read_record": ("plastix.api", "read_record"),
    "rerun": ("plastix.api", "rerun"),
    "resume": ("plastix.api", "resume"),
    "run_training": ("plastix.api", "run_training"),
    "train": ("plastix.api", "train"),
    "RunConfig": ("plastix.config", "RunConfig"),
    "make_env": ("plastix.envs", "make_env"),
    "ConfigError": ("plastix.errors", "ConfigError"),
    "TrainingDiverged": ("plastix.errors", "TrainingDiverged"),
    "ESConfig": ("plastix.es", "ESConfig"),
    "PPOConfig": ("plastix.onpolicy", "PPOConfig"),
    "REINFORCEConfig": ("plastix.onpolicy", "REINFORCEConfig"),
    "AugmentConfig": ("plastix.plasticity.config", "AugmentConfig"),
    "CBPConfig": ("plastix.plasticity.config", "CBPConfig"),
    "CReLUConfig": ("plastix.plasticity.config", "CReLUConfig"),
    "FourierConfig": ("plastix.plasticity.config", "FourierConfig"),
    "InjectConfig": ("plastix.plasticity.config", "InjectConfig"),
    "L2Config": ("plastix.plasticity.config", "L2Config"),
    "L2InitConfig": ("plastix.plasticity.config", "L2InitConfig"),
    "NaPConfig": ("plastix.plasticity.config", "NaPConfig"),
    "ParsevalConfig": ("plastix.plasticity.config", "ParsevalConfig"),
    "PlasticityConfig": ("plastix.plasticity.config", "PlasticityConfig"),
    "PrimeConfig": ("plastix.plasticity.config", "PrimeConfig"),
    "ReDoConfig": ("plastix.plasticity.config", "ReDoConfig"),
    "ReplayScheduleConfig": ("plastix.plasticity.config", "ReplayScheduleConfig"),
    "ResetConfig": ("plastix.plasticity.config", "ResetConfig"),
    "ShrinkPerturbConfig": ("plastix.plasticity.config", "ShrinkPerturbConfig"),
    "TRACConfig": ("plastix.plasticity.config", "TRACConfig"),
    "WeightClipConfig": ("plastix.plasticity.config", "WeightClipConfig"),
    "DiagnosticsConfig": ("plastix.plasticity.diagnostics", "DiagnosticsConfig"),
    "Intervention": ("plastix.plasticity.interventions", "Intervention"),
    "Moment": ("plastix.plasticity.interventions", "Moment"),
    "register_intervention": ("plastix.plasticity.interventions", "register"),
    "ReplayRatioSchedule": ("plastix.plasticity.replay_ratio", "ReplayRatioSchedule"),
    "load_runs": ("plastix.runs", "load_runs"),
    "load_summary": ("plastix.runs", "load_summary"),
    "AGENTS": ("plastix.algorithms", "ALGORITHMS"),  # the name the first versions used
}


def __getattr__(name: str):
    if name in _EXPORTS:
        module, attr = _EXPORTS[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"plastix.{name}") is not None:
        return importlib.import_module(f"plastix.{name}")  # a submodule: plastix.api, ...
    raise AttributeError(f"module 'plastix' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "AGENTS",
    "ALGORITHMS",
    "AugmentConfig",
    "CBPConfig",
    "CReLUConfig",
    "ConfigError",
    "DQN",
    "DQNConfig",
    "DiagnosticsConfig",
    "ESConfig",
    "FourierConfig",
    "InjectConfig",
    "Intervention",
    "L2Config",
    "L2InitConfig",
    "Moment",
    "NaPConfig",
    "PPOConfig",
    "ParsevalConfig",
    "PlasticityConfig",
    "Policy",
    "PrimeConfig",
    "REINFORCEConfig",
    "ReDoConfig",
    "ReplayRatioSchedule",
    "ReplayScheduleConfig",
    "ResetConfig",
    "RunConfig",
    "SAC",
    "SACConfig",
    "ShrinkPerturbConfig",
    "TRACConfig",
    "TrainResult",
    "TrainingDiverged",
    "WeightClipConfig",
    "__version__",
    "load_policy",
    "load_runs",
    "load_summary",
    "make_env",
    "read_record",
    "register_intervention",
    "rerun",
    "resume",
    "run_training",
    "train",
]
