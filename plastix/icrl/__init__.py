"""In-context RL: task families, sources, history datasets, AD and DPT (see docs/icrl.md)."""

from plastix.icrl.bandits import BASELINES, BanditEnv, baseline_regret
from plastix.icrl.gridworlds import DarkKeyToDoor, DarkRoom
from plastix.icrl.tasks import FAMILIES, Family, FamilyConfig, SourceConfig

__all__ = [
    "BASELINES",
    "FAMILIES",
    "BanditEnv",
    "DarkKeyToDoor",
    "DarkRoom",
    "Family",
    "FamilyConfig",
    "SourceConfig",
    "baseline_regret",
]
