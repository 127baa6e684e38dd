"""OpenAI-ES on a Ray cluster, exchanging only seeds, indices and scalars.

Every worker holds a replica of the ES state (parameters, optimiser state, observation
statistics, the run's key), sent once when it joins. Per generation the driver sends each worker
the generation number and a list of member indices; the worker rebuilds those members'
perturbations from the key, plays them and returns their fitness, step counts and observation
sums — scalars, ``O(population)``, never ``O(parameters)``. Then every worker (and the driver,
itself a replica) applies the same update from the whole population's results, and returns a
SHA-256 of its parameters; the driver checks that all hashes agree.

Faults: when a worker dies during a generation, the members it held are evaluated by the
others (the update waits for every member, so results are those of a fault-free run), the
failure is counted, and a replacement worker joins (it receives the current state once). The
bytes of every message are counted with the pickle sizes of its arguments and results
(``bytes_per_generation``; the join messages separately).
"""

from __future__ import annotations

import os
import pickle
import time

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from plastix import _xla
from plastix.es.backends import Programs, generation_rows, stack_rows
from plastix.es.core import ESConfig, OpenAIES, params_hash


def _size(obj) -> int:
    return len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def pin_to_core(index: int) -> None:
    """Pins every thread of this process to one core, ``index`` modulo the machine's cores.

    The machine's cores are those the init process may use: a worker inherits the affinity of
    whoever started Ray (plastix pins a CPU-only process to one core), which would put every
    worker on the same core."""
    if not hasattr(os, "sched_setaffinity"):
        return
    cores = _xla.machine_cores()
    _xla.pin_threads({cores[index % len(cores)]})


def _zero_results(es: OpenAIES, seeds: int):
    """Arguments of ``Programs.step`` with the right shapes (to compile it), no seed active."""
    pop = es.config.population
    return (
        jnp.zeros((seeds, pop), jnp.float32),
        jnp.zeros((seeds, pop), jnp.int32),
        jnp.zeros((seeds, pop, 1 + 2 * es.obs_dim), jnp.float32),
        jnp.zeros(seeds, bool),
    )


class ESWorker:
    """A replica of every seed's ES state; evaluates members, applies updates (a Ray actor)."""

    def __init__(self, config: dict, env_id: str, core: int | None, fail_at: int | None):
        from plastix.envs import make_env

        if core is not None:
            pin_to_core(core)
        self.es = OpenAIES(ESConfig(**config), make_env(env_id))
        self.programs = Programs(self.es)
        self.fail_at = fail_at
        self.states = None

    def join(self, seeds: int, state_bytes: bytes) -> str:
        template = jax.vmap(self.es.init)(jnp.stack([jax.random.key(0)] * seeds))
        self.states = flax.serialization.from_bytes(template, state_bytes)
        return params_hash(self.states)

    def warm_up(self, sizes: list[int]) -> None:
        """Compiles the evaluation for the share sizes it will see, and the update."""
        seeds = self.states.generation.shape[0]
        for n in sizes:
            out = self.programs.evaluate(self.states, jnp.zeros((seeds, n), jnp.int32))
            jax.block_until_ready(out)
        jax.block_until_ready(self.programs.step(self.states, *_zero_results(self.es, seeds)))

    def evaluate(self, generation: np.ndarray, members: np.ndarray):
        if not np.array_equal(np.asarray(self.states.generation), generation):
            raise RuntimeError(
                f"worker out of step: it holds generations {np.asarray(self.states.generation)}, "
                f"asked for {generation}"
            )
        if self.fail_at is not None and int(generation.max()) >= self.fail_at:
            os._exit(1)  # a crash, for the fault-tolerance tests
        seeds = generation.shape[0]
        indices = jnp.tile(jnp.asarray(members, jnp.int32), (seeds, 1))
        fitness, steps, sums = self.programs.evaluate(self.states, indices)
        return np.asarray(fitness), np.asarray(steps), np.asarray(sums)

    def apply(self, fitness, steps, sums, active) -> str:
        self.states = self.programs.step(self.states, fitness, steps, sums, active)
        return params_hash(self.states)


