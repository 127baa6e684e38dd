"""Replay-ratio schedules: each seed's replay ratio, decided between compiled chunks.

A schedule sees the environment step, every seed's current ratio and, on demand, the critic's
fraction of active units per seed; it returns the new ratios. Write another trigger by
subclassing ``ReplayRatioSchedule`` and passing it as ``plastix.train(..., replay_schedule=...)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class ReplayRatioSchedule:
    """Base class: a fixed ratio."""

    def __init__(self, ratio: float):
        self.ratio = float(ratio)

    def initial(self) -> float:
        return self.ratio

    def max_ratio(self) -> float:
        """An upper bound of the ratios it sets (for intervals counted in updates)."""
        return self.ratio

    def check_steps(self) -> list[int]:
        """Intervals (environment steps) at which ``update`` must be called."""
        return []

    def update(
        self, step: int, ratios: np.ndarray, critic_fau: Callable[[], np.ndarray]
    ) -> np.ndarray:
        return ratios


class StepSchedule(ReplayRatioSchedule):
    """``values[i]`` from environment step ``at[i]`` on; ``initial`` before."""

    def __init__(self, initial: float, at, values):
        super().__init__(initial)
        self.at, self.values = list(at), [float(v) for v in values]

    def max_ratio(self) -> float:
        return max([self.ratio, *self.values])

    def check_steps(self) -> list[int]:
        return list(self.at)

    def update(self, step, ratios, critic_fau):
        current = self.ratio
        for at, value in zip(self.at, self.values, strict=True):
            if step >= at:
                current = value
        return np.full_like(ratios, current)


class AdaptiveReplayRatio(ReplayRatioSchedule):
    """Adaptive Replay Ratio (Ma et al. ICLR 2024, arXiv 2310.07418).

    Start at ``low``; every ``check_every`` environment steps compare the critic's fraction of
    active units with its value at the previous check; once the change is at most
    ``threshold``, switch that seed to ``high``, once and for good.
    """

    def __init__(self, low: float, high: float, check_every: int, threshold: float):
        super().__init__(low)
        self.high, self.check_every, self.threshold = float(high), check_every, threshold
        self.previous: np.ndarray | None = None
        self.switched_at: dict[int, int] = {}

    def max_ratio(self) -> float:
        return max(self.ratio, self.high)

    def check_steps(self) -> list[int]:
        return [self.check_every]

    def update(self, step, ratios, critic_fau):
        if step % self.check_every:
            return ratios
        fau = critic_fau()
        if self.previous is not None:
            settled = np.abs(fau - self.previous) <= self.threshold
            for k in np.flatnonzero(settled):
                self.switched_at.setdefault(int(k), step)
            ratios = np.where(
                [k in self.switched_at for k in range(len(ratios))], self.high, ratios
            )
        self.previous = fau
        return ratios


def make_schedule(config, fixed_ratio: float) -> ReplayRatioSchedule:
    """The schedule a ``ReplayScheduleConfig`` describes."""
    if config.kind == "steps":
        return StepSchedule(fixed_ratio, config.at, config.values)
    if config.kind == "adaptive":
        return AdaptiveReplayRatio(config.low, config.high, config.check_every, config.threshold)
    return ReplayRatioSchedule(fixed_ratio)
