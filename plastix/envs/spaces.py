"""Observation and action spaces shared by every environment kind.

Agents read only these; they never see whether the environment is a gymnax environment, a
Gymnasium environment stepped on the host, or one of plastix's own tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Discrete:
    """``n`` actions numbered ``0 .. n-1``."""

    n: int

    @property
    def shape(self) -> tuple[int, ...]:
        return ()

    @property
    def dtype(self):
        return jnp.int32

    def sample(self, key: jax.Array, batch: tuple[int, ...] = ()) -> jax.Array:
        return jax.random.randint(key, batch, 0, self.n, dtype=jnp.int32)

    def describe(self) -> str:
        return f"Discrete({self.n})"


@dataclass(frozen=True)
class Box:
    """A box of numbers, ``low <= x <= high`` elementwise (bounds stored as tuples).

    ``dtype`` is ``float32``, or ``uint8`` for images: those are stored in the replay buffer
    as bytes and scaled to [0, 1] by the networks' first layer.
    """

    low: tuple[float, ...]
    high: tuple[float, ...]
    shape: tuple[int, ...]
    dtype_name: str = "float32"

    @classmethod
    def from_bounds(cls, low, high, shape, dtype=np.float32) -> Box:
        shape = tuple(int(s) for s in shape)
        low = np.broadcast_to(np.asarray(low, dtype=np.float64), shape).ravel()
        high = np.broadcast_to(np.asarray(high, dtype=np.float64), shape).ravel()
        name = "uint8" if np.dtype(dtype) == np.uint8 else "float32"
        return cls(tuple(float(x) for x in low), tuple(float(x) for x in high), shape, name)

    @property
    def dtype(self):
        return jnp.uint8 if self.dtype_name == "uint8" else jnp.float32

    @property
    def low_array(self) -> jax.Array:
        return jnp.asarray(self.low, jnp.float32).reshape(self.shape)

    @property
    def high_array(self) -> jax.Array:
        return jnp.asarray(self.high, jnp.float32).reshape(self.shape)

    @property
    def bounded(self) -> bool:
        return bool(np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high)))

    def sample(self, key: jax.Array, batch: tuple[int, ...] = ()) -> jax.Array:
        if not self.bounded:
            return jax.random.normal(key, batch + self.shape)
        return jax.random.uniform(
            key, batch + self.shape, minval=self.low_array, maxval=self.high_array
        )

    def describe(self) -> str:
        kind = "" if self.dtype_name == "float32" else f", dtype={self.dtype_name}"
        return f"Box(shape={self.shape}{kind})"


Space = Discrete | Box
