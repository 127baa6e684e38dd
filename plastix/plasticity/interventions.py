"""Interventions that restore plasticity, as pure functions of an agent's state.

Every intervention takes ``(agent, state, key, mask, ...)``, where ``mask`` (from
``selectors.select``) says which parameters it touches, and returns a new ``AgentState`` whose
optimizer state is consistent with the new parameters: the Adam moments of every touched entry
are zeroed and a touched parameter array restarts its step count (``optim.reset_where``).
Target networks follow their online networks on the touched parameters.

- ``reset`` (Nikishin et al. 2022, "The Primacy Bias in Deep RL"): touched parameters take
  fresh initial values; the replay buffer is kept (it is not part of the agent state).
- ``shrink_perturb`` (Ash & Adams 2020): ``θ ← α·θ + σ·θ_fresh`` on touched parameters.
- ``inject`` (Nikishin et al. 2023): plasticity injection into networks built with injection
  branches (``nets.after_encoder``).
- ``redo`` (Sokar et al. 2023): recycles dormant units.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from plastix import optim
from plastix.agents.base import Agent, AgentState


def _where(mask, new, old):
    return jax.tree.map(lambda m, a, b: jnp.where(m, a, b), mask, new, old)


def _consistent(state: AgentState, params: dict, mask: dict) -> AgentState:
    """Targets follow the online networks and Adam restarts, on the touched parameters."""
    target_params = {
        net: _where(mask[net], params[net], target) for net, target in state.target_params.items()
    }
    opt_state = {net: optim.reset_where(s, mask[net]) for net, s in state.opt_state.items()}
    return state.replace(params=params, target_params=target_params, opt_state=opt_state)


def reset(agent: Agent, state: AgentState, key: jax.Array, mask: dict) -> AgentState:
    """Re-initialises the selected parameters (fresh values, as at the start of training)."""
    fresh = agent.init(key).params
    return _consistent(state, _where(mask, fresh, state.params), mask)


def shrink_perturb(
    agent: Agent, state: AgentState, key: jax.Array, mask: dict, alpha: float, sigma: float
) -> AgentState:
    """``θ ← α·θ + σ·θ_fresh`` on the selected parameters (θ_fresh: a fresh initialisation)."""
    fresh = agent.init(key).params
    mixed = jax.tree.map(lambda p, f: alpha * p + sigma * f, state.params, fresh)
    return _consistent(state, _where(mask, mixed, state.params), mask)


def inject(agent: Agent, state: AgentState, key: jax.Array, networks) -> AgentState:
    """Plasticity injection (Nikishin et al. 2023, "Deep RL with Plasticity Injection").

    For each of ``networks`` (built with ``injection``), the output is
    ``h_θ(φ) + (h_θ1′(φ) − h_θ2′(φ))``: here both copies ``θ1′`` and ``θ2′`` get the same fresh
    initial values — the bracket stays exactly zero, so the outputs do not change — and the
    optimizer freezes ``θ`` (``torso``, ``head``) and ``θ2′`` while ``θ1′`` and the encoder
    ``φ`` learn. ``θ1′``'s Adam statistics restart; target networks follow.
    """
    from plastix.nets import INJECTED, INJECTED_FROZEN

    networks = list(networks)
    missing = [n for n in networks if INJECTED not in state.params.get(n, {})]
    if missing:
        raise ValueError(
            f"network(s) {', '.join(missing)} were built without injection branches; "
            "build the agent with injection=(...) naming them"
        )
    fresh = agent.init(key).params

    def paths(net, predicate):
        return jax.tree_util.tree_map_with_path(
            lambda path, p: jnp.full(p.shape, net in networks and predicate(path[0].key)),
            state.params[net],
        )

    branch = {n: paths(n, lambda top: top in (INJECTED, INJECTED_FROZEN)) for n in state.params}
    state = _consistent(state, _where(branch, fresh, state.params), branch)
    opt_state = dict(state.opt_state)
    for net in networks:
        # θ (torso, head) and θ2′ frozen; θ1′ and the encoder learn.
        trainable = jax.tree_util.tree_map_with_path(
            lambda path, _: path[0].key in (INJECTED, "encoder"), state.params[net]
        )
        opt_state[net] = optim.set_trainable(opt_state[net], trainable)
    return state.replace(opt_state=opt_state)


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


def redo_masks(params: dict, activations: dict, tau: float, networks) -> tuple[dict, dict]:
    """Masks of ReDo's edits for the dormant units of every hidden layer.

    Returns ``(incoming, outgoing)``: trees of bools shaped like ``params``. ``incoming`` marks
    the weights into each dormant unit (its kernel column / conv filter, its bias, its
    LayerNorm scale and offset); ``outgoing`` marks the weights out of it in the next layer.
    A convolution's unit is a channel; where the last convolution is flattened into the first
    dense layer, channel ``c`` feeds the rows ``r < H·W·C`` with ``r % C == c``.
    """
    from plastix.plasticity.metrics import dormant_mask
    from plastix.plasticity.selectors import layers_of

    incoming = jax.tree.map(lambda p: jnp.zeros(p.shape, bool), params)
    outgoing = jax.tree.map(lambda p: jnp.zeros(p.shape, bool), params)
    for net in networks:
        members = activations[net]
        order = layers_of(params[net])
        ensemble = len(members) > 1
        for layer in members[0]:
            # [units] or [members, units]
            dormant = jnp.stack([dormant_mask(m[layer], tau) for m in members])
            if not ensemble:
                dormant = dormant[0]

            kernel_path = f"{net}/{layer}/kernel"
            kernel = _get_path(params, kernel_path)
            into_unit = _on_axis(dormant, ensemble, 1, kernel.ndim)
            incoming = _set_path(incoming, kernel_path, jnp.broadcast_to(into_unit, kernel.shape))
            incoming = _set_path(incoming, f"{net}/{layer}/bias", dormant)
            norm = layer.replace("dense_", "norm_").replace("conv_", "norm_")
            scope = layer.split("/")[0]
            if norm.split("/")[1] in params[net][scope]:
                for leaf in ("scale", "bias"):
                    incoming = _set_path(incoming, f"{net}/{norm}/{leaf}", dormant)
            following = order[order.index(layer) + 1]
            next_path = f"{net}/{following}/kernel"
            next_kernel = _get_path(params, next_path)
            h = members[0][layer]
            if h.ndim == 4 and not following.startswith("encoder/"):
                # flattened [H, W, C] features: row r belongs to channel r % C (r < H*W*C)
                channels = h.shape[-1]
                rows = jnp.arange(next_kernel.shape[-2])
                is_feature = rows < h.shape[1] * h.shape[2] * channels  # not the action rows
                row_mask = jnp.where(is_feature, dormant[..., rows % channels], False)
                mask = row_mask[..., :, None]
            else:
                mask = _on_axis(dormant, ensemble, 2, next_kernel.ndim)
            outgoing = _set_path(outgoing, next_path, jnp.broadcast_to(mask, next_kernel.shape))
    return incoming, outgoing


def redo(
    agent: Agent,
    state: AgentState,
    key: jax.Array,
    batch,
    tau: float,
    networks=None,
) -> AgentState:
    """ReDo (Sokar et al. 2023, "The Dormant Neuron Phenomenon in Deep RL").

    On ``batch``, find every τ-dormant unit of the hidden layers of ``networks`` (default: all
    networks with hidden layers); re-initialise its incoming weights, zero its outgoing weights,
    and zero the Adam moments of both. Zero outgoing weights leave the network's outputs
    unchanged at the moment of recycling (without LayerNorm); the unit can learn again.
    """
    activations = agent.activations(state, batch)
    networks = list(activations) if networks is None else list(networks)
    incoming, outgoing = redo_masks(state.params, activations, tau, networks)
    fresh = agent.init(key).params
    params = _where(incoming, fresh, state.params)
    params = jax.tree.map(lambda m, p: jnp.where(m, 0.0, p), outgoing, params)
    touched = jax.tree.map(jnp.logical_or, incoming, outgoing)
    return _consistent(state, params, touched)
