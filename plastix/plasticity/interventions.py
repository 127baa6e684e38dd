"""Interventions that restore plasticity, as pure functions of an agent's state.

Every intervention takes ``(agent, state, key, mask, ...)``, where ``mask`` (from
``selectors.select``) says which parameters it touches, and returns a new ``AgentState`` whose
optimizer state is consistent with the new parameters: the Adam moments of every touched entry
are zeroed and a touched parameter array restarts its step count (``optim.reset_where``).
Target networks follow their online networks on the touched parameters.

- ``reset`` (Nikishin et al. 2022, "The Primacy Bias in Deep RL"): touched parameters take
  fresh initial values; the replay buffer is kept (it is not part of the agent state).
- ``shrink_perturb`` (Ash & Adams 2020): ``θ ← α·θ + σ·θ_fresh`` on touched parameters.
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
