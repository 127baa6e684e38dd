"""On-policy gradient estimators: REINFORCE and PPO (run by ``plastix.training.iterative``)."""

from plastix.onpolicy.ppo import PPO, PPOConfig
from plastix.onpolicy.reinforce import BASELINES, REINFORCE, REINFORCEConfig

__all__ = ["BASELINES", "PPO", "PPOConfig", "REINFORCE", "REINFORCEConfig"]
