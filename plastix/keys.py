"""Random-key streams: every random draw of a run derives from its seed through one table.

A run of seeds ``s … s+N-1`` starts from ``jax.random.key(s + k)`` per seed. Everything outside
the compiled training step draws from that key folded with a salt from ``Stream`` (and an
index, such as the number of the evaluation), so streams never overlap and any one of them can
be rebuilt without the others: evaluation ``i`` of seed ``k`` uses
``fold_in(fold_in(key_k, Stream.EVALUATION), i)`` whatever else the run did.

An intervention registered by a user gets a salt from ``salt_for(name)``, a stable hash above
every value of the table.
"""

from __future__ import annotations

import enum
import zlib

import jax


class Stream(enum.IntEnum):
    """Salts folded into a seed's key; one per purpose."""

    EVALUATION = 1
    """evaluation episodes (index: the evaluation's number)."""
    DIAGNOSTICS = 2
    """the batch the diagnostics are measured on (index: iterations done)."""
    ITERATION = 3
    """an iterative method's own updates (index: the iteration's number)."""
    RESET = 10
    SHRINK_PERTURB = 11
    REDO = 12
    INJECT = 13
    PRIME = 14
    CBP = 15
    """interventions (index: the application's number)."""
    REPLAY_SCHEDULE = 20
    """the Adaptive Replay Ratio's measurement batch (index: the environment step)."""


class ESStream(enum.IntEnum):
    """Salts folded into an ES state's own key (not a seed key): perturbations, the
    environments of a generation, the evaluation of the unperturbed policy."""

    NOISE = 1
    ENV = 2
    EVAL = 3


USER_SALT_BASE = 1 << 20


def salt_for(name: str) -> int:
    """A stable salt for a user-registered stream, above every value of ``Stream``."""
    return USER_SALT_BASE + zlib.crc32(name.encode()) % (1 << 30)


def derive_keys(keys: jax.Array, *salts: int) -> jax.Array:
    """Per-seed keys ``fold_in(fold_in(key, salts[0]), salts[1]) ...`` for a stack of keys."""

    def derive(key):
        for salt in salts:
            key = jax.random.fold_in(key, int(salt))
        return key

    return jax.vmap(derive)(keys)


def seed_keys(first: int, count: int) -> jax.Array:
    """The root keys of seeds ``first … first+count-1``, stacked."""
    import jax.numpy as jnp

    return jnp.stack([jax.random.key(first + k) for k in range(count)])
