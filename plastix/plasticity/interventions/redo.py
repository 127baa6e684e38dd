"""ReDo (Sokar et al. 2023, "The Dormant Neuron Phenomenon in Deep RL"): every ``every`` updates
or steps, find the τ-dormant units of the hidden layers on a batch of inputs, re-initialise
their incoming weights, zero their outgoing weights and the Adam moments of both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp

from plastix.errors import ConfigError, check_types, require
from plastix.keys import Stream
from plastix.plasticity.interventions.base import Periodic, check_every, consistent, where
from plastix.plasticity.metrics import dormant_mask
from plastix.plasticity.selectors import MEMORY, layers_of


@dataclass(frozen=True)
class ReDoConfig:
    """ReDo (Sokar et al. 2023): recycle τ-dormant units."""

    every: int | None = None
    """interval (unset: off)."""
    unit: Literal["steps", "updates"] = "updates"
    """whether ``every`` counts environment steps or gradient updates."""
    tau: float = 0.1
    """a unit is dormant if its normalised activation score is <= τ."""
    batch_size: int = 256
    """inputs (replay transitions) on which dormancy is measured."""
    networks: str = "all"
    """networks whose hidden layers are recycled: all, or critic, actor (comma-separated)."""

    def __post_init__(self):
        check_types(self)
        check_every("redo", self.every)
        require(self.tau >= 0.0, f"redo.tau (τ) must be >= 0, got {self.tau}")
        require(self.batch_size >= 2, f"redo.batch_size must be >= 2, got {self.batch_size}")


def _set_path(tree: dict, path: str, value) -> dict:
    """A copy of a nested dict with ``path`` (``a/b/c``) replaced."""
    head, _, rest = path.partition("/")
    new = dict(tree)
    new[head] = _set_path(tree[head], rest, value) if rest else value
    return new


def _get_path(tree: dict, path: str):
    for part in path.split("/"):
        tree = tree[part]
    return tree


def _on_axis(units: jax.Array, ensemble: bool, axis_from_end: int, ndim: int) -> jax.Array:
    """``units`` ([units], or [members, units]) reshaped to lie on one axis of an ``ndim``
    array, counted from the end, after the ensemble's member axis."""
    shape = [1] * ndim
    if ensemble:
        shape[0] = units.shape[0]
    shape[ndim - axis_from_end] = units.shape[-1]
    return units.reshape(shape)


def _unit_dormant(h: jax.Array, tau: float, units: int) -> jax.Array:
    """``[units]``: whether every output of each unit is τ-dormant (``h``'s last axis holds
    ``copies × units`` outputs, copy-major)."""
    outputs = dormant_mask(h, tau)
    return outputs.reshape(-1, units).all(axis=0)


def outgoing_kernel(params, net: str, following: str) -> jax.Array:
    """The weights out of a layer's units into ``following``: its kernel, or for a recurrent
    cell the input kernels of all its gates side by side (``[units, gates × memory]``)."""
    if following == MEMORY:
        cell = params[net][MEMORY]
        gates = [cell[g]["kernel"] for g in sorted(cell) if g.startswith("i")]
        return jnp.concatenate(gates, axis=-1)
    return _get_path(params, f"{net}/{following}/kernel")


def mark_units(incoming, outgoing, params, net, layer, following, units_mask, h):
    """Marks in the ``incoming`` and ``outgoing`` masks (trees like ``params``) the weights into
    the units ``units_mask`` selects of ``net/layer`` (kernel column / conv filter, bias,
    LayerNorm scale and offset) and out of them in ``net/following``; ``units_mask`` is
    ``[units]`` or ``[members, units]`` (an ensemble), ``h`` the layer's activations of one
    member (their shape says how the outputs feed the next layer). Returns both masks."""
    kernel_path = f"{net}/{layer}/kernel"
    kernel = _get_path(params, kernel_path)
    units = kernel.shape[-1]
    ensemble = units_mask.ndim > 1
    into_unit = _on_axis(units_mask, ensemble, 1, kernel.ndim)
    incoming = _set_path(incoming, kernel_path, jnp.broadcast_to(into_unit, kernel.shape))
    incoming = _set_path(incoming, f"{net}/{layer}/bias", units_mask)
    scope = layer.split("/")[0]
    for kind in ("norm_", "diag_"):  # LayerNorm's and Parseval's per-unit scale and offset
        norm = layer.replace("dense_", kind).replace("conv_", kind)
        if norm.split("/")[1] in params[net][scope]:
            for leaf in ("scale", "bias"):
                incoming = _set_path(incoming, f"{net}/{norm}/{leaf}", units_mask)
    if following == MEMORY:  # a recurrent cell: the unit feeds a row of each input kernel
        copies = h.shape[-1] // units
        tiled = jnp.tile(units_mask, (1,) * (units_mask.ndim - 1) + (copies,))
        for gate in sorted(params[net][MEMORY]):
            if gate.startswith("i"):  # GRU: ir, iz, in; LSTM: ii, if, ig, io
                path = f"{net}/{MEMORY}/{gate}/kernel"
                gate_kernel = _get_path(params, path)
                mask = _on_axis(tiled, ensemble, 2, gate_kernel.ndim)
                outgoing = _set_path(outgoing, path, jnp.broadcast_to(mask, gate_kernel.shape))
        return incoming, outgoing
    next_path = f"{net}/{following}/kernel"
    next_kernel = _get_path(params, next_path)
    if h.ndim == 4 and not following.startswith("encoder/"):
        # flattened [H, W, C] features: row r belongs to channel r % C (r < H*W*C)
        channels = h.shape[-1]
        rows = jnp.arange(next_kernel.shape[-2])
        is_feature = rows < h.shape[1] * h.shape[2] * channels  # not the action rows
        row_mask = jnp.where(is_feature, units_mask[..., rows % channels % units], False)
        mask = row_mask[..., :, None]
    else:
        # the outputs [f(x), g(x)] of a unit feed rows i and units + i
        copies = h.shape[-1] // units
        tiled = jnp.tile(units_mask, (1,) * (units_mask.ndim - 1) + (copies,))
        mask = _on_axis(tiled, ensemble, 2, next_kernel.ndim)
    outgoing = _set_path(outgoing, next_path, jnp.broadcast_to(mask, next_kernel.shape))
    return incoming, outgoing


