"""TRAC (Muppidi, Zhang & Wang 2024, "Fast TRAC: A Parameter-Free Optimizer for Lifelong
Reinforcement Learning"): the base optimizer's steps are summed into ``Δ`` and the parameters
are ``θ = θ_ref + S·Δ``, where ``θ_ref`` is the initialisation and the scale ``S ≥ 0`` is tuned
online from how the gradients correlate with ``Δ`` — a data-dependent pull toward the initial
parameters with no coefficient to tune. As in the authors' code, with one ``h`` for all
parameters of an optimizer and six discounts ``β``::

    h_t   = ⟨g_t, Δ_{t-1}⟩
    v_t   = β²·v_{t-1} + h_t²          σ_t = β·σ_{t-1} − h_t      (per β; v_0 = 0, σ_0 = 1e-8)
    s_t   = s_prior/erfi(1/√2) · erfi(σ_t / (√2·√v_t + ε))
    Δ_t   = Δ_{t-1} + u_t              (u_t: the base optimizer's step, taken at θ_t)
    θ_t+1 = θ_ref + max(Σ_β s_t, 0)·Δ_t

Differences from the reference, all numerical: ``Δ`` is kept rather than recovered as
``(θ − θ_ref)/(S + ε)`` (the same while ``S > 0``, and exact where ``S`` is tiny); ``erfi`` is
computed by its series to float32 precision (the authors' JAX port is off by about half) and its
argument is clipped to ±9, where float32 would overflow; ``h`` uses the gradient before the
global-norm clip. An intervention that edits parameters (a reset, ReDo) moves their reference
point to the new values and restarts their ``Δ``, as it restarts their Adam statistics. TRAC
cannot be combined with weight clipping or NaP's projection (it sets the parameters from its
own iterate, so a projection would be undone at the next update).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.scipy.special import gammaln

from plastix import optim
from plastix.errors import check_types, require
from plastix.plasticity.interventions.base import Cure

BETAS = (0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999)
MAX_ARGUMENT = 9.0
"""|x| beyond which erfi(x) (≈ e^{x²}/(x√π)) would overflow float32's range."""
_TERMS = 200  # the series' largest term is near n = x², at most 81


def erfi(x: jax.Array) -> jax.Array:
    """The imaginary error function ``erfi(x) = -i·erf(ix) = 2/√π · Σ x^{2n+1}/(n!(2n+1))``,
    summed in log space (every term has the sign of x), for |x| <= 9."""
    x = jnp.asarray(x, jnp.float32)
    n = jnp.arange(_TERMS, dtype=jnp.float32)
    log_ax = jnp.log(jnp.abs(x))[..., None]
    log_terms = (2 * n + 1) * log_ax - gammaln(n + 1) - jnp.log(2 * n + 1)
    total = jnp.sum(jnp.exp(log_terms), axis=-1)
    return jnp.sign(x) * (2.0 / math.sqrt(math.pi)) * total


@dataclass(frozen=True)
class TRACConfig:
    """TRAC: a parameter-free scale between the initial parameters and the optimizer's path."""

    on: bool = False
    """wrap every network's optimizer in TRAC."""
    s_prior: float = 1e-8
    """the prior scale (the authors' default)."""
    eps: float = 1e-8
    """ε in the scale's denominator."""

    def __post_init__(self):
        check_types(self)
        require(self.s_prior > 0, f"trac.s_prior must be > 0, got {self.s_prior}")
        require(self.eps > 0, f"trac.eps must be > 0, got {self.eps}")


class TracState(NamedTuple):
    ref: Any  # θ_ref, like the parameters
    delta: Any  # Δ, the sum of the base optimizer's steps
    rebase: Any  # bool per entry: move θ_ref to the current value at the next update
    s: jax.Array  # [len(BETAS)]
    variance: jax.Array
    sigma: jax.Array
    inner: Any


def _restart(state: TracState, mask) -> TracState:
    rebase = jax.tree.map(lambda r, k: r | jnp.broadcast_to(k, r.shape), state.rebase, mask)
    return state._replace(rebase=rebase)


optim.RESTARTS[TracState] = _restart


def trac(s_prior: float = 1e-8, eps: float = 1e-8, betas=BETAS):
    """The TRAC wrap: ``trac()(tx)`` is ``tx`` inside TRAC."""
    betas = jnp.asarray(betas, jnp.float32)
    norm = float(erfi(jnp.float32(1.0 / math.sqrt(2.0))))

    def wrap(inner: optax.GradientTransformation) -> optax.GradientTransformation:
        def init(params):
            zeros = jnp.zeros_like(betas)
            return TracState(
                ref=jax.tree.map(jnp.array, params),
                delta=jax.tree.map(jnp.zeros_like, params),
                rebase=jax.tree.map(lambda p: jnp.zeros(p.shape, bool), params),
                s=zeros,
                variance=zeros,
                sigma=jnp.full_like(betas, 1e-8),
                inner=inner.init(params),
            )

        def update(grads, state: TracState, params=None):
            if params is None:
                raise ValueError("TRAC needs the parameters: update(grads, state, params)")
            ref = jax.tree.map(jnp.where, state.rebase, params, state.ref)
            delta = jax.tree.map(lambda r, d: jnp.where(r, 0.0, d), state.rebase, state.delta)
            steps, inner_state = inner.update(grads, state.inner, params)
            h = sum(
                jnp.vdot(g, d).astype(jnp.float32)
                for g, d in zip(jax.tree.leaves(grads), jax.tree.leaves(delta), strict=True)
            )
            variance = betas**2 * state.variance + h**2
            sigma = betas * state.sigma - h
            argument = sigma / (math.sqrt(2.0) * jnp.sqrt(variance) + eps)
            s = s_prior / norm * erfi(jnp.clip(argument, -MAX_ARGUMENT, MAX_ARGUMENT))
            scale = jnp.maximum(jnp.sum(s), 0.0)
            delta = jax.tree.map(jnp.add, delta, steps)
            new = jax.tree.map(lambda r, d: r + scale * d, ref, delta)
            updates = jax.tree.map(jnp.subtract, new, params)
            rebase = jax.tree.map(jnp.zeros_like, state.rebase)
            return updates, TracState(ref, delta, rebase, s, variance, sigma, inner_state)

        return optax.GradientTransformation(init, update)

    return wrap


class TRAC(Cure):
    name = "trac"
    Config = TRACConfig
    # TRAC sets the parameters from its own iterate: a projection after each update would be
    # undone at the next one
    excludes = ("weight_clip", "nap")

    @classmethod
    def wanted(cls, config) -> bool:
        return config.on

    @classmethod
    def wrap(cls, config):
        return trac(config.s_prior, config.eps)
