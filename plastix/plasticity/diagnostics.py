"""Diagnostics logged while an agent trains: per network, on a batch of the inputs it sees.

Every ``every`` environment steps, for every network of the agent (``critic``, ``actor``; and
for a network with convolutions also its ``encoder`` alone, as ``critic/encoder/...``; an
encoder that an actor and a critic share is a network of its own, ``encoder/...``, so
``critic/fau`` is then the critic's MLP layers alone, as Ma et al. 2024 measure it; a network
with its encoder inside also gets ``<network>/mlp/fau``, the FAU of its layers after the
encoder), the run
store gets ``<network>/<metric>`` per seed:

| metric | meaning |
|---|---|
| ``fau`` | fraction of active units over the hidden layers (Ma et al. 2024) |
| ``dormant_0`` | ratio of units that are never active (τ = 0) |
| ``dormant`` | ratio of τ-dormant units, ``τ = dormant_tau`` (Sokar et al. 2023) |
| ``erank``, ``srank`` | effective rank and srank of the penultimate features |
| ``feature_norm`` | mean L2 norm of the penultimate features |
| ``weight_norm`` | L2 norm of the network's parameters |
| ``distance_from_init`` | L2 distance of the parameters from their initial values |

The inputs are a batch from the replay buffer for the off-policy agents and the observations
of a short roll-out of the current policy for the methods that learn in iterations; each
training program supplies its networks' activations on them (``measure`` is the one place the
metrics are computed). The gradient norm is logged with the update metrics (``grad_norm``).
For an ensemble (SAC's twin critics) every metric is the mean over its members.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from plastix.errors import check_types, require
from plastix.plasticity import metrics


@dataclass(frozen=True)
class DiagnosticsConfig:
    """When and how the plasticity diagnostics are measured."""

    every: int | None = 5_000
    """environment steps between measurements (None: no diagnostics)."""
    batch_size: int = 256
    """inputs (replay transitions) the activations are measured on."""
    dormant_tau: float = 0.025
    """τ of the τ-dormant ratio (a unit is dormant when its normalised score is <= τ)."""

    def __post_init__(self):
        check_types(self)
        require(
            self.every is None or self.every >= 1,
            f"diagnostics.every must be a positive interval, got {self.every} (None: off)",
        )
        require(self.batch_size >= 2, f"diagnostics.batch_size must be >= 2, got {self.batch_size}")
        require(
            self.dormant_tau >= 0,
            f"diagnostics.dormant_tau (τ) must be >= 0, got {self.dormant_tau}",
        )


def layer_metrics(members: list[dict], tau: float) -> dict[str, jax.Array]:
    """The activation metrics of one network (the mean over an ensemble's members)."""
    out: dict[str, list] = {
        "fau": [],
        "dormant_0": [],
        "dormant": [],
        "erank": [],
        "srank": [],
        "feature_norm": [],
    }
    for layers in members:
        out["fau"].append(metrics.fraction_active_units(layers))
        out["dormant_0"].append(metrics.dormant_ratio(layers, 0.0))
        out["dormant"].append(metrics.dormant_ratio(layers, tau))
        features = layers[list(layers)[-1]]  # the last hidden layer: penultimate features
        out["erank"].append(metrics.effective_rank(features))
        out["srank"].append(metrics.srank(features).astype(jnp.float32))
        out["feature_norm"].append(metrics.feature_norm(features))
    return {name: jnp.mean(jnp.stack(values)) for name, values in out.items()}


def measure(
    activations: dict[str, list[dict]],
    params: dict,
    initial_params: dict,
    tau: float,
) -> dict[str, jax.Array]:
    """All diagnostics of one seed, ``{"<network>/<metric>": scalar}``.

    ``activations``: ``{network: [layers, ...]}`` with one ``{layer path: array}`` per ensemble
    member; ``params`` and ``initial_params``: ``{network: parameters}``.
    """
    out = {}
    for network, members in activations.items():
        for name, value in layer_metrics(members, tau).items():
            out[f"{network}/{name}"] = value
        encoders = [
            {p: h for p, h in layers.items() if p.startswith("encoder/")} for layers in members
        ]
        current, initial = params[network], initial_params[network]
        out[f"{network}/weight_norm"] = metrics.tree_norm(current)
        out[f"{network}/distance_from_init"] = metrics.distance(current, initial)
        if encoders[0] and len(encoders[0]) < len(members[0]):  # more than an encoder
            for name, value in layer_metrics(encoders, tau).items():
                out[f"{network}/encoder/{name}"] = value
            # the layers after the encoder apart (Ma et al.'s critic MLP FAU)
            mlp = [metrics.fraction_active_units(metrics.mlp_layers(m)) for m in members]
            out[f"{network}/mlp/fau"] = jnp.mean(jnp.stack(mlp))
            out[f"{network}/encoder/weight_norm"] = metrics.tree_norm(current["encoder"])
            out[f"{network}/encoder/distance_from_init"] = metrics.distance(
                current["encoder"], initial["encoder"]
            )
    return out
