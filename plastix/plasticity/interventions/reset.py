"""Resets (Nikishin et al. 2022, "The Primacy Bias in Deep RL"): the selected layers get fresh
initial values every ``every`` steps or updates; the replay buffer is kept (it is not part of
the agent state), the Adam statistics of the touched parameters restart and target networks
follow their online networks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax

from plastix.errors import check_types
from plastix.keys import Stream
from plastix.plasticity.interventions.base import Periodic, check_every, consistent, where
from plastix.plasticity.selectors import select


@dataclass(frozen=True)
class ResetConfig:
    """Periodic resets (Nikishin et al. 2022): the selected layers get fresh initial values."""

    every: int | None = None
    """interval between resets (unset: no resets)."""
    unit: Literal["steps", "updates"] = "steps"
    """whether ``every`` counts environment steps or gradient updates."""
    layers: str = "all"
    """layers to reset: all, critic, actor, encoder, no-encoder, last:K, critic/last:K,
    critic/head, ... (comma-separated)."""

    def __post_init__(self):
        check_types(self)
        check_every("reset", self.every)


def reset(agent, state, key: jax.Array, mask: dict):
    """Re-initialises the selected parameters (fresh values, as at the start of training)."""
    fresh = agent.init(key).params
    return consistent(state, where(mask, fresh, state.params), mask)


class Reset(Periodic):
    name = "reset"
    Config = ResetConfig
    salt = Stream.RESET

    def check(self):
        self.mask = select(self.target.param_shapes(), self.config.layers)

    def act(self, state, key):
        return reset(self.target.model, self.target.agent_state(state), key, self.mask)
