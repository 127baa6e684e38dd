"""Adam with a step count per parameter array, so interventions can reset any part of it.

``optax.adam`` keeps one step count for all parameters. An intervention that re-initialises
only some layers (a reset of the head, ReDo's recycled units) must restart those parameters'
Adam statistics — moments *and* the bias-correction count — while the rest keep theirs; with a
shared count that is impossible. Here ``count``, ``mu`` and ``nu`` all mirror the parameter
tree, and ``reset_where`` restarts any selection of them. With nothing reset, updates equal
``optax.adam``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class AdamState(NamedTuple):
    count: Any  # int32 per parameter array
    mu: Any
    nu: Any


def _adam(b1: float, b2: float, step) -> optax.GradientTransformation:
    """Adam's moments with a count per array; ``step(m̂, v̂)`` makes the update."""

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

        def corrected(m, v, c):
            return step(m / (1 - b1 ** c.astype(m.dtype)), v / (1 - b2 ** c.astype(v.dtype)))

        return jax.tree.map(corrected, mu, nu, count), AdamState(count, mu, nu)

    return optax.GradientTransformation(init, update)


def adam(
    learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> optax.GradientTransformation:
    step = lambda m_hat, v_hat: -learning_rate * m_hat / (jnp.sqrt(v_hat) + eps)  # noqa: E731
    return _adam(b1, b2, step)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    """Adam's normalised step ``m̂ / (√v̂ + ε)`` with a count per parameter array, without the
    learning rate: ``optax.chain(scale_by_adam(), optax.scale_by_learning_rate(lr))`` is
    ``optax.adam(lr)`` (to float rounding) whose statistics ``reset_where`` can restart array
    by array (a learning-rate schedule keeps its own count)."""
    return _adam(b1, b2, lambda m_hat, v_hat: m_hat / (jnp.sqrt(v_hat) + eps))


class FreezeState(NamedTuple):
    trainable: Any  # bool per parameter array
    inner: Any


def freezable(
    inner: optax.GradientTransformation, frozen_at_init=None
) -> optax.GradientTransformation:
    """``inner`` with a per-array on/off switch: a frozen array's gradient is zeroed before
    ``inner`` (so it does not count in a global-norm clip) and its update is zeroed after (so
    momentum cannot move it). ``frozen_at_init(path) -> bool`` picks the arrays frozen from the
    start; ``set_trainable`` flips them later (plasticity injection freezes the old head)."""

    def init(params):
        def trainable(path, _):
            name = "/".join(str(getattr(k, "key", k)) for k in path)
            return jnp.asarray(not (frozen_at_init and frozen_at_init(name)))

        return FreezeState(jax.tree_util.tree_map_with_path(trainable, params), inner.init(params))

    def update(grads, state, params=None):
        grads = jax.tree.map(lambda g, t: jnp.where(t, g, 0.0), grads, state.trainable)
        updates, inner_state = inner.update(grads, state.inner, params)
        updates = jax.tree.map(lambda u, t: jnp.where(t, u, 0.0), updates, state.trainable)
        return updates, FreezeState(state.trainable, inner_state)

    return optax.GradientTransformation(init, update)


def set_trainable(opt_state, trainable: Any):
    """Replaces the on/off switches of a ``freezable`` state with ``trainable``, a tree like
    the parameters of bools."""
    if not isinstance(opt_state, FreezeState):
        raise TypeError("set_trainable needs the state of an optim.freezable optimizer")
    new = jax.tree.map(lambda old, t: jnp.asarray(t, old.dtype), opt_state.trainable, trainable)
    return opt_state._replace(trainable=new)


def _restart_adam(state: AdamState, mask) -> AdamState:
    mu = jax.tree.map(lambda m, k: jnp.where(k, 0.0, m), state.mu, mask)
    nu = jax.tree.map(lambda v, k: jnp.where(k, 0.0, v), state.nu, mask)
    count = jax.tree.map(
        lambda c, k, m: jnp.where(jnp.all(jnp.broadcast_to(k, m.shape)), 0, c),
        state.count,
        mask,
        state.mu,
    )
    return AdamState(count, mu, nu)


RESTARTS: dict[type, Callable] = {AdamState: _restart_adam}
"""Optimizer states with statistics per parameter, and how each restarts where a mask is true
(``reset_where``); a wrap with such a state (TRAC) adds itself here."""


def find_adam_states(opt_state) -> list[AdamState]:
    """The ``AdamState``s inside an optimizer state (e.g. inside a ``chain``)."""
    return [
        s
        for s in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, AdamState))
        if isinstance(s, AdamState)
    ]


