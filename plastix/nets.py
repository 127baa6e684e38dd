"""Networks with named sub-modules and exposed activations.

Every network is ``encoder`` (convolutions, image observations only) -> ``torso`` (dense hidden
layers) -> ``head`` (the output layer), so parameters have paths such as
``torso/dense_1/kernel`` and interventions can address layers by name. Each hidden layer
``sow``s its post-activation output into the ``activations`` collection (a no-op unless that
collection is asked for), which is what the plasticity diagnostics read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = "activations"


def default_init(scale: float = jnp.sqrt(2.0)):
    return nn.initializers.orthogonal(scale)


class ConvEncoder(nn.Module):
    """Convolutions over ``(..., H, W, C)`` observations, flattened at the end."""

    channels: Sequence[int]
    kernel_sizes: Sequence[int]
    strides: Sequence[int]
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, (c, k, s) in enumerate(
            zip(self.channels, self.kernel_sizes, self.strides, strict=True)
        ):
            x = nn.Conv(
                c, (k, k), (s, s), padding="VALID", kernel_init=default_init(), name=f"conv_{i}"
            )(x)
            if self.layer_norm:
                x = nn.LayerNorm(name=f"norm_{i}")(x)
            x = nn.relu(x)
            self.sow(ACTIVATIONS, f"conv_{i}_out", x)
        return x.reshape(x.shape[:-3] + (-1,))


class MLPTorso(nn.Module):
    """Dense hidden layers with ReLU (optionally LayerNorm before the non-linearity)."""

    hidden_sizes: Sequence[int]
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, size in enumerate(self.hidden_sizes):
            x = nn.Dense(size, kernel_init=default_init(), name=f"dense_{i}")(x)
            if self.layer_norm:
                x = nn.LayerNorm(name=f"norm_{i}")(x)
            x = nn.relu(x)
            self.sow(ACTIVATIONS, f"dense_{i}_out", x)
        return x


@dataclass(frozen=True)
class NetSpec:
    """The shape of a network's body: optional convolutions, then dense hidden layers."""

    hidden_sizes: tuple[int, ...] = (256, 256)
    conv_channels: tuple[int, ...] = ()
    conv_kernel_sizes: tuple[int, ...] = ()
    conv_strides: tuple[int, ...] = ()
    layer_norm: bool = False


def body(spec: NetSpec, obs: jax.Array, extra: jax.Array | None = None) -> jax.Array:
    """``encoder`` (when the spec has convolutions) then ``torso``, created in the caller's
    scope so their parameter paths are ``encoder/...`` and ``torso/...``."""
    x = obs
    if spec.conv_channels:
        x = ConvEncoder(
            spec.conv_channels,
            spec.conv_kernel_sizes,
            spec.conv_strides,
            spec.layer_norm,
            name="encoder",
        )(x)
    if extra is not None:
        x = jnp.concatenate([x, extra], axis=-1)
    return MLPTorso(spec.hidden_sizes, spec.layer_norm, name="torso")(x)


class QNetwork(nn.Module):
    """Action values ``Q(s, ·)`` for a discrete action space."""

    num_actions: int
    spec: NetSpec

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        features = body(self.spec, obs)
        return nn.Dense(self.num_actions, kernel_init=default_init(1.0), name="head")(features)


class Critic(nn.Module):
    """``Q(s, a)`` for a continuous action; the action joins after the encoder."""

    spec: NetSpec

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        features = body(self.spec, obs, action)
        return nn.Dense(1, kernel_init=default_init(1.0), name="head")(features)[..., 0]


# An ensemble of independent critics evaluated in one vmapped call: every parameter (and every
# sown activation) gets a leading axis of size ``num_critics``.
CriticEnsemble = nn.vmap(
    Critic,
    variable_axes={"params": 0, ACTIVATIONS: 0},
    split_rngs={"params": True},
    in_axes=None,
    out_axes=0,
    axis_size=2,
)


class GaussianActor(nn.Module):
    """Mean and log standard deviation of a Gaussian before the tanh squash."""

    action_dim: int
    spec: NetSpec
    log_std_min: float = -5.0
    log_std_max: float = 2.0

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        features = body(self.spec, obs)
        out = nn.Dense(2 * self.action_dim, kernel_init=default_init(0.01), name="head")(features)
        mean, log_std = jnp.split(out, 2, axis=-1)
        # Squash log_std smoothly into its range (as CleanRL's SAC): no dead gradient at a clip.
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (
            jnp.tanh(log_std) + 1.0
        )
        return mean, log_std