def recycle(agent, state, key: jax.Array, incoming: dict, outgoing: dict):
    """Fresh initial values where ``incoming``, zeros where ``outgoing``, and the optimizer and
    targets made consistent on both (ReDo's and continual backprop's edit)."""
    fresh = agent.init(key).params
    params = where(incoming, fresh, state.params)
    params = jax.tree.map(lambda m, p: jnp.where(m, 0.0, p), outgoing, params)
    touched = jax.tree.map(jnp.logical_or, incoming, outgoing)
    return consistent(state, params, touched)


def redo_masks(params: dict, activations: dict, tau: float, networks) -> tuple[dict, dict]:
    """Masks of ReDo's edits for the dormant units of every hidden layer.

    Returns ``(incoming, outgoing)``: trees of bools shaped like ``params``. ``incoming`` marks
    the weights into each dormant unit (its kernel column / conv filter, its bias, its
    LayerNorm scale and offset); ``outgoing`` marks the weights out of it in the next layer.
    A convolution's unit is a channel; where the last convolution is flattened into the first
    dense layer, channel ``c`` feeds the rows ``r < H·W·C`` with ``r % C == c``.
    """
    incoming = jax.tree.map(lambda p: jnp.zeros(p.shape, bool), params)
    outgoing = jax.tree.map(lambda p: jnp.zeros(p.shape, bool), params)
    for net in networks:
        members = activations[net]
        order = layers_of(params[net])
        ensemble = len(members) > 1
        for layer in members[0]:
            kernel_path = f"{net}/{layer}/kernel"
            kernel = _get_path(params, kernel_path)
            units = kernel.shape[-1]
            # [units] or [members, units]; a unit whose activation has several outputs (CReLU,
            # Fourier features: [f(x), g(x)]) is dormant when all of them are
            dormant = jnp.stack([_unit_dormant(m[layer], tau, units) for m in members])
            if not ensemble:
                dormant = dormant[0]
            following = order[order.index(layer) + 1]
            incoming, outgoing = mark_units(
                incoming, outgoing, params, net, layer, following, dormant, members[0][layer]
            )
    return incoming, outgoing


def redo(
    agent,
    state,
    key: jax.Array,
    batch,
    tau: float,
    networks=None,
):
    """ReDo (Sokar et al. 2023, "The Dormant Neuron Phenomenon in Deep RL").

    On ``batch``, find every τ-dormant unit of the hidden layers of ``networks`` (default: all
    networks with hidden layers); re-initialise its incoming weights, zero its outgoing weights,
    and zero the Adam moments of both. Zero outgoing weights leave the network's outputs
    unchanged at the moment of recycling (without LayerNorm); the unit can learn again.
    """
    activations = agent.activations(state, batch)
    networks = list(activations) if networks is None else list(networks)
    incoming, outgoing = redo_masks(state.params, activations, tau, networks)
    return recycle(agent, state, key, incoming, outgoing)


def layered_networks(params: dict, networks: str, cure: str) -> list[str]:
    """The networks with hidden layers that ``networks`` (``all`` or comma-separated names)
    selects; raises ConfigError naming the valid ones."""
    layered = [n for n, p in params.items() if "torso" in p]
    wanted = layered if networks == "all" else [n.strip() for n in networks.split(",")]
    unknown = [n for n in wanted if n not in layered]
    if unknown:
        raise ConfigError(
            f"{cure}.networks: unknown network(s) {', '.join(unknown)}; "
            f"valid choices: all, {', '.join(layered)}"
        )
    return wanted


class ReDo(Periodic):
    name = "redo"
    Config = ReDoConfig
    salt = Stream.REDO

    def check(self):
        self.networks = layered_networks(self.target.param_shapes(), self.config.networks, "redo")

    def act(self, state, key):
        c = self.config
        sample_key, init_key = jax.random.split(key)
        batch = self.target.inputs(state, sample_key, c.batch_size)
        view = self.target.agent_state(state)
        return redo(self.target.model, view, init_key, batch, c.tau, self.networks)
