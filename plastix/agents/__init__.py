"""The off-policy agents: DQN (and DrQ(ε), its Atari 100k settings), SAC and DrQ-v2, on what
every agent shares (``plastix.agents.base``) and what the actor-critics share
(``plastix.agents.actor_critic``).

Every algorithm plastix trains, by name, is in ``plastix.algorithms``.
"""

from __future__ import annotations

from plastix.agents.base import Agent, AgentState, OffPolicyConfig
from plastix.agents.dqn import DQN, DQNConfig, DrQEps, DrQEpsConfig
from plastix.agents.drqv2 import DrQV2, DrQV2Config
from plastix.agents.sac import SAC, SACConfig

__all__ = [
    "DQN",
    "SAC",
    "Agent",
    "AgentState",
    "DQNConfig",
    "DrQV2",
    "DrQV2Config",
    "DrQEps",
    "DrQEpsConfig",
    "OffPolicyConfig",
    "SACConfig",
]
