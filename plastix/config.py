"""The run-level configuration shared by every agent."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from plastix.errors import check_types, require

MAX_STEPS = 2_000_000_000
"""the most environment steps per seed: the step and update counters are 32-bit integers."""
MAX_REPLAY_RATIO = 1024.0
"""the highest replay ratio (the literature goes to 128; more is almost surely a typo)."""
MAX_COUNT = 100_000
LOG_SINKS = ("csv", "tensorboard", "wandb")
"""where ``log`` can copy the metrics (``plastix.training.sinks``)."""
SCENARIOS = ("none", "permuted", "sequence", "dynamics")
"""the continual-learning scenarios (``plastix.envs.continual``)."""
"""the most seeds, parallel environments or evaluation episodes of a run."""


@dataclass(frozen=True)
class RunConfig:
    """How long, on what, with how many seeds, and where the run is stored."""

    env: str = "CartPole-v1"
    """environment id: a gymnax id (jittable, compiled end to end), ``dmc:DOMAIN-TASK``,
    ``dmc-pixels:DOMAIN-TASK``, ``atari:GAME`` or ``gymnasium:ID`` (stepped on the host)."""
    steps: int = 100_000
    """environment steps per seed (all parallel environments together)."""
    replay_ratio: float = 1.0
    """gradient updates per environment step, e.g. 0.25, 1, 16; exact on average over time."""
    seeds: int = 1
    """independent seeds, run as one vmapped program; seed k uses ``seed + k``."""
    seed: int = 0
    """first seed."""
    num_envs: int = 1
    """parallel environments per seed."""
    eval_every: int = 5_000
    """environment steps between evaluations with the greedy/deterministic policy."""
    eval_episodes: int = 10
    """episodes per evaluation (per seed)."""
    log_every: int = 1_000
    """environment steps between progress updates and loss logging."""
    out: str | None = None
    """run directory to write (config.json, metrics.parquet, summary.json); none: not stored."""
    overwrite: bool = False
    """replace an existing run directory at ``out``."""
    checkpoint_seconds: float = 300.0
    """seconds between checkpoints that ``plastix resume`` continues from (0: at every chunk
    boundary); one is also written when the run ends, is interrupted or fails."""
    log: tuple[str, ...] = ()
    """copies of the metrics for other tools, written into the run directory: csv,
    tensorboard, wandb (offline unless WANDB_MODE says otherwise)."""
    scenario: str = "none"
    """continual-learning scenario on ``env``: none, permuted (a new permutation of the
    observations per task), sequence (``env`` then each of ``scenario_tasks``, cycled) or
    dynamics (``env`` then its parameters overridden by each of ``scenario_tasks``, cycled)."""
    switch_every: int = 0
    """environment steps per task of the scenario (every seed switches at the same step)."""
    scenario_tasks: tuple[str, ...] = ()
    """the tasks after ``env``: gymnax ids (sequence) or overrides like ``length=1.0,masspole=0.2``
    (dynamics)."""

    def __post_init__(self):
        check_types(self)
        # --log csv,tensorboard or --log csv tensorboard
        log = tuple(p.strip() for item in self.log for p in item.split(",") if p.strip())
        object.__setattr__(self, "log", log)
        require(
            1 <= self.steps <= MAX_STEPS,
            f"steps must be a positive number of environment steps up to {MAX_STEPS:,} (the "
            f"step counters are 32-bit), got {self.steps}",
        )
        require(
            0 < self.replay_ratio <= MAX_REPLAY_RATIO and math.isfinite(self.replay_ratio),
            f"replay_ratio must be > 0 and <= {MAX_REPLAY_RATIO:g} (updates per environment "
            f"step, e.g. 0.25, 1 or 16), got {self.replay_ratio}",
        )
        for name in ("seeds", "num_envs", "eval_episodes"):
            value = getattr(self, name)
            require(1 <= value <= MAX_COUNT, f"{name} must be in 1..{MAX_COUNT:,}, got {value}")
        require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        require(
            self.steps % self.num_envs == 0,
            f"steps ({self.steps}) must be a multiple of num_envs ({self.num_envs})",
        )
        require(self.eval_every >= 1, f"eval_every must be >= 1, got {self.eval_every}")
        require(self.log_every >= 1, f"log_every must be >= 1, got {self.log_every}")
        unknown = [name for name in self.log if name not in LOG_SINKS]
        require(
            not unknown,
            f"unknown log sink(s) {', '.join(unknown)}; valid choices: {', '.join(LOG_SINKS)}",
        )
        require(
            not self.log or self.out is not None,
            "log sinks write into the run directory: set out (--out) too",
        )
        require(
            self.scenario in SCENARIOS,
            f"unknown scenario {self.scenario!r}; valid choices: {', '.join(SCENARIOS)}",
        )
        if self.scenario == "none":
            require(
                not self.switch_every and not self.scenario_tasks,
                "switch_every and scenario_tasks belong to a scenario: set scenario too "
                f"({', '.join(SCENARIOS[1:])})",
            )
        else:
            require(
                1 <= self.switch_every <= self.steps,
                f"a scenario needs 1 <= switch_every <= steps ({self.steps:,}), got "
                f"{self.switch_every}",
            )
        require(
            self.checkpoint_seconds >= 0,
            f"checkpoint_seconds must be >= 0, got {self.checkpoint_seconds}",
        )

    def replace(self, **changes) -> RunConfig:
        return dataclasses.replace(self, **changes)


__all__ = ["RunConfig"]
