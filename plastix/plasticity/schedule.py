"""When interventions act: the host side, between compiled chunks of the training loop.

``Interventions`` validates a ``PlasticityConfig`` against an agent before anything is
compiled, tells the driver which step intervals it needs (the chunk length divides them all),
and at each chunk boundary applies what is due, seed by seed, returning what it did for the
run store (``intervention/reset`` = 1 at the step of a reset, ``replay_ratio`` per seed, ...).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from plastix import replay
from plastix.agents.base import Agent, ConfigError
from plastix.loop import INTERVENTION_SALT, REPLAY_SCHEDULE_SALT, derive_keys
from plastix.plasticity import interventions
from plastix.plasticity.config import PlasticityConfig
from plastix.plasticity.metrics import fraction_active_units
from plastix.plasticity.replay_ratio import ReplayRatioSchedule, make_schedule
from plastix.plasticity.selectors import select


class Interventions:
    def __init__(
        self,
        agent: Agent,
        config: PlasticityConfig,
        replay_ratio: float,
        schedule: ReplayRatioSchedule | None = None,
    ):
        self.agent = agent
        self.config = config
        self.schedule = schedule or make_schedule(config.replay_schedule, replay_ratio)
        params = jax.eval_shape(agent.init, jax.random.key(0)).params
        c = config
        # Selectors and options are checked here, before any compilation.
        self.reset_mask = select(params, c.reset.layers) if c.reset.every else None
        self.shrink_mask = (
            select(params, c.shrink_perturb.layers) if c.shrink_perturb.every else None
        )
        self.redo_networks = None
        if c.redo.every:
            layered = [n for n, p in params.items() if "torso" in p]
            wanted = (
                layered
                if c.redo.networks == "all"
                else [n.strip() for n in c.redo.networks.split(",")]
            )
            unknown = [n for n in wanted if n not in layered]
            if unknown:
                raise ConfigError(
                    f"redo.networks: unknown network(s) {', '.join(unknown)}; "
                    f"valid choices: all, {', '.join(layered)}"
                )
            self.redo_networks = wanted
        if c.inject.at:
            missing = [n for n in c.inject.network_names() if n not in agent.injection]
            if missing:
                raise ConfigError(
                    f"inject.networks {', '.join(missing)}: the agent was built without "
                    "injection branches there; build it with injection=config.injected_networks()"
                )
        if c.augment.pad and len(agent.observation_space.shape) != 3:
            raise ConfigError(
                f"augment.pad needs image observations (H, W, C); this environment's are "
                f"vectors of shape {agent.observation_space.shape}. Leave --augment.pad at 0"
            )
        self.learner = None  # set by the driver; priming runs the learner's updates
        self.updates_done = {}  # intervention -> per-seed count of intervals done (updates)
        self.counts = {"reset": 0, "shrink_perturb": 0, "redo": 0}
        self._compiled = {}

    @property
    def augment_pad(self) -> int:
        return self.config.augment.pad

    def _steps(self, every: int, unit: str) -> int:
        if unit == "steps":
            return every
        return max(1, math.floor(every / self.schedule.max_ratio()))

    def intervals(self) -> list[int]:
        """Environment-step intervals at which ``apply`` must run."""
        c = self.config
        out = list(self.schedule.check_steps())
        for name in ("reset", "shrink_perturb", "redo"):
            part = getattr(c, name)
            if part.every:
                out.append(self._steps(part.every, part.unit))
        if c.inject.at:
            out.append(c.inject.at)
        if c.prime.at:
            out.append(c.prime.at)
        if c.augment.pad:
            out += [s for s in (c.augment.start, c.augment.stop) if s]
        return [s for s in out if s > 0]

    def initial_ratio(self) -> float:
        return self.schedule.initial()

    def _due(self, name: str, step: int, num_updates: np.ndarray) -> np.ndarray:
        part = getattr(self.config, name)
        seeds = len(num_updates)
        if not part.every:
            return np.zeros(seeds, bool)
        if part.unit == "steps":
            return np.full(seeds, step % part.every == 0)
        intervals = num_updates // part.every
        done = self.updates_done.setdefault(name, np.zeros(seeds, np.int64))
        due = intervals > done
        self.updates_done[name] = np.maximum(done, intervals)
        return due

    def _function(self, name: str):
        if name in self._compiled:
            return self._compiled[name]
        agent, c = self.agent, self.config

        def per_seed(state, key, apply):
            if name == "reset":
                new = interventions.reset(agent, state.agent, key, self.reset_mask)
            elif name == "prime":
                new, _ = self.learner.update_many(
                    state.agent, state.buffer, c.prime.updates, key, state.augment
                )
            elif name == "inject":
                new = interventions.inject(agent, state.agent, key, c.inject.network_names())
            elif name == "shrink_perturb":
                new = interventions.shrink_perturb(
                    agent,
                    state.agent,
                    key,
                    self.shrink_mask,
                    c.shrink_perturb.alpha,
                    c.shrink_perturb.sigma,
                )
            else:
                sample_key, init_key = jax.random.split(key)
                batch = replay.sample(
                    state.buffer, sample_key, c.redo.batch_size, 1, agent.config.gamma
                )
                new = interventions.redo(
                    agent, state.agent, init_key, batch, c.redo.tau, self.redo_networks
                )
            chosen = jax.tree.map(lambda a, b: jnp.where(apply, a, b), new, state.agent)
            return state.replace(agent=chosen)

        self._compiled[name] = jax.jit(jax.vmap(per_seed))
        return self._compiled[name]

    def _critic_fau(self, state, keys) -> np.ndarray:
        if "fau" not in self._compiled:
            agent = self.agent

            def fau(loop_state, key):
                batch = replay.sample(loop_state.buffer, key, 256, 1, agent.config.gamma)
                members = agent.activations(loop_state.agent, batch)["critic"]
                return jnp.mean(jnp.stack([fraction_active_units(m) for m in members]))

            self._compiled["fau"] = jax.jit(jax.vmap(fau))
        return np.asarray(self._compiled["fau"](state, keys))

    def long_work_at(self, step: int) -> str | None:
        """A note for the progress display when ``apply`` will take long at ``step``."""
        c = self.config.prime
        if c.at and step == c.at:
            return f"priming: {c.updates:,} updates"
        return None

    def apply(self, state, step: int, seed_keys: jax.Array):
        """Applies what is due after environment step ``step``; returns the new state and
        ``{metric: per-seed values}`` to log."""
        c = self.config
        logged: dict[str, np.ndarray] = {}
        num_updates = np.asarray(state.agent.num_updates)
        for index, name in enumerate(("reset", "shrink_perturb", "redo")):
            due = self._due(name, step, num_updates)
            if due.any():
                self.counts[name] += 1
                keys = derive_keys(seed_keys, INTERVENTION_SALT + index, self.counts[name])
                state = self._function(name)(state, keys, jnp.asarray(due))
                logged[f"intervention/{name}"] = due.astype(float)
        if c.prime.at and step == c.prime.at:
            if self.learner is None:
                raise RuntimeError("priming needs Interventions.learner to be set")
            keys = derive_keys(seed_keys, INTERVENTION_SALT + 4, 0)
            state = self._function("prime")(state, keys, jnp.ones(len(num_updates), bool))
            logged["intervention/prime"] = np.ones(len(num_updates))
        if c.inject.at and step == c.inject.at:
            keys = derive_keys(seed_keys, INTERVENTION_SALT + 3, 0)
            state = self._function("inject")(state, keys, jnp.ones(len(num_updates), bool))
            logged["intervention/inject"] = np.ones(len(num_updates))
        a = self.config.augment
        if a.pad:
            on = step >= a.start and (a.stop == 0 or step < a.stop)
            state = state.replace(augment=jnp.full(state.augment.shape, on))
            logged["augment"] = np.full(len(num_updates), float(on))
        ratios = np.asarray(state.replay_ratio)
        fau_keys = derive_keys(seed_keys, REPLAY_SCHEDULE_SALT, step)
        new_ratios = self.schedule.update(
            step, ratios.copy(), lambda: self._critic_fau(state, fau_keys)
        )
        if not np.array_equal(new_ratios, ratios):
            state = state.replace(replay_ratio=jnp.asarray(new_ratios, jnp.float32))
        logged["replay_ratio"] = np.asarray(new_ratios, float)
        return state, logged
