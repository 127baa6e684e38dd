"""plastix: plasticity loss and its cures in deep RL, on JAX."""

from plastix import _xla  # noqa: F401  (first: sets XLA_FLAGS before a JAX backend starts)
from plastix._version import __version__
from plastix.agents import DQN, SAC, DQNConfig, SACConfig
from plastix.algorithms import ALGORITHMS
from plastix.api import (
    Policy,
    TrainResult,
    load_policy,
    read_record,
    rerun,
    resume,
    run_training,
    train,
)
from plastix.config import RunConfig
from plastix.envs import make_env
from plastix.errors import ConfigError, TrainingDiverged
from plastix.es import ESConfig
from plastix.onpolicy import PPOConfig, REINFORCEConfig
from plastix.plasticity.config import (
    AugmentConfig,
    CBPConfig,
    CReLUConfig,
    FourierConfig,
    InjectConfig,
    L2Config,
    L2InitConfig,
    NaPConfig,
    ParsevalConfig,
    PlasticityConfig,
    PrimeConfig,
    ReDoConfig,
    ReplayScheduleConfig,
    ResetConfig,
    ShrinkPerturbConfig,
    TRACConfig,
    WeightClipConfig,
)
from plastix.plasticity.diagnostics import DiagnosticsConfig
from plastix.plasticity.interventions import Intervention, Moment
from plastix.plasticity.interventions import register as register_intervention
from plastix.plasticity.replay_ratio import ReplayRatioSchedule
from plastix.runs import load_runs, load_summary

AGENTS = ALGORITHMS  # the name the first versions used

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
