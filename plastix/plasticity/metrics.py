"""Plasticity diagnostics: pure functions of activations and parameter trees.

Activations come from a network applied with ``mutable=["activations"]``: every hidden layer
``sow``s its post-ReLU output as ``<layer>_out`` (``plastix.nets.layer_outputs`` keys them by
layer path). A dense layer's output
is ``[batch, units]``; a convolution's is ``[batch, H, W, channels]``, whose units are its
channels (each channel is one filter; its spatial positions are samples of that unit).

- ``fraction_active_units`` (Ma et al. ICLR 2024, "FAU"): the share of (unit, sample) outputs
  that are > 0, over all hidden layers of a network. For convolutions every spatial position of
  every channel of every sample counts once.
  ``mlp_layers`` picks a network's layers after its encoder (Ma et al.'s "critic MLP").
- ``dormant_ratio`` (Sokar et al. 2023, ReDo): unit i of a layer has score
  ``s_i = E|h_i| / mean_j E|h_j|`` (expectation over the batch, and for convolutions also over
  space); it is τ-dormant if ``s_i <= τ``. The ratio is dormant units / all units, over layers.
- ``effective_rank`` (Roy & Vetterli 2007): ``exp(H(p))`` with ``p = σ / Σσ`` of the singular
  values of the feature matrix.
- ``srank`` (Kumar et al. 2021): the number of singular values needed to reach ``1 - δ`` of
  their sum (δ = 0.01).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from plastix import nets
from plastix.nets import layer_outputs  # noqa: F401  (where the activations come from)


def _unit_axes(h: jax.Array) -> tuple[int, ...]:
    """Axes averaged to score a unit: batch (and space for convolutions); units are last."""
    return tuple(range(h.ndim - 1))


fraction_active_units = nets.fraction_active_units
mlp_layers = nets.mlp_layers


def unit_scores(h: jax.Array) -> jax.Array:
    """ReDo's score per unit of one layer: ``E|h_i| / mean_j E|h_j|``."""
    mean_abs = jnp.mean(jnp.abs(h), axis=_unit_axes(h))
    return mean_abs / (jnp.mean(mean_abs) + 1e-9)


def dormant_mask(h: jax.Array, tau: float) -> jax.Array:
    """True for the τ-dormant units of one layer (shape: the layer's units)."""
    return unit_scores(h) <= tau


def dormant_ratio(layers: dict[str, jax.Array], tau: float = 0.025) -> jax.Array:
    dormant = sum(jnp.sum(dormant_mask(h, tau)) for h in layers.values())
    units = sum(h.shape[-1] for h in layers.values())
    return dormant / units


def singular_values(features: jax.Array) -> jax.Array:
    return jnp.linalg.svd(features.reshape(features.shape[0], -1), compute_uv=False)


def effective_rank(features: jax.Array) -> jax.Array:
    sigma = singular_values(features)
    p = sigma / (jnp.sum(sigma) + 1e-12)
    entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0))
    return jnp.exp(entropy)


def srank(features: jax.Array, delta: float = 0.01) -> jax.Array:
    sigma = singular_values(features)  # sorted, largest first
    cumulative = jnp.cumsum(sigma) / (jnp.sum(sigma) + 1e-12)
    return jnp.sum(cumulative < 1.0 - delta) + 1


def tree_norm(tree: Any) -> jax.Array:
    """L2 norm of all leaves together."""
    leaves = jax.tree.leaves(tree)
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in leaves))


def distance(tree: Any, reference: Any) -> jax.Array:
    """L2 distance between two parameter trees (e.g. from initialisation)."""
    return tree_norm(jax.tree.map(jnp.subtract, tree, reference))


def feature_norm(features: jax.Array) -> jax.Array:
    """Mean L2 norm of the feature vectors of a batch."""
    return jnp.mean(jnp.linalg.norm(features.reshape(features.shape[0], -1), axis=-1))
