"""Networks with named sub-modules and exposed activations.

Every network is ``encoder`` (convolutions, image observations only) -> ``torso`` (dense hidden
layers) -> ``head`` (the output layer), so parameters have paths such as
``torso/dense_1/kernel`` and interventions can address layers by name. Each hidden layer
``sow``s its post-activation output into the ``activations`` collection (a no-op unless that
collection is asked for), which is what the plasticity diagnostics read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from plastix.envs.spaces import Space
from plastix.errors import ConfigError, require

ACTIVATIONS = "activations"


def layer_outputs(activations: Any) -> dict[str, jax.Array]:
    """``{"torso/dense_0": array, ...}`` from a sown ``activations`` collection.

    ``sow`` stores a tuple per name; this takes its last entry and drops the ``_out`` suffix,
    so the keys are the layers' parameter paths.
    """
    flat = {}
    for path, value in jax.tree_util.tree_flatten_with_path(
        activations, is_leaf=lambda x: isinstance(x, tuple)
    )[0]:
        keys = [getattr(p, "key", getattr(p, "idx", None)) for p in path]
        name = "/".join(str(k) for k in keys if not isinstance(k, int))
        array = value[-1] if isinstance(value, tuple) else value
        flat[name.removesuffix("_out")] = array
    return flat


def fraction_active_units(layers: dict[str, jax.Array]) -> jax.Array:
    """FAU (Ma et al. 2024): the share of (unit, sample) outputs of ``layers`` that are > 0
    (``plastix.plasticity.metrics`` documents the diagnostics built on it)."""
    active = sum(jnp.sum(h > 0) for h in layers.values())
    total = sum(h.size for h in layers.values())
    return active / total


def mlp_layers(layers: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """The layers after the encoder (the torso and its branches): what Ma et al. 2024 call the
    critic's MLP, whose FAU the Adaptive Replay Ratio reads."""
    return {p: h for p, h in layers.items() if not p.startswith("encoder/")}


def default_init(scale: float = jnp.sqrt(2.0)):
    return nn.initializers.orthogonal(scale)


ACTIVATION_NAMES = ("relu", "crelu", "fourier")


def activate(name: str, x: jax.Array) -> jax.Array:
    """The hidden non-linearity ``name`` on the last axis of ``x``.

    - ``relu``: ``max(x, 0)``.
    - ``crelu`` (concatenated ReLU; Shang et al. 2016, against plasticity loss Abbas et al.
      2023): ``[relu(x), relu(-x)]``, twice the width, so a unit never has a zero gradient on
      both sides.
    - ``fourier`` (deep Fourier features, Lewandowski et al. 2024): ``[sin(x), cos(x)]``, twice
      the width; every unit is close to linear somewhere in every period.
    """
    if name == "relu":
        return nn.relu(x)
    if name == "crelu":
        return jnp.concatenate([nn.relu(x), nn.relu(-x)], axis=-1)
    if name == "fourier":
        return jnp.concatenate([jnp.sin(x), jnp.cos(x)], axis=-1)
    raise ConfigError(f"unknown activation {name!r}; valid choices: {', '.join(ACTIVATION_NAMES)}")


class ConvEncoder(nn.Module):
    """Convolutions over ``(..., H, W, C)`` observations, flattened at the end."""

    channels: Sequence[int]
    kernel_sizes: Sequence[int]
    strides: Sequence[int]
    layer_norm: bool = False
    activation: str = "relu"

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
            x = activate(self.activation, x)
            self.sow(ACTIVATIONS, f"conv_{i}_out", x)
        return x.reshape(x.shape[:-3] + (-1,))


