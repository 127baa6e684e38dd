"""Agents by name."""

from __future__ import annotations

from plastix.agents.base import Agent, AgentState, ConfigError, OffPolicyConfig
from plastix.agents.dqn import DQN, DQNConfig
from plastix.agents.sac import SAC, SACConfig

AGENTS: dict[str, type[Agent]] = {"dqn": DQN, "sac": SAC}

__all__ = [
    "AGENTS",
    "DQN",
    "SAC",
    "Agent",
    "AgentState",
    "ConfigError",
    "DQNConfig",
    "OffPolicyConfig",
    "SACConfig",
    "UnknownAgentError",
    "get_agent",
]


class UnknownAgentError(ValueError):
    """An agent name that is not registered."""


def get_agent(name: str) -> type[Agent]:
    if name not in AGENTS:
        raise UnknownAgentError(
            f"unknown agent {name!r}. Valid choices: {', '.join(sorted(AGENTS))}"
        )
    return AGENTS[name]
