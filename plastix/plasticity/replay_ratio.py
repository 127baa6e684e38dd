"""Replay-ratio schedules: each seed's replay ratio, decided between compiled chunks.

A schedule sees, after every chunk, each seed's episodes, updates and the critic's fraction of
active units on the batches it trained on (``observe``), and at every chunk boundary the
environment step, every seed's current ratio and, on demand, the critic's FAU on a fresh
batch (``update``); it returns the new ratios. Write another trigger by
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

    def observe(self, episodes, updates, critic_fau) -> None:
        """After every chunk, per seed: the episodes that ended in it, the gradient updates it
        made and the mean ``critic_train_fau`` over them (None for agents without one)."""

    def update(
        self, step: int, ratios: np.ndarray, critic_fau: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """The new ratios at a chunk boundary; ``critic_fau()`` measures the critic's FAU on
        a fresh replay batch (the diagnostics' ``critic/fau``) per seed."""
        return ratios

    def take_logs(self) -> dict[str, np.ndarray]:
        """``{metric: per-seed values}`` to log for the last ``update`` (NaN: no row)."""
        logs, self.logs = getattr(self, "logs", {}), {}
        return logs


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
    """Adaptive Replay Ratio (Ma et al. ICLR 2024, arXiv 2310.07418, and their reference code).

    Every seed starts at ``low``. The fraction of active units of the critic's MLP layers on
    every batch it trains on (the update metric ``critic_train_fau``: the augmented batch, both
    twin critics, the encoder apart) is averaged; every ``check_episodes`` episodes of that seed
    the average is compared with the one at the previous check (at the first check: the mean
    FAU of the first chunk of updates, which no check averages; the reference code compares
    with its first batch). Once they differ by at
    most ``threshold`` the seed switches to ``high``, once and for good.

    ``window`` says which batches a check averages: ``since-check`` every batch since the
    previous check; ``last-episode`` those of the last episode before it (what the reference
    code's accumulator holds: it restarts one episode before each check). Checks fall on the
    first chunk boundary (at least every ``poll_every`` steps) after the seed's episode count
    reaches a multiple of ``check_episodes``; ``switch_steps()`` says where each seed switched.
    """

    def __init__(
        self,
        low: float,
        high: float,
        check_episodes: int = 50,
        threshold: float = 0.001,
        window: str = "since-check",
        poll_every: int = 1_000,
    ):
        super().__init__(low)
        self.poll_every = int(poll_every)
        if window not in WINDOWS:
            raise ValueError(f"unknown window {window!r}; valid choices: {', '.join(WINDOWS)}")
        self.high, self.threshold, self.window = float(high), float(threshold), window
        self.check_episodes = int(check_episodes)
        self.sums: np.ndarray | None = None
        self.logs: dict[str, np.ndarray] = {}

    def _start(self, seeds: int) -> None:
        self.sums = np.zeros(seeds)
        self.counts = np.zeros(seeds, np.int64)
        self.episodes = np.zeros(seeds, np.int64)
        self.next_check = np.full(seeds, self.check_episodes, np.int64)
        self.window_open = np.full(seeds, self.window == "since-check")
        self.previous = np.full(seeds, np.nan)
        self.switched_at = np.full(seeds, -1, np.int64)

    def max_ratio(self) -> float:
        return max(self.ratio, self.high)

    def check_steps(self) -> list[int]:
        return [self.poll_every]

    def observe(self, episodes, updates, critic_fau) -> None:
        episodes, updates = np.asarray(episodes, np.int64), np.asarray(updates, np.int64)
        if self.sums is None:
            self._start(len(episodes))
        self.episodes += episodes
        if critic_fau is None:
            return
        fau = np.asarray(critic_fau, float)
        trained = updates > 0
        # the first chunk with updates is the first check's reference (the reference code
        # compares with its first batch), not part of the first check's average
        first = np.isnan(self.previous) & trained
        self.previous[first] = fau[first]
        trained &= ~first
        if self.window == "last-episode":  # restart one episode before the check
            opening = ~self.window_open & (self.episodes >= self.next_check - 1)
            self.sums[opening], self.counts[opening] = 0.0, 0
            self.window_open |= opening
        counted = trained & self.window_open
        self.sums[counted] += fau[counted] * updates[counted]
        self.counts[counted] += updates[counted]

    def update(self, step, ratios, critic_fau):
        self.logs = {}
        if self.sums is None:
            return ratios
        due = self.episodes >= self.next_check
        if not due.any():
            return ratios
        checked = due & (self.counts > 0)
        average = np.where(checked, self.sums / np.maximum(self.counts, 1), np.nan)
        change = np.abs(average - self.previous)
        switch = checked & (change <= self.threshold) & (self.switched_at < 0)
        self.switched_at[switch] = step
        self.previous[checked] = average[checked]
        self.sums[due], self.counts[due] = 0.0, 0
        self.window_open[due] = self.window == "since-check"
        while (late := self.episodes >= self.next_check).any():
            self.next_check[late] += self.check_episodes
        self.logs = {
            "arr/critic_fau": average,
            "arr/fau_change": np.where(checked, change, np.nan),
            "arr/switch": np.where(due, switch.astype(float), np.nan),
        }
        return np.where(self.switched_at >= 0, self.high, ratios)

    def switch_steps(self) -> list[int | None]:
        """The step at which each seed switched to ``high`` (None: it did not)."""
        if self.sums is None:
            return []
        return [int(s) if s >= 0 else None for s in self.switched_at]


WINDOWS = ("since-check", "last-episode")


def make_schedule(config, fixed_ratio: float) -> ReplayRatioSchedule:
    """The schedule a ``ReplayScheduleConfig`` describes."""
    if config.kind == "steps":
        return StepSchedule(fixed_ratio, config.at, config.values)
    if config.kind == "adaptive":
        return AdaptiveReplayRatio(
            config.low,
            config.high,
            config.check_episodes,
            config.threshold,
            config.window,
            config.poll_every,
        )
    return ReplayRatioSchedule(fixed_ratio)
