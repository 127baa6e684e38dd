"""Continual backprop's generate-and-test inside every update (Dohare et al. 2024, ``GnT`` in
``lop/algos/gnt.py``), for networks trained in one compiled loop (the supervised probes).

Every ``every`` updates, in each dense hidden layer: every unit ages by ``every``; its
contribution utility ``|h_i| · mean_k |w_out,ik|`` on the update's batch enters a running
average (decay η = 0.99) read with the bias correction ``1 − η^age``; the mature units (age
above the maturity threshold) owe ``ρ · every`` replacements each, fractions carried over,
and the owed number of mature units of lowest utility get fresh incoming weights (drawn as at
initialisation), zero outgoing weights, restarted Adam statistics, age 0 and utility 0.
Unlike the authors' ``GnT`` the outgoing bias is not corrected for the replaced unit's mean
activation (as in their ``CBPLinear``, and ``plastix.plasticity.interventions.cbp``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from plastix import optim
from plastix.plasticity.interventions.cbp import hidden_layers, lowest, utility
from plastix.plasticity.interventions.redo import _get_path, mark_units, outgoing_kernel

DECAY = 0.99
"""η, the running average's decay (the authors' value)."""

NET = "net"  # the one network, as ``mark_units`` names networks


@struct.dataclass
class GnTState:
    utility: dict[str, jax.Array]
    """layer -> [units] running sum of utility (read with the bias correction)."""
    age: dict[str, jax.Array]
    """layer -> [units] updates since the unit was (re)initialised."""
    owed: dict[str, jax.Array]
    """layer -> replacements owed, fractional."""
    replaced: jax.Array
    """units replaced so far."""


def init(params: dict) -> GnTState:
    units = {
        layer: _get_path(params, f"{layer}/kernel").shape[-1] for layer, _ in hidden_layers(params)
    }
    return GnTState(
        {k: jnp.zeros(n, jnp.float32) for k, n in units.items()},
        {k: jnp.zeros(n, jnp.int32) for k, n in units.items()},
        {k: jnp.float32(0.0) for k in units},
        jnp.int32(0),
    )


def step(
    state: GnTState,
    params: dict,
    opt_state: Any,
    activations: dict[str, jax.Array],
    fresh: dict,
    config,
    due: jax.Array,
) -> tuple[GnTState, dict, Any]:
    """One generate-and-test step when ``due`` (a traced bool); ``activations``: layer -> the
    update batch's outputs; ``fresh``: newly initialised parameters; ``config``: a
    ``CBPConfig`` (``every``, ``replacement_rate``, ``maturity``)."""
    every = config.every
    wrapped = {NET: params}
    incoming = jax.tree.map(lambda p: jnp.zeros(p.shape, bool), wrapped)
    outgoing = jax.tree.map(lambda p: jnp.zeros(p.shape, bool), wrapped)
    utilities, ages, owed = dict(state.utility), dict(state.age), dict(state.owed)
    replaced = state.replaced
    for layer, following in hidden_layers(params):
        h = activations[layer]
        units = ages[layer].shape[0]
        age = ages[layer] + every
        now = utility(h, outgoing_kernel(wrapped, NET, following), units)
        u = DECAY * utilities[layer] + (1 - DECAY) * now
        corrected = u / (1 - DECAY ** age.astype(jnp.float32))
        mature = age > config.maturity
        due_now = owed[layer] + config.replacement_rate * every * mature.sum()
        count = jnp.floor(due_now).astype(jnp.int32)
        chosen = lowest(corrected, mature, count) & due
        incoming, outgoing = mark_units(
            incoming, outgoing, wrapped, NET, layer, following, chosen, h
        )
        utilities[layer] = jnp.where(due, jnp.where(chosen, 0.0, u), utilities[layer])
        ages[layer] = jnp.where(due, jnp.where(chosen, 0, age), ages[layer])
        owed[layer] = jnp.where(due, due_now - count, owed[layer])
        replaced = replaced + chosen.sum()
    incoming, outgoing = incoming[NET], outgoing[NET]
    params = jax.tree.map(lambda m, f, p: jnp.where(m, f, p), incoming, fresh, params)
    params = jax.tree.map(lambda m, p: jnp.where(m, 0.0, p), outgoing, params)
    touched = jax.tree.map(jnp.logical_or, incoming, outgoing)
    opt_state = optim.reset_where(opt_state, touched)
    return GnTState(utilities, ages, owed, replaced), params, opt_state