class Diag(nn.Module):
    """A learnable scale and offset per unit, ``x · c + b`` (``c`` starts at 1, ``b`` at 0):
    the capacity Parseval regularisation gives back to orthogonal layers (Chung et al. 2024)."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = self.param("scale", nn.initializers.ones, (x.shape[-1],))
        b = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
        return x * c + b


class MLPTorso(nn.Module):
    """Dense hidden layers with a non-linearity (ReLU by default; optionally LayerNorm or a
    per-unit learnable scale before it)."""

    hidden_sizes: Sequence[int]
    layer_norm: bool = False
    record: bool = True  # sow the activations
    activation: str = "relu"
    diag: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, size in enumerate(self.hidden_sizes):
            x = nn.Dense(size, kernel_init=default_init(), name=f"dense_{i}")(x)
            if self.layer_norm:
                x = nn.LayerNorm(name=f"norm_{i}")(x)
            if self.diag:
                x = Diag(name=f"diag_{i}")(x)
            x = activate(self.activation, x)
            if self.record:
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
    injection: bool = False
    """build plasticity-injection branches (see ``after_encoder``)."""
    activation: str = "relu"
    """the hidden non-linearity (``ACTIVATION_NAMES``; ``crelu`` and ``fourier`` double the
    width a layer passes on)."""
    diag: bool = False
    """a learnable per-unit scale and offset after each dense hidden layer (``Diag``)."""
    feature_dim: int = 0
    """a ``trunk`` (dense to this many features, LayerNorm, tanh; DrQ-v2's) between the
    encoder's output and the torso (0: none)."""

    def without_encoder(self) -> NetSpec:
        """This body after a shared encoder: no convolutions of its own."""
        return dataclasses.replace(self, conv_channels=(), conv_kernel_sizes=(), conv_strides=())


def check_network_fields(config) -> None:
    """Validates the network fields every config has (``hidden_sizes``, ``encoder``, ...)."""
    require(
        len(config.hidden_sizes) >= 1 and all(h >= 1 for h in config.hidden_sizes),
        f"hidden_sizes must be one or more positive sizes, got {config.hidden_sizes}",
    )
    require(
        config.encoder in ("auto", "mlp", "cnn"),
        f"encoder must be one of auto, mlp, cnn; got {config.encoder!r}",
    )
    require(
        len(config.conv_channels) == len(config.conv_kernel_sizes) == len(config.conv_strides),
        "conv_channels, conv_kernel_sizes and conv_strides must have the same length",
    )


def net_spec_of(config, obs_space: Space) -> NetSpec:
    """The network body a config's fields describe for ``obs_space`` (convolutions for
    (H, W, C) observations when ``encoder`` is auto or cnn)."""
    image = len(obs_space.shape) == 3
    use_cnn = config.encoder == "cnn" or (config.encoder == "auto" and image)
    if use_cnn and not image:
        raise ConfigError(
            f"encoder='cnn' needs (H, W, C) observations, got shape {obs_space.shape}"
        )
    if use_cnn:
        return NetSpec(
            tuple(config.hidden_sizes),
            tuple(config.conv_channels),
            tuple(config.conv_kernel_sizes),
            tuple(config.conv_strides),
            config.layer_norm,
        )
    return NetSpec(tuple(config.hidden_sizes), layer_norm=config.layer_norm)


INJECTED = "injected"
INJECTED_FROZEN = "injected_frozen"


class Trunk(nn.Module):
    """DrQ-v2's trunk: dense to ``features``, LayerNorm, tanh (not recorded: the diagnostics'
    FAU counts ReLU-like units)."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.Dense(self.features, kernel_init=default_init(1.0), name="dense_0")(x)
        return jnp.tanh(nn.LayerNorm(name="norm_0")(x))


def _convolutions(spec: NetSpec, obs: jax.Array) -> jax.Array:
    x = obs.astype(jnp.float32) / 255.0 if obs.dtype == jnp.uint8 else obs
    if not spec.conv_channels:
        return x
    return ConvEncoder(
        spec.conv_channels,
        spec.conv_kernel_sizes,
        spec.conv_strides,
        spec.layer_norm,
        spec.activation,
        name="encoder",
    )(x)


def encode(spec: NetSpec, obs: jax.Array, extra: jax.Array | None = None) -> jax.Array:
    """``encoder`` (when the spec has convolutions), created in the caller's scope so its
    parameter paths are ``encoder/...``, then the ``trunk`` (when ``spec.feature_dim``);
    ``extra`` (an action) is appended to the result. ``uint8`` observations (images stored as
    bytes) are scaled to [0, 1] first."""
    x = _convolutions(spec, obs)
    if spec.feature_dim:
        x = Trunk(spec.feature_dim, name="trunk")(x)
    if extra is not None:
        x = jnp.concatenate([x, extra], axis=-1)
    return x


class Encoder(nn.Module):
    """An image encoder on its own, the network ``encoder`` that an actor and a critic share
    (DrQ-v2; pixel SAC): parameters ``encoder/conv_i``, flat features out."""

    spec: NetSpec

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        return _convolutions(self.spec, obs)


def _torso_and_head(spec: NetSpec, x, outputs: int, head_scale: float, record: bool):
    x = MLPTorso(
        spec.hidden_sizes, spec.layer_norm, record, spec.activation, spec.diag, name="torso"
    )(x)
    return nn.Dense(outputs, kernel_init=default_init(head_scale), name="head")(x)


class _Branch(nn.Module):
    """A copy of ``torso`` + ``head``, for plasticity injection."""

    spec: NetSpec
    outputs: int
    head_scale: float

    @nn.compact
    def __call__(self, x):
        return _torso_and_head(self.spec, x, self.outputs, self.head_scale, record=False)


def after_encoder(
    module: nn.Module, spec: NetSpec, features, outputs: int, head_scale: float
) -> jax.Array:
    """``torso`` then ``head`` on the encoder's features, in ``module``'s scope.

    With ``spec.injection`` (plasticity injection, Nikishin et al. 2023) the output is
    ``h_θ(φ) + (h_θ1′(φ) − h_θ2′(φ))``: ``h_θ`` is ``torso`` + ``head``, ``θ1′`` (``injected``)
    and ``θ2′`` (``injected_frozen``) are two copies of it that are equal at initialisation —
    so the bracket is exactly zero and the output is ``h_θ(φ)`` — and ``θ2′`` never receives
    gradients. ``plasticity.interventions.inject`` gives both copies the same fresh values and
    freezes ``θ`` in the optimizer, so only ``θ1′`` (and the encoder ``φ``) learn afterwards.
    """
    out = _torso_and_head(spec, features, outputs, head_scale, record=True)
    if not spec.injection:
        return out
    branch = _Branch(spec, outputs, head_scale, name=INJECTED)
    new = branch(features)
    # θ2′ starts as a copy of θ1′ (read back from the variables just created).
    frozen = module.param(INJECTED_FROZEN, lambda _: module.variables["params"][INJECTED])
    old = _Branch(spec, outputs, head_scale, parent=None).apply(
        {"params": jax.lax.stop_gradient(frozen)}, features
    )
    return out + (new - old)


def is_injection_branch(path: str) -> bool:
    """Whether a parameter path lies in an injection branch (these start frozen)."""
    parts = path.split("/")
    return INJECTED in parts or INJECTED_FROZEN in parts


class QNetwork(nn.Module):
    """Action values ``Q(s, ·)`` for a discrete action space.

    ``dueling`` (Wang et al. 2016): ``torso`` + ``head`` are the advantage stream ``A`` and a
    second copy (``value``, not recorded by the diagnostics) the value stream ``V``;
    ``Q = V + A − mean_a A``."""

    num_actions: int
    spec: NetSpec
    dueling: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        features = encode(self.spec, obs)
        q = after_encoder(self, self.spec, features, self.num_actions, 1.0)
        if not self.dueling:
            return q
        value = _Branch(dataclasses.replace(self.spec, injection=False), 1, 1.0, name="value")
        return value(features) + q - q.mean(axis=-1, keepdims=True)


class Critic(nn.Module):
    """``Q(s, a)`` for a continuous action; the action joins after the encoder."""

    spec: NetSpec

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        return after_encoder(self, self.spec, encode(self.spec, obs, action), 1, 1.0)[..., 0]


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
        out = after_encoder(self, self.spec, encode(self.spec, obs), 2 * self.action_dim, 0.01)
        mean, log_std = jnp.split(out, 2, axis=-1)
        # Squash log_std smoothly into its range (as CleanRL's SAC): no dead gradient at a clip.
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (
            jnp.tanh(log_std) + 1.0
        )
        return mean, log_std
