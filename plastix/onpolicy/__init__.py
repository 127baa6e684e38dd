"""On-policy gradient estimators: REINFORCE, PPO, PPO with a memory (``ppo-gru``) and
with a stochastic internal state (``ppo-s2pg``), run by
``plastix.training.iterative``."""

from plastix.onpolicy.ppo import PPO, PPOConfig
from plastix.onpolicy.recurrent import RecurrentPPO, RecurrentPPOConfig
from plastix.onpolicy.reinforce import BASELINES, REINFORCE, REINFORCEConfig
from plastix.onpolicy.stateful import StatefulPPO, StatefulPPOConfig

__all__ = [
    "BASELINES",
    "PPO",
    "PPOConfig",
    "REINFORCE",
    "REINFORCEConfig",
    "RecurrentPPO",
    "RecurrentPPOConfig",
    "StatefulPPO",
    "StatefulPPOConfig",
]
