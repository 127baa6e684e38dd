"""Checkpoints: everything a run needs to continue exactly, in one atomically written file.

``checkpoint.msgpack`` holds the program's state of every seed (networks, optimizer, targets,
replay buffer, environments, random keys), the initial parameters (for
``distance_from_init``), the host-side state a program keeps outside JAX (host environments,
pickled), and the runner's bookkeeping as JSON (iterations done, evaluations, the
interventions' counters, how many metric rows belong to it). A resumed run reads it back into
the shapes of a freshly built state, so a checkpoint of another configuration is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import flax.serialization
import jax
import numpy as np

from plastix import runs
from plastix.errors import ConfigError

CHECKPOINT_FILE = "checkpoint.msgpack"
FORMAT = 1


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _raw(tree):
    """Random keys as their raw data; everything on the host."""
    return jax.tree.map(lambda x: np.asarray(jax.random.key_data(x) if _is_key(x) else x), tree)


def save(run_dir, state, initial, meta: dict, host: bytes | None = None) -> None:
    data = {
        "format": FORMAT,
        "meta": json.dumps(meta, sort_keys=True),
        "state": flax.serialization.to_state_dict(_raw(state)),
        "initial": flax.serialization.to_state_dict(_raw(initial)),
        "host": host,
    }
    runs.atomic_write_bytes(
        Path(run_dir) / CHECKPOINT_FILE, flax.serialization.msgpack_serialize(data)
    )


def exists(run_dir) -> bool:
    return (Path(run_dir) / CHECKPOINT_FILE).exists()


def load(run_dir, state, initial):
    """``(state, initial, meta, host)`` from ``run_dir``'s checkpoint, shaped like the given
    (freshly initialised) ``state`` and ``initial``."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.exists():
        raise ConfigError(f"{run_dir} has no {CHECKPOINT_FILE} to resume from")
    try:
        data = flax.serialization.msgpack_restore(path.read_bytes())
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        restored = _restore(state, data["state"]), _restore(initial, data["initial"])
        meta = json.loads(data["meta"])
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(
            f"{path} cannot be read back into this run's state ({e}); it is damaged or belongs "
            "to another configuration"
        ) from None
    return (*restored, meta, data.get("host"))


def _restore(template, raw):
    values = flax.serialization.from_state_dict(_raw(template), raw)
    shapes_t = [np.shape(x) for x in jax.tree.leaves(_raw(template))]
    shapes_v = [np.shape(x) for x in jax.tree.leaves(values)]
    if shapes_t != shapes_v:
        raise ValueError("array shapes differ")

    def back(t, v):
        if _is_key(t):
            return jax.random.wrap_key_data(v, impl=jax.random.key_impl(t))
        return jax.numpy.asarray(v, dtype=t.dtype)

    return jax.tree.map(back, template, values)
