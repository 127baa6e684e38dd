"""On-policy gradient estimators: REINFORCE, PPO and PPO with a memory (``ppo-gru``), run by
``plastix.training.iterative``."""

from plastix.onpolicy.ppo import PPO, PPOConfig
from plastix.onpolicy.recurrent import RecurrentPPO, RecurrentPPOConfig
from plastix.onpolicy.reinforce import BASELINES, REINFORCE, REINFORCEConfig

__all__ = [
    "BASELINES",
    "PPO",
    "PPOConfig",
    "REINFORCE",
    "REINFORCEConfig",
    "RecurrentPPO",
    "RecurrentPPOConfig",
]
