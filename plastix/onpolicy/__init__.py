"""On-policy gradient estimators: REINFORCE and PPO (see ``plastix.iterative`` for the loop)."""

from plastix.onpolicy.ppo import PPO, PPOConfig
from plastix.onpolicy.reinforce import BASELINES, REINFORCE, REINFORCEConfig

__all__ = ["BASELINES", "PPO", "PPOConfig", "REINFORCE", "REINFORCEConfig"]
