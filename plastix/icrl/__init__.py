"""In-context RL: tasks and baselines (bandits so far)."""

from plastix.icrl.bandits import BASELINES, BanditEnv, baseline_regret

__all__ = ["BASELINES", "BanditEnv", "baseline_regret"]
