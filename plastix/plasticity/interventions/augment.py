"""Random-shift augmentation (DrQ) of the images in update batches, switched on and off at given
environment steps (Ma et al. 2024 study when it matters). The shift itself is
``plastix.plasticity.augment.random_shift``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plastix.errors import ConfigError, check_types, require
from plastix.plasticity.interventions.base import AUGMENT, Intervention


@dataclass(frozen=True)
class AugmentConfig:
    """Random-shift augmentation (DrQ) of image observations in updates."""

    pad: int = 0
    """pixels of replicate padding before the random crop (0: off; 4 for 84×84, 1 for MinAtar)."""
    start: int = 0
    """environment step from which augmentation is on."""
    stop: int = 0
    """environment step from which it is off again (0: never)."""

    def __post_init__(self):
        check_types(self)
        require(self.pad >= 0, f"augment.pad must be >= 0 (0: off), got {self.pad}")
        require(self.start >= 0 and self.stop >= 0, "augment.start and augment.stop must be >= 0")
        require(
            self.stop == 0 or self.stop > self.start,
            f"augment.stop ({self.stop}) must be after augment.start ({self.start})",
        )


class Augment(Intervention):
    name = "augment"
    Config = AugmentConfig
    requires = (AUGMENT,)
    step_fields = ("start", "stop")

    @classmethod
    def wanted(cls, config) -> bool:
        return config.pad > 0

    @classmethod
    def build_options(cls, config) -> dict:
        if not config.pad:
            return {}
        return {"augment_pad": config.pad, "augment_at_start": config.start == 0}

    def check(self):
        shape = self.target.observation_shape
        if len(shape) != 3:
            raise ConfigError(
                f"augment.pad needs image observations (H, W, C); this environment's are "
                f"vectors of shape {shape}. Leave --augment.pad at 0"
            )

    def intervals(self) -> list[int]:
        return [s for s in (self.config.start, self.config.stop) if s]

    def apply(self, state, moment, seed_keys):
        c = self.config
        on = moment.step >= c.start and (c.stop == 0 or moment.step < c.stop)
        state = self.target.with_augment(state, on)
        return state, {"augment": np.full(moment.seeds, float(on))}
