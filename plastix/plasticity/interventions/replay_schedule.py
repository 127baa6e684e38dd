"""Replay-ratio schedules as an intervention: each seed's replay ratio, set between chunks.

Always on for the programs that have a replay ratio (it logs ``replay_ratio`` per seed); its
config picks the schedule (``plastix.plasticity.replay_ratio``): fixed, steps, or Ma et al.
2024's Adaptive Replay Ratio, which averages the critic's fraction of active units over the
batches it trained on (the update metric ``critic_train_fau``) and checks it every
``check_episodes`` episodes; it logs ``arr/critic_fau``, ``arr/fau_change`` and ``arr/switch``
at each seed's checks and the summary holds every seed's switch step.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass
from typing import Literal

import jax.numpy as jnp
import numpy as np

from plastix.errors import check_types, require
from plastix.keys import Stream, derive_keys
from plastix.plasticity.interventions.base import REPLAY_RATIO, Intervention
from plastix.plasticity.replay_ratio import make_schedule


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
    check_episodes: int = 50
    """adaptive: episodes (of each seed) between FAU checks (Ma et al.: 50)."""
    threshold: float = 0.001
    """adaptive: switch once |mean FAU - mean FAU at the previous check| <= threshold."""
    poll_every: int = 1_000
    """adaptive: environment steps between looks at the episode counts (a check falls on the
    first look after its episode)."""
    window: Literal["since-check", "last-episode"] = "since-check"
    """adaptive: the update batches a check averages the critic's FAU over: every one since
    the previous check, or the last episode's (the reference code's accumulator)."""

    def __post_init__(self):
        check_types(self)
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
            require(
                self.check_episodes >= 1,
                f"replay_schedule.check_episodes must be >= 1, got {self.check_episodes}",
            )
            require(
                self.poll_every >= 1,
                f"replay_schedule.poll_every must be >= 1, got {self.poll_every}",
            )
            require(self.threshold >= 0, "replay_schedule.threshold must be >= 0")


def schedule_of(config: ReplayScheduleConfig, replay_ratio: float, options: dict):
    """The schedule object: one given in Python, or the config's."""
    return options.get("replay_schedule") or make_schedule(config, replay_ratio)


class ReplaySchedule(Intervention):
    name = "replay_schedule"
    Config = ReplayScheduleConfig
    requires = (REPLAY_RATIO,)
    ambient = True

    @classmethod
    def wanted(cls, config) -> bool:
        return config.kind != "fixed"

    @classmethod
    def max_updates_per_step(cls, config, replay_ratio, options) -> float:
        return schedule_of(config, replay_ratio, options).max_ratio()

    @classmethod
    def scaled(cls, config, scale):
        # check_episodes counts episodes, whose length a budget does not change
        if config.kind == "adaptive":
            return dataclasses.replace(config, poll_every=scale(config.poll_every))
        if config.kind != "steps":
            return config
        return dataclasses.replace(config, at=tuple(scale(a) for a in config.at))

    def check(self):
        self.schedule = schedule_of(self.config, self.context.replay_ratio, self.context.options)

    def intervals(self) -> list[int]:
        return list(self.schedule.check_steps())

    def initialize(self, state):
        ratios = np.full(self.context.seeds, self.schedule.initial(), np.float32)
        return self.target.with_replay_ratios(state, jnp.asarray(ratios))

    def apply(self, state, moment, seed_keys):
        ratios = np.asarray(self.target.replay_ratios(state))
        keys = derive_keys(seed_keys, Stream.REPLAY_SCHEDULE, moment.step)

        def critic_fau():
            return np.asarray(self.context.measure(state, keys)["critic/fau"])

        new = self.schedule.update(moment.step, ratios.copy(), critic_fau)
        if not np.array_equal(new, ratios):
            state = self.target.with_replay_ratios(state, jnp.asarray(new, jnp.float32))
        return state, {"replay_ratio": np.asarray(new, float), **self.schedule.take_logs()}

    def observe(self, chunk) -> None:
        seeds = self.context.seeds
        episodes = np.bincount([e[0] for e in chunk.episodes], minlength=seeds)
        updates = chunk.update_counts
        if updates is None:
            updates = np.zeros(seeds, np.int64)
        self.schedule.observe(episodes, updates, chunk.metrics.get("critic_train_fau"))

    def summary(self) -> dict:
        steps = getattr(self.schedule, "switch_steps", None)
        return {"replay_ratio_switch_steps": steps()} if steps else {}

    def state_dict(self) -> dict:
        return dict(super().state_dict(), schedule=pickle.dumps(self.schedule).hex())

    def load_state_dict(self, data: dict) -> None:
        super().load_state_dict(data)
        self.schedule = pickle.loads(bytes.fromhex(data["schedule"]))
