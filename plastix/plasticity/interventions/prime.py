"""Heavy priming (Nikishin et al. 2022's opening experiment): after one environment step, many
gradient updates on the replay buffer as it is, to make the agent over-fit its first
experiences. It causes plasticity loss rather than curing it; experiments use it to create
some."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from plastix.errors import check_types, require
from plastix.keys import Stream
from plastix.plasticity.interventions.base import NETWORKS, REPLAY, OneOff


@dataclass(frozen=True)
class PrimeConfig:
    """Heavy priming (Nikishin et al. 2022's opening experiment): at one step, many gradient
    updates on the replay buffer as it is, to make the agent over-fit its first experiences.
    It causes plasticity loss rather than curing it; experiments use it to create some."""

    at: int | None = None
    """environment step after which the extra updates run (unset: none); e.g. 100, right
    after 100 steps of random play (set learning_starts to match)."""
    updates: int = 100_000
    """gradient updates done at that step."""

    def __post_init__(self):
        check_types(self)
        require(
            self.at is None or self.at >= 1,
            f"prime.at must be a positive environment step, got {self.at}",
        )
        require(self.updates >= 1, f"prime.updates must be >= 1, got {self.updates}")


class Prime(OneOff):
    name = "prime"
    Config = PrimeConfig
    salt = Stream.PRIME
    requires = (NETWORKS, REPLAY)

    @classmethod
    def scaled(cls, config, scale):
        # a test budget primes with at most 200 updates
        config = super().scaled(config, scale)
        return dataclasses.replace(config, updates=min(config.updates, 200))

    def note(self, moment):
        return f"priming: {self.config.updates:,} updates" if self.due(moment).any() else None

    def act(self, state, key):
        return self.target.replay_updates(state, self.config.updates, key)
