"""In-context RL: tasks (bandits, Dark Room, Dark Key-to-Door) and classic baselines."""

from plastix.icrl.bandits import BASELINES, BanditEnv, baseline_regret
from plastix.icrl.gridworlds import DarkKeyToDoor, DarkRoom

__all__ = ["BASELINES", "BanditEnv", "DarkKeyToDoor", "DarkRoom", "baseline_regret"]
