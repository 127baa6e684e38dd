"""The off-policy agents: DQN (and DrQ(ε), its Atari 100k settings) and SAC, on what every
agent shares (``plastix.agents.base``).

Every algorithm plastix trains, by name, is in ``plastix.algorithms``.
"""

from __future__ import annotations

from plastix.agents.base import Agent, AgentState, OffPolicyConfig
from plastix.agents.dqn import DQN, DQNConfig, DrQEps, DrQEpsConfig
from plastix.agents.sac import SAC, SACConfig

__all__ = [
    "DQN",
    "SAC",
    "Agent",
    "AgentState",
    "DQNConfig",
    "DrQEps",
    "DrQEpsConfig",
    "OffPolicyConfig",
    "SACConfig",
]
