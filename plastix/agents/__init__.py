"""Agents by name."""

from __future__ import annotations

from plastix.agents.base import Agent, AgentState, ConfigError, OffPolicyConfig
from plastix.agents.dqn import DQN, DQNConfig
from plastix.agents.sac import SAC, SACConfig
from plastix.es import ESConfig, OpenAIES  # noqa: E402
from plastix.onpolicy import PPO, REINFORCE, PPOConfig, REINFORCEConfig  # noqa: E402

OFF_POLICY: dict[str, type[Agent]] = {"dqn": DQN, "sac": SAC}
ITERATIVE = {"reinforce": REINFORCE, "ppo": PPO, "es": OpenAIES}
"""agents that learn in iterations without a replay buffer (``plastix.iterative``)."""
AGENTS = {**OFF_POLICY, **ITERATIVE}

__all__ = [
    "AGENTS",
    "ITERATIVE",
    "OFF_POLICY",
    "PPO",
    "REINFORCE",
    "DQN",
    "ESConfig",
    "OpenAIES",
    "PPOConfig",
    "REINFORCEConfig",
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
