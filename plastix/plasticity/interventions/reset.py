"""Resets (Nikishin et al. 2022, "The Primacy Bias in Deep RL"): the selected layers get fresh
initial values every ``every`` steps or updates; the replay buffer is kept (it is not part of
the agent state), the Adam statistics of the touched parameters restart and target networks
follow their online networks.

``recipe`` names the resets of the papers, so nobody has to reverse-engineer them (``RECIPES``;
``--reset.recipe drq``); ``every`` may still be set to scale a recipe's interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import jax

from plastix.errors import ConfigError, check_types, unknown
from plastix.keys import Stream
from plastix.plasticity.interventions.base import Periodic, check_every, consistent, where
from plastix.plasticity.selectors import select


class Recipe(NamedTuple):
    every: int
    unit: str
    layers: str
    source: str


RECIPES: dict[str, Recipe] = {
    "primacy-sac": Recipe(
        200_000,
        "steps",
        "all",
        "Nikishin et al. 2022, SAC on DMC state (rl_with_resets train_dense.py): a new agent "
        "every 2·10⁵ steps: actor, critics, temperature and their optimizers",
    ),
    "drq": Recipe(
        100_000,
        "steps",
        "all-but-encoder",
        "Nikishin et al. 2022, DrQ on DMC pixels (train_pixels.py): everything but the shared "
        "encoder (and its Adam statistics) every 10⁵ agent steps, the temperature included",
    ),
    "spr": Recipe(
        20_000,
        "steps",
        "last:1",
        "Nikishin et al. 2022, SPR on Atari 100k (SPR_with_resets.gin): the head, every 2·10⁴ "
        "steps (4 resets in 100k steps: nothing acts after the last step); on a dueling "
        "network the heads of both streams",
    ),
}
"""the papers' reset recipes, by name: interval, unit, layers and where they come from."""


@dataclass(frozen=True)
class ResetConfig:
    """Periodic resets (Nikishin et al. 2022): the selected layers get fresh initial values."""

    every: int | None = None
    """interval between resets (unset: no resets)."""
    unit: Literal["steps", "updates"] = "steps"
    """whether ``every`` counts environment steps or gradient updates."""
    layers: str = "all"
    """layers to reset: all, critic, actor, encoder, no-encoder, all-but-encoder, last:K,
    critic/last:K, critic/head, ... (comma-separated)."""
    recipe: str | None = None
    """a paper's resets (``RECIPES``): primacy-sac, drq, spr; sets every (unless given), unit
    and layers."""

    def __post_init__(self):
        check_types(self)
        if self.recipe is not None:
            if self.recipe not in RECIPES:
                raise unknown("reset.recipe", self.recipe, sorted(RECIPES))
            recipe = RECIPES[self.recipe]
            for name, default in (("unit", "steps"), ("layers", "all")):
                value = getattr(self, name)
                if value not in (default, getattr(recipe, name)):
                    raise ConfigError(
                        f"reset.recipe {self.recipe} sets reset.{name} to "
                        f"{getattr(recipe, name)!r}; drop reset.{name} ({value!r}) or the recipe"
                    )
            object.__setattr__(self, "every", self.every or recipe.every)
            object.__setattr__(self, "unit", recipe.unit)
            object.__setattr__(self, "layers", recipe.layers)
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