def reset_where(opt_state, mask: Any):
    """Restarts the per-parameter statistics of an optimizer state where ``mask`` (a tree like
    the parameters, of bool arrays broadcastable to each parameter, or bools) is true: Adam's
    moments become 0, and a parameter array whose every entry is reset gets count 0; other
    states in ``RESTARTS`` restart their own way."""

    def restart(state):
        how = RESTARTS.get(type(state))
        return state if how is None else how(state, mask)

    is_state = lambda x: type(x) in RESTARTS  # noqa: E731
    return jax.tree.map(restart, opt_state, is_leaf=is_state)


def path_name(path) -> str:
    """``torso/dense_0/kernel`` from a pytree key path."""
    return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def map_with_names(fn, tree, *rest):
    """``tree_map`` whose ``fn(name, leaf, *others)`` also gets the leaf's path name."""
    return jax.tree_util.tree_map_with_path(lambda p, x, *r: fn(path_name(p), x, *r), tree, *rest)


class AnchoredState(NamedTuple):
    anchor: Any  # what ``init`` kept of the initial parameters (a tree, or None)
    inner: Any


def _anchored(inner, anchor, step) -> optax.GradientTransformation:
    """``inner`` with ``anchor(params)`` kept from the initial parameters and each update made
    by ``step(grads, params, anchor, inner_update) -> updates``."""

    def init(params):
        return AnchoredState(None if anchor is None else anchor(params), inner.init(params))

    def update(grads, state, params=None):
        if params is None:
            raise ValueError("this optimizer needs the parameters: update(g, state, params)")
        new_inner = []

        def inner_update(g):
            updates, inner_state = inner.update(g, state.inner, params)
            new_inner.append(inner_state)
            return updates

        updates = step(grads, params, state.anchor, inner_update)
        return updates, AnchoredState(state.anchor, new_inner[0])

    return optax.GradientTransformation(init, update)


def add_gradient(term, anchor=None) -> Callable:
    """A wrap (``wrap(tx) -> tx``) that adds ``term(params, anchor)`` — a regulariser's gradient,
    a tree like the parameters — to the gradient before ``tx``, as a loss term would be
    (so it is clipped and preconditioned with the loss's gradient). ``anchor(params)`` (if
    given) is kept from the initial parameters, e.g. a copy of them for L2-init."""

    def step(grads, params, kept, inner_update):
        return inner_update(jax.tree.map(jnp.add, grads, term(params, kept)))

    return lambda inner: _anchored(inner, anchor, step)


def project_after(project, anchor=None) -> Callable:
    """A wrap that, after ``tx``'s update, moves the parameters to ``project(new params,
    anchor)`` instead (weight clipping, Normalize-and-Project): the returned update is
    ``project(params + u) - params``."""

    def step(grads, params, kept, inner_update):
        projected = project(optax.apply_updates(params, inner_update(grads)), kept)
        return jax.tree.map(lambda q, p: q - p, projected, params)

    return lambda inner: _anchored(inner, anchor, step)


def named_leaves(tree) -> dict[str, Any]:
    """``{"torso/dense_0/kernel": leaf, ...}`` of a tree."""
    return {path_name(p): x for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}