class RayESBackend:
    """Plugs into ``IterativeRunner``: ``advance`` runs generations on the workers."""

    kind = "ray"

    def __init__(
        self,
        es: OpenAIES,
        env_id: str,
        workers: int = 2,
        address: str | None = None,
        fail_at: dict[int, int] | None = None,
        replace_failed: bool = True,
    ):
        self.es = es
        self.env_id = env_id
        self.num_workers = workers
        self.address = address
        self.fail_at = dict(fail_at or {})
        self.replace_failed = replace_failed
        self.programs = Programs(es)
        self._budget = 0
        """environment steps per seed; set by the caller (the run's ``steps``)."""
        self.failures = 0
        self.reassigned = 0
        self.joined = 0
        self.join_bytes = 0
        self.bytes_per_generation: list[int] = []
        self.generation_seconds: list[float] = []
        self.startup_seconds = 0.0
        self._started_ray = False
        self.workers: list = []

    # lifecycle ------------------------------------------------------------------------------

    def _new_worker(self, fail_at: int | None = None):
        import ray

        index = self._next_index
        self._next_index += 1
        config = {k: getattr(self.es.config, k) for k in self.es.config.__dataclass_fields__}
        core = index if not self.address else None
        return ray.remote(num_cpus=1, max_restarts=0)(ESWorker).remote(
            config, self.env_id, core, fail_at
        )

    def _join(self, worker, states) -> None:
        import ray

        data = flax.serialization.to_bytes(states)
        seeds = int(states.generation.shape[0])
        self.join_bytes += _size((seeds, data))
        ray.get(worker.join.remote(seeds, data))
        self.joined += 1

    def _shares(self, pairs: list[int], workers: int) -> list[list[int]]:
        return [pairs[i::workers] for i in range(workers) if pairs[i::workers]]

    def setup(self, states) -> None:
        import ray

        start = time.perf_counter()
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(
                    num_cpus=max(self.num_workers, 1),
                    include_dashboard=False,
                    log_to_driver=False,
                )
            self._started_ray = True
        self._next_index = 0
        self.workers = [self._new_worker(self.fail_at.get(i)) for i in range(self.num_workers)]
        for w in self.workers:
            self._join(w, states)
        pairs = list(range(self.es.config.population // 2))
        sizes = sorted({2 * len(share) for share in self._shares(pairs, len(self.workers))})
        ray.get([w.warm_up.remote(sizes) for w in self.workers])
        # the driver is a replica too: it applies the same update and checks the hashes
        seeds = int(states.generation.shape[0])
        self.programs.step(states, *_zero_results(self.es, seeds))
        self.startup_seconds = time.perf_counter() - start

    def close(self) -> None:
        import ray

        for w in self.workers:
            try:
                ray.kill(w)
            except Exception:
                pass
        if self._started_ray:
            ray.shutdown()

    def summary(self) -> dict:
        b, g = self.bytes_per_generation, self.generation_seconds
        return {
            "kind": self.kind,
            "workers": self.num_workers,
            "address": self.address,
            "num_params": self.es.num_params,
            "startup_seconds": self.startup_seconds,
            "worker_failures": self.failures,
            "reassigned_members": self.reassigned,
            "workers_joined": self.joined,
            "join_bytes": self.join_bytes,
            "bytes_per_generation_mean": float(np.mean(b)) if b else None,
            "bytes_per_generation_max": int(max(b)) if b else None,
            "generation_seconds_median": float(np.median(g)) if g else None,
        }

    # a generation ---------------------------------------------------------------------------

    def _evaluate_all(self, states):
        """Every member's results (``[seeds, population]``), surviving worker deaths."""
        import ray

        generation = np.asarray(states.generation)
        pending = list(range(self.es.config.population // 2))
        results: dict[int, tuple] = {}
        sent = 0
        while pending:
            if not self.workers:
                raise RuntimeError("every ES worker has died; the generation cannot complete")
            jobs = []
            for worker, pairs in zip(
                self.workers, self._shares(pending, len(self.workers)), strict=False
            ):
                members = np.array([m for j in pairs for m in (2 * j, 2 * j + 1)], np.int32)
                sent += _size((generation, members))
                jobs.append((worker, pairs, members, worker.evaluate.remote(generation, members)))
            pending = []
            for worker, pairs, members, ref in jobs:
                try:
                    fitness, steps, sums = ray.get(ref)
                except ray.exceptions.RayActorError:
                    self.failures += 1
                    self.reassigned += len(members)
                    self.workers = [w for w in self.workers if w is not worker]
                    pending += pairs
                    if self.replace_failed:
                        replacement = self._new_worker()
                        self._join(replacement, states)
                        self.workers.append(replacement)
                    continue
                sent += _size((fitness, steps, sums))
                for i, m in enumerate(members):
                    results[int(m)] = (fitness[:, i], steps[:, i], sums[:, i])
            pending.sort()
        pop = self.es.config.population
        fitness = np.stack([results[m][0] for m in range(pop)], axis=1)
        steps = np.stack([results[m][1] for m in range(pop)], axis=1)
        sums = np.stack([results[m][2] for m in range(pop)], axis=1)
        return fitness, steps, sums, sent

    def advance(self, states, keys, chunk: int):
        """``chunk`` generations of every seed; the runner's ``(states, (active, metrics))``."""
        import ray

        rows, actives = [], []
        for _ in range(chunk):
            start = time.perf_counter()
            active = np.asarray(states.env_steps) < self._budget
            fitness, steps, sums, sent = self._evaluate_all(states)
            args = (fitness, steps, sums, active)
            refs = [w.apply.remote(*args) for w in self.workers]
            new = self.programs.step(states, fitness, steps, sums, jnp.asarray(active))
            own = params_hash(new)
            hashes = ray.get(refs)
            sent += len(refs) * _size(args) + sum(_size(h) for h in hashes)
            if any(h != own for h in hashes):
                raise RuntimeError(
                    f"ES replicas diverged at generation {np.asarray(states.generation)}: "
                    "parameter hashes differ between workers and driver"
                )
            elapsed = time.perf_counter() - start
            self.bytes_per_generation.append(sent)
            self.generation_seconds.append(elapsed)
            row = generation_rows(states.params, new.params, fitness, active)
            row["bytes_per_generation"] = np.full(len(active), sent, np.float64)
            row["generation_seconds"] = np.full(len(active), elapsed, np.float64)
            row["workers"] = np.full(len(active), len(self.workers), np.float64)
            rows.append(row)
            actives.append(active)
            states = new
        return states, stack_rows(rows, actives)
