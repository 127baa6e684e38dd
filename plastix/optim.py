"""Adam with a step count per parameter array, so interventions can reset any part of it.

``optax.adam`` keeps one step count for all parameters. An intervention that re-initialises
only some layers (a reset of the head, ReDo's recycled units) must restart those parameters'
Adam statistics — moments *and* the bias-correction count — while the rest keep theirs; with a
shared count that is impossible. Here ``count``, ``mu`` and ``nu`` all mirror the parameter
tree, and ``reset_where`` restarts any selection of them. With nothing reset, updates equal
``optax.adam``'s.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class AdamState(NamedTuple):
    count: Any  # int32 per parameter array
    mu: Any
    nu: Any


def adam(
    learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> optax.GradientTransformation:
    def init(params):
        return AdamState(
            count=jax.tree.map(lambda _: jnp.zeros([], jnp.int32), params),
            mu=jax.tree.map(jnp.zeros_like, params),
            nu=jax.tree.map(jnp.zeros_like, params),
        )

    def update(grads, state, params=None):
        del params
        count = jax.tree.map(optax.safe_int32_increment, state.count)
        mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
        nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * jnp.square(g), state.nu, grads)

        def step(m, v, c):
            m_hat = m / (1 - b1 ** c.astype(m.dtype))
            v_hat = v / (1 - b2 ** c.astype(v.dtype))
            return -learning_rate * m_hat / (jnp.sqrt(v_hat) + eps)

        return jax.tree.map(step, mu, nu, count), AdamState(count, mu, nu)

    return optax.GradientTransformation(init, update)


def find_adam_states(opt_state) -> list[AdamState]:
    """The ``AdamState``s inside an optimizer state (e.g. inside a ``chain``)."""
    return [
        s
        for s in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, AdamState))
        if isinstance(s, AdamState)
    ]


def reset_where(opt_state, mask: Any):
    """Restarts Adam where ``mask`` (a tree like the parameters, of bool arrays broadcastable to
    each parameter, or bools) is true: moments become 0, and a parameter array whose every entry
    is reset gets count 0."""

    def reset(state):
        if not isinstance(state, AdamState):
            return state
        mu = jax.tree.map(lambda m, k: jnp.where(k, 0.0, m), state.mu, mask)
        nu = jax.tree.map(lambda v, k: jnp.where(k, 0.0, v), state.nu, mask)
        count = jax.tree.map(
            lambda c, k, m: jnp.where(jnp.all(jnp.broadcast_to(k, m.shape)), 0, c),
            state.count,
            mask,
            state.mu,
        )
        return AdamState(count, mu, nu)

    return jax.tree.map(reset, opt_state, is_leaf=lambda x: isinstance(x, AdamState))
