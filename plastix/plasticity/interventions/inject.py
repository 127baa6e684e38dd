"""Plasticity injection (Nikishin et al. 2023, "Deep RL with Plasticity Injection"), once, after
environment step ``at``.

The networks named are built with injection branches (``nets.after_encoder``): their output is
``h_θ(φ) + (h_θ1′(φ) − h_θ2′(φ))`` with both copies equal, so the bracket is zero. At the
injection both copies get the same fresh values — the outputs do not change — and the optimizer
freezes ``θ`` (``torso``, ``head``) and ``θ2′`` while ``θ1′`` and the encoder ``φ`` learn.
``θ1′``'s Adam statistics restart; target networks follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from plastix import optim
from plastix.errors import ConfigError, check_types, require
from plastix.keys import Stream
from plastix.nets import INJECTED, INJECTED_FROZEN
from plastix.plasticity.interventions.base import OneOff, consistent, where


@dataclass(frozen=True)
class InjectConfig:
    """Plasticity injection (Nikishin et al. 2023), once, at a given environment step."""

    at: int | None = None
    """environment step of the injection (unset: none)."""
    networks: str = "critic"
    """networks to inject into: critic, actor (comma-separated)."""

    def __post_init__(self):
        check_types(self)
        require(
            self.at is None or self.at >= 1,
            f"inject.at must be a positive environment step, got {self.at} (leave it unset "
            "for none)",
        )
        require(bool(self.network_names()), "inject.networks must name at least one network")

    def network_names(self) -> tuple[str, ...]:
        return tuple(n.strip() for n in self.networks.split(",") if n.strip())


def inject(agent, state, key: jax.Array, networks):
    """Injects plasticity into ``networks`` (built with injection branches) of ``state``."""
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
    state = consistent(state, where(branch, fresh, state.params), branch)
    # θ (torso, head) and θ2′ frozen; θ1′ and the feature extractor φ (the encoder, and the
    # trunk of a network behind a shared encoder) learn.
    trainable = {
        net: jax.tree_util.tree_map_with_path(
            lambda path, _: path[0].key in (INJECTED, "encoder", "trunk"), state.params[net]
        )
        for net in networks
    }
    if isinstance(state.opt_state, dict):
        opt_state = dict(state.opt_state)
        for net in networks:
            opt_state[net] = optim.set_trainable(opt_state[net], trainable[net])
    else:  # one optimizer state over every network
        current = state.opt_state.trainable
        switches = {net: trainable.get(net, current[net]) for net in current}
        opt_state = optim.set_trainable(state.opt_state, switches)
    return state.replace(opt_state=opt_state)


class Inject(OneOff):
    name = "inject"
    Config = InjectConfig
    salt = Stream.INJECT

    @classmethod
    def build_options(cls, config) -> dict:
        return {"injection": config.network_names()} if config.at else {}

    def check(self):
        missing = [n for n in self.config.network_names() if n not in self.target.injection]
        if missing:
            raise ConfigError(
                f"inject.networks {', '.join(missing)}: the agent was built without injection "
                "branches there; build it with the injection option naming them"
            )

    def act(self, state, key):
        view = self.target.agent_state(state)
        return inject(self.target.model, view, key, self.config.network_names())
