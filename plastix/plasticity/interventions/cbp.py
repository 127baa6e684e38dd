"""Continual backprop (Dohare, Hernandez-Garcia, Lan, Rahman, Mahmood & Sutton 2024, "Loss of
plasticity in deep continual learning", Nature): keep injecting fresh units. Every hidden unit
has an age (gradient updates since it was last initialised); among the *mature* ones (age above
the maturity threshold ``m``), the fraction ``ρ`` per update with the lowest *contribution
utility*

    u_i = E|h_i| · mean_k |w_out,ik|

(its mean absolute activation times the mean absolute weight it sends on) is replaced: incoming
weights and bias re-initialised as at the start, outgoing weights zeroed (so the network's
output does not jump), its LayerNorm scale and offset restarted, the Adam statistics of all of
them restarted, its age set to 0. Fractions of a unit carry over to the next application.

Between compiled chunks rather than after every update, as the authors' ``CBPLinear`` (their
variant for networks with normalisation, ``lop/algos/cbp_linear.py``) measures utility only when
a replacement is due, on the current batch and without a running average or the outgoing-bias
correction of their ``GnT``: every ``every`` updates it replaces ``ρ·every`` times the mature
units, measured on a replay (or roll-out) batch. With ``every = 1`` it is the per-update
algorithm with instantaneous utility. Dense hidden layers (``torso``) only, as in the paper's
networks; convolutions are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from plastix.errors import check_types, require
from plastix.keys import Stream
from plastix.plasticity.interventions.base import (
    Moment,
    Periodic,
    check_every,
    update_steps,
)
from plastix.plasticity.interventions.redo import (
    _get_path,
    layered_networks,
    mark_units,
    outgoing_kernel,
    recycle,
)
from plastix.plasticity.selectors import layers_of


@dataclass(frozen=True)
class CBPConfig:
    """Continual backprop (Dohare et al. 2024): replace mature, low-utility units at rate ρ."""

    every: int | None = None
    """updates between replacements (unset: off; e.g. 100)."""
    replacement_rate: float = 1e-4
    """ρ, the fraction of mature units replaced per update (the paper's RL value)."""
    maturity: int = 10_000
    """m, updates a unit is protected for after its initialisation (10,000 for RL, 100 for the
    supervised problems)."""
    batch_size: int = 256
    """inputs on which utility is measured."""
    networks: str = "all"
    """networks whose hidden layers are renewed: all, or critic, actor (comma-separated)."""

    def __post_init__(self):
        check_types(self)
        check_every("cbp", self.every)
        require(
            0.0 <= self.replacement_rate <= 1.0,
            f"cbp.replacement_rate must be in [0, 1], got {self.replacement_rate}",
        )
        require(self.maturity >= 0, f"cbp.maturity must be >= 0, got {self.maturity}")
        require(self.batch_size >= 2, f"cbp.batch_size must be >= 2, got {self.batch_size}")


def hidden_layers(network_params: dict) -> list[tuple[str, str]]:
    """``(layer, following layer)`` for every dense hidden layer of a network."""
    order = layers_of(network_params)
    return [(a, b) for a, b in zip(order, order[1:], strict=False) if a.startswith("torso/")]


def utility(h: jax.Array, next_kernel: jax.Array, units: int) -> jax.Array:
    """Contribution utility ``E|h_i| · mean_k |w_out,ik|`` per unit of one layer (one ensemble
    member): ``h`` is ``[batch, copies·units]`` (copies: 2 for CReLU / Fourier features) and the
    next kernel ``[copies·units, out]``; a unit's utility sums over its copies."""
    per_output = jnp.mean(jnp.abs(h), axis=0) * jnp.mean(jnp.abs(next_kernel), axis=-1)
    return per_output.reshape(-1, units).sum(axis=0)


def lowest(scores: jax.Array, eligible: jax.Array, count: jax.Array) -> jax.Array:
    """A mask of the ``count`` eligible entries with the lowest scores (ties by position)."""
    flat = jnp.where(eligible, scores, jnp.inf).reshape(-1)
    order = jnp.argsort(flat, stable=True)
    rank = jnp.zeros_like(order).at[order].set(jnp.arange(order.size))
    return ((rank < count) & eligible.reshape(-1)).reshape(scores.shape)


def replace_units(agent, state, key, batch, eligible: dict, counts: dict, networks):
    """Continual backprop's replacement on one seed: in every dense hidden layer
    ``net/torso/dense_i`` (keys of ``eligible``: bool ``[units]`` or ``[members, units]``), the
    ``counts[layer]`` eligible units of lowest utility get fresh incoming weights, zero outgoing
    weights and restarted Adam statistics. Returns the new state and the replaced masks."""
    activations = agent.activations(state, batch)
    params = state.params
    incoming = jax.tree.map(lambda p: jnp.zeros(p.shape, bool), params)
    outgoing = jax.tree.map(lambda p: jnp.zeros(p.shape, bool), params)
    replaced = {}
    for net in networks:
        members = activations[net]
        ensemble = len(members) > 1
        for layer, following in hidden_layers(params[net]):
            name = f"{net}/{layer}"
            kernel = _get_path(params, f"{name}/kernel")
            next_kernel = outgoing_kernel(params, net, following)
            units = kernel.shape[-1]
            scores = jnp.stack(
                [
                    utility(m[layer], next_kernel[i] if ensemble else next_kernel, units)
                    for i, m in enumerate(members)
                ]
            )
            chosen = lowest(scores, eligible[name].reshape(scores.shape), counts[name])
            chosen = chosen if ensemble else chosen[0]
            replaced[name] = chosen
            incoming, outgoing = mark_units(
                incoming, outgoing, params, net, layer, following, chosen, members[0][layer]
            )
    return recycle(agent, state, key, incoming, outgoing), replaced


class CBP(Periodic):
    name = "cbp"
    Config = CBPConfig
    salt = Stream.CBP

    def check(self):
        params = self.target.param_shapes()
        self.networks = wanted = layered_networks(params, self.config.networks, "cbp")
        seeds = self.context.seeds
        # a unit's age in updates, per seed (and ensemble member); fractions of a unit owed
        self.shapes = {}
        for net in wanted:
            for layer, _ in hidden_layers(params[net]):
                kernel = params[net]["torso"][layer.split("/")[1]]["kernel"]
                self.shapes[f"{net}/{layer}"] = tuple(kernel.shape[:-2]) + (kernel.shape[-1],)
        self.ages = {k: np.zeros((seeds,) + s, np.int64) for k, s in self.shapes.items()}
        self.owed = {k: np.zeros(seeds) for k in self.shapes}
        self.last_updates = np.zeros(seeds, np.int64)

    def intervals(self) -> list[int]:
        c = self.config
        return [update_steps(c.every, "updates", self.context.max_updates_per_step)]

    def due(self, moment: Moment) -> np.ndarray:
        done = getattr(self, "_intervals_done", np.zeros(moment.seeds, np.int64))
        intervals = np.asarray(moment.updates, np.int64) // self.config.every
        self._intervals_done = np.maximum(done, intervals)
        return intervals > done

    def apply(self, state, moment: Moment, seed_keys: jax.Array):
        due = np.asarray(self.due(moment), bool)
        if not due.any():
            return state, {}
        self.applications += 1
        c = self.config
        updates = np.asarray(moment.updates, np.int64)
        passed = np.where(due, updates - self.last_updates, 0)
        self.last_updates = np.where(due, updates, self.last_updates)
        eligible, counts = {}, {}
        for name, ages in self.ages.items():
            ages += passed.reshape((-1,) + (1,) * (ages.ndim - 1))
            mature = ages > c.maturity
            count = mature.reshape(len(ages), -1).sum(1)
            owed = self.owed[name] + c.replacement_rate * passed * count
            counts[name] = np.floor(owed).astype(np.int32)
            self.owed[name] = owed - counts[name]
            eligible[name] = mature
        if self._compiled is None:
            target = self.target

            def per_seed(state, key, eligible, counts, apply):
                sample_key, init_key = jax.random.split(key)
                batch = target.inputs(state, sample_key, c.batch_size)
                view = target.agent_state(state)
                new, replaced = replace_units(
                    target.model, view, init_key, batch, eligible, counts, self.networks
                )
                chosen = jax.tree.map(lambda a, b: jnp.where(apply, a, b), new, view)
                replaced = jax.tree.map(lambda r: r & apply, replaced)
                return target.with_agent_state(state, chosen), replaced

            self._compiled = jax.jit(jax.vmap(per_seed))
        state, replaced = self._compiled(
            state, self.keys(seed_keys), eligible, counts, jnp.asarray(due)
        )
        total = np.zeros(len(due))
        for name, mask in replaced.items():
            mask = np.asarray(mask)
            self.ages[name][mask] = 0
            total += mask.reshape(len(due), -1).sum(1)
        return state, {"intervention/cbp": total}

    def state_dict(self) -> dict:
        done = getattr(self, "_intervals_done", None)
        return dict(
            super().state_dict(),
            intervals_done=None if done is None else done.tolist(),
            ages={k: v.tolist() for k, v in self.ages.items()},
            owed={k: v.tolist() for k, v in self.owed.items()},
            last_updates=self.last_updates.tolist(),
        )

    def load_state_dict(self, data: dict) -> None:
        super().load_state_dict(data)
        self.ages = {k: np.asarray(v, np.int64) for k, v in data["ages"].items()}
        self.owed = {k: np.asarray(v, float) for k, v in data["owed"].items()}
        self.last_updates = np.asarray(data["last_updates"], np.int64)
