"""Where an ES generation runs: the local backend, and what it shares with the Ray backend.

Both backends run the same two compiled programs, ``Programs.evaluate`` (members of every
seed's population, vmapped over seeds and members) and ``Programs.step`` (every seed's update),
with the same shapes for the update, so the local backend, the Ray driver and each Ray worker
compute bit-identical parameters. (A member's result does not depend on which other members
share its program; the tests check this, and the Ray backend checks replicas by hash.)
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from plastix.es.core import OpenAIES


def where_seeds(active, new, old):
    """``new`` for the seeds where ``active`` (``[seeds]``), ``old`` elsewhere."""

    def pick(a, b):
        mask = active.reshape(active.shape + (1,) * (a.ndim - 1))
        return jnp.where(mask, a, b)

    return jax.tree.map(pick, new, old)


class Programs:
    """The compiled pieces of a generation, for a batch of seeds."""

    def __init__(self, es: OpenAIES):
        self.es = es
        self.evaluate = jax.jit(jax.vmap(es.evaluate_members))
        """``(states [S], indices [S, n]) -> fitness [S, n], steps [S, n], sums [S, n, d]``."""

        def step(states, fitness, steps, sums, active):
            new = jax.vmap(es.update)(states, fitness, steps, sums)
            return where_seeds(active, new, states)

        self.step = jax.jit(step)
        """``(states, fitness [S, P], steps, sums, active [S]) -> states``."""


def generation_rows(old_params, new_params, fitness, active) -> dict[str, np.ndarray]:
    """Per-seed metrics of one generation (``[S]`` each)."""
    fitness = np.asarray(fitness, np.float64)
    return {
        "fitness_mean": fitness.mean(axis=1),
        "fitness_max": fitness.max(axis=1),
        "episodes": np.full(len(fitness), fitness.shape[1], np.float64),
        "episode_return_sum": fitness.sum(axis=1),
        "update_norm": np.linalg.norm(
            np.asarray(new_params, np.float64) - np.asarray(old_params, np.float64), axis=1
        ),
    }


def stack_rows(rows: list[dict], actives: list[np.ndarray]):
    """``(active [S, chunk], {name: [S, chunk]})`` for the iterative runner."""
    names = rows[0].keys()
    return np.stack(actives, axis=1), {
        n: np.stack([r[n] for r in rows], axis=1).astype(np.float32) for n in names
    }


class LocalESBackend:
    """Every seed's whole population in one vmapped program per generation."""

    kind = "local"

    def __init__(self, es: OpenAIES):
        self.es = es
        self.programs = Programs(es)
        self._budget = 0
        self.generation_seconds: list[float] = []

    def setup(self, states) -> None:
        seeds = int(states.generation.shape[0])
        pop = self.es.config.population
        self.indices = jnp.tile(jnp.arange(pop, dtype=jnp.int32), (seeds, 1))
        self.programs.evaluate = self.programs.evaluate.lower(states, self.indices).compile()
        fitness, steps, sums = self.programs.evaluate(states, self.indices)
        active = jnp.ones(seeds, bool)
        self.programs.step = self.programs.step.lower(
            states, fitness, steps, sums, active
        ).compile()

    def advance(self, states, keys, chunk: int):
        rows, actives = [], []
        for _ in range(chunk):
            start = time.perf_counter()
            active = np.asarray(states.env_steps) < self._budget
            fitness, steps, sums = self.programs.evaluate(states, self.indices)
            new = self.programs.step(states, fitness, steps, sums, jnp.asarray(active))
            rows.append(generation_rows(states.params, new.params, fitness, active))
            actives.append(active)
            states = new
            self.generation_seconds.append(time.perf_counter() - start)
        return states, stack_rows(rows, actives)

    def summary(self) -> dict:
        g = self.generation_seconds
        return {
            "kind": self.kind,
            "num_params": self.es.num_params,
            "generation_seconds_median": float(np.median(g)) if g else None,
        }

    def close(self) -> None:
        pass
