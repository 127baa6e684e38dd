"""plastix: plasticity loss and its cures in deep RL, on JAX."""

from plastix import _xla  # noqa: F401  (first: sets XLA_FLAGS before a JAX backend starts)
from plastix.agents import AGENTS, DQN, SAC, DQNConfig, SACConfig
from plastix.config import RunConfig
from plastix.envs import make_env
from plastix.plasticity.config import (
    AugmentConfig,
    PlasticityConfig,
    ReDoConfig,
    ReplayScheduleConfig,
    ResetConfig,
    ShrinkPerturbConfig,
)
from plastix.plasticity.diagnostics import DiagnosticsConfig
from plastix.plasticity.replay_ratio import ReplayRatioSchedule
from plastix.policy import load_policy
from plastix.runs import load_runs, load_summary
from plastix.train import TrainingDiverged, TrainResult, __version__, rerun, train

__all__ = [
    "AGENTS",
    "AugmentConfig",
    "DiagnosticsConfig",
    "PlasticityConfig",
    "ReDoConfig",
    "ReplayRatioSchedule",
    "ReplayScheduleConfig",
    "ResetConfig",
    "ShrinkPerturbConfig",
    "DQN",
    "SAC",
    "DQNConfig",
    "RunConfig",
    "SACConfig",
    "TrainResult",
    "TrainingDiverged",
    "__version__",
    "load_policy",
    "load_runs",
    "load_summary",
    "make_env",
    "rerun",
    "train",
]
