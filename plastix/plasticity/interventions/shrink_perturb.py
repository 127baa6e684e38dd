"""Shrink-and-perturb (Ash & Adams 2020): ``θ ← α·θ + σ·θ_fresh`` on the selected layers, every
``every`` steps or updates (θ_fresh: a fresh initialisation); optimizer and targets as for
resets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax

from plastix.errors import check_types, require
from plastix.keys import Stream
from plastix.plasticity.interventions.base import Periodic, check_every, consistent, where
from plastix.plasticity.selectors import select


@dataclass(frozen=True)
class ShrinkPerturbConfig:
    """Shrink-and-perturb (Ash & Adams 2020): θ ← α·θ + σ·θ_fresh."""

    every: int | None = None
    """interval (unset: off)."""
    unit: Literal["steps", "updates"] = "steps"
    """whether ``every`` counts environment steps or gradient updates."""
    alpha: float = 0.8
    """shrink factor α."""
    sigma: float = 0.2
    """perturbation scale σ (times a fresh initialisation)."""
    layers: str = "all"
    """layers it applies to (as for reset)."""

    def __post_init__(self):
        check_types(self)
        check_every("shrink_perturb", self.every)
        require(
            0.0 <= self.alpha <= 1.0, f"shrink_perturb.alpha must be in [0, 1], got {self.alpha}"
        )
        require(self.sigma >= 0.0, f"shrink_perturb.sigma must be >= 0, got {self.sigma}")


def shrink_perturb(agent, state, key: jax.Array, mask: dict, alpha: float, sigma: float):
    """``θ ← α·θ + σ·θ_fresh`` on the selected parameters (θ_fresh: a fresh initialisation)."""
    fresh = agent.init(key).params
    mixed = jax.tree.map(lambda p, f: alpha * p + sigma * f, state.params, fresh)
    return consistent(state, where(mask, mixed, state.params), mask)


class ShrinkPerturb(Periodic):
    name = "shrink_perturb"
    Config = ShrinkPerturbConfig
    salt = Stream.SHRINK_PERTURB

    def check(self):
        self.mask = select(self.target.param_shapes(), self.config.layers)

    def act(self, state, key):
        c = self.config
        view = self.target.agent_state(state)
        return shrink_perturb(self.target.model, view, key, self.mask, c.alpha, c.sigma)
