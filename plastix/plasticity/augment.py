"""Random shift (DrQ, Kostrikov et al. 2021; Yarats et al. 2021): pad each image by
replicating its border ``pad`` pixels, then crop a random ``H × W`` window.

``pad`` fits the image: DrQ uses 4 for 84×84 pixels; 1 suits MinAtar's 10×10 grids (a shift of
up to one cell).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def shift_by(images: jax.Array, offsets: jax.Array, pad: int) -> jax.Array:
    """``images`` ``[B, H, W, C]`` shifted: output ``[b, i, j] = padded[b, i + dy, j + dx]``
    with ``(dy, dx) = offsets[b]`` in ``[0, 2·pad]`` (``pad, pad`` is no shift)."""
    b, h, w, c = images.shape
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")

    def crop(image, offset):
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, c))

    return jax.vmap(crop)(padded, offsets)


def random_shift(key: jax.Array, images: jax.Array, pad: int) -> jax.Array:
    offsets = jax.random.randint(key, (images.shape[0], 2), 0, 2 * pad + 1)
    return shift_by(images, offsets, pad)
