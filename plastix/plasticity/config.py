"""Configuration of the plasticity interventions; every one is off by default.

Each is off until its interval (``every``, or ``at`` for the one-off injection) is set; an
interval of 0 is an error. On the command line each is a group of flags: ``--reset.every 20000
--reset.layers critic,actor``, ``--redo.every 1000``, ``--inject.at 50000``, ``--augment.pad 1``,
``--replay-schedule.kind adaptive``.
In Python they are values of ``PlasticityConfig`` (or keywords of ``plastix.train``).

Interventions act between compiled chunks of the training loop, after the environment step
they are due at; the chunk length is the greatest common divisor of all intervals, so they
are exact in environment steps. An interval counted in ``updates`` acts every
``updates / replay_ratio`` environment steps (rounded to a whole step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from plastix.agents.base import require


def _check_every(name: str, every: int | None) -> None:
    require(
        every is None or every >= 1,
        f"{name}.every must be a positive interval, got {every} (leave it unset for none)",
    )


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
        _check_every("reset", self.every)


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
        _check_every("shrink_perturb", self.every)
        require(
            0.0 <= self.alpha <= 1.0, f"shrink_perturb.alpha must be in [0, 1], got {self.alpha}"
        )
        require(self.sigma >= 0.0, f"shrink_perturb.sigma must be >= 0, got {self.sigma}")


@dataclass(frozen=True)
class ReDoConfig:
    """ReDo (Sokar et al. 2023): recycle τ-dormant units."""

    every: int | None = None
    """interval (unset: off)."""
    unit: Literal["steps", "updates"] = "updates"
    """whether ``every`` counts environment steps or gradient updates."""
    tau: float = 0.1
    """a unit is dormant if its normalised activation score is <= τ."""
    batch_size: int = 256
    """replay transitions on which dormancy is measured."""
    networks: str = "all"
    """networks whose hidden layers are recycled: all, or critic, actor (comma-separated)."""

    def __post_init__(self):
        _check_every("redo", self.every)
        require(self.tau >= 0.0, f"redo.tau (τ) must be >= 0, got {self.tau}")
        require(self.batch_size >= 2, f"redo.batch_size must be >= 2, got {self.batch_size}")


@dataclass(frozen=True)
class InjectConfig:
    """Plasticity injection (Nikishin et al. 2023), once, at a given environment step."""

    at: int | None = None
    """environment step of the injection (unset: none)."""
    networks: str = "critic"
    """networks to inject into: critic, actor (comma-separated)."""

    def __post_init__(self):
        require(
            self.at is None or self.at >= 1,
            f"inject.at must be a positive environment step, got {self.at} (leave it unset "
            "for none)",
        )
        require(bool(self.network_names()), "inject.networks must name at least one network")

    def network_names(self) -> tuple[str, ...]:
        return tuple(n.strip() for n in self.networks.split(",") if n.strip())


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
        require(
            self.at is None or self.at >= 1,
            f"prime.at must be a positive environment step, got {self.at}",
        )
        require(self.updates >= 1, f"prime.updates must be >= 1, got {self.updates}")


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
        require(self.pad >= 0, f"augment.pad must be >= 0 (0: off), got {self.pad}")
        require(self.start >= 0 and self.stop >= 0, "augment.start and augment.stop must be >= 0")
        require(
            self.stop == 0 or self.stop > self.start,
            f"augment.stop ({self.stop}) must be after augment.start ({self.start})",
        )


@dataclass(frozen=True)
class ReplayScheduleConfig:
    """How the replay ratio moves during training."""

    kind: Literal["fixed", "steps", "adaptive"] = "fixed"
    """fixed: ``--replay-ratio`` throughout; steps: ``values[i]`` from step ``at[i]`` on;
    adaptive: Ma et al. 2024's Adaptive Replay Ratio (``low`` until the critic's FAU settles,
    then ``high``)."""
    at: tuple[int, ...] = ()
    """steps: the environment steps at which the ratio changes."""
    values: tuple[float, ...] = ()
    """steps: the replay ratio from each step in ``at`` on."""
    low: float = 0.5
    """adaptive: the starting replay ratio."""
    high: float = 2.0
    """adaptive: the replay ratio once the critic's FAU has settled."""
    check_every: int = 10_000
    """adaptive: environment steps between FAU checks."""
    threshold: float = 0.001
    """adaptive: switch once |FAU - FAU at the previous check| <= threshold."""

    def __post_init__(self):
        if self.kind == "steps":
            require(
                len(self.at) == len(self.values) and len(self.at) > 0,
                "replay_schedule kind 'steps' needs as many --replay-schedule.at steps as "
                "--replay-schedule.values",
            )
            require(all(v > 0 for v in self.values), "replay_schedule.values must be > 0")
            require(
                list(self.at) == sorted(self.at) and all(a > 0 for a in self.at),
                "replay_schedule.at must be increasing positive steps",
            )
        if self.kind == "adaptive":
            require(self.low > 0 and self.high > 0, "replay_schedule.low and high must be > 0")
            require(self.check_every >= 1, "replay_schedule.check_every must be >= 1")
            require(self.threshold >= 0, "replay_schedule.threshold must be >= 0")


@dataclass(frozen=True)
class PlasticityConfig:
    """All interventions of a run; combinable."""

    reset: ResetConfig = field(default_factory=ResetConfig)
    shrink_perturb: ShrinkPerturbConfig = field(default_factory=ShrinkPerturbConfig)
    redo: ReDoConfig = field(default_factory=ReDoConfig)
    inject: InjectConfig = field(default_factory=InjectConfig)
    prime: PrimeConfig = field(default_factory=PrimeConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    replay_schedule: ReplayScheduleConfig = field(default_factory=ReplayScheduleConfig)

    def injected_networks(self) -> tuple[str, ...]:
        """The networks the agent must build with injection branches."""
        return self.inject.network_names() if self.inject.at else ()
