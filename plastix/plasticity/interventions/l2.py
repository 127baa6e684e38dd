"""L2 regularisation toward zero and toward the initial parameters.

- ``l2``: the loss gets ``(λ/2)·‖θ‖²``, the classic weight decay coupled to the optimizer: its
  gradient ``λθ`` joins the loss's before clipping and Adam, as ``torch.optim.Adam``'s
  ``weight_decay=λ`` does (Plasticine and Dohare et al. 2024 use λ = 1e-3) — the baseline of
  every plasticity study.
- ``l2_init`` (Kumar et al. 2023, "Maintaining Plasticity in Continual Learning via
  Regenerative Regularization"): the loss gets ``λ·‖θ − θ₀‖²`` with ``θ₀`` the parameters at
  initialisation, pulling the weights back toward a point that is known to be trainable.

Both are terms of the loss: their gradient joins the loss's before the global-norm clip and
Adam, in every update, on every parameter of every network (biases and heads too; SAC's
temperature aside). ``θ₀`` stays the run's initial parameters after a reset.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from plastix import optim
from plastix.errors import check_types, require
from plastix.plasticity.interventions.base import Cure


def _check(name: str, coef: float) -> None:
    require(coef >= 0.0, f"{name}.coef must be >= 0 (0: off), got {coef}")


@dataclass(frozen=True)
class L2Config:
    """L2 regularisation (coupled weight decay): the loss gets ``coef/2 · ‖θ‖²``."""

    coef: float = 0.0
    """λ, the weight decay (0: off; e.g. 1e-3)."""

    def __post_init__(self):
        check_types(self)
        _check("l2", self.coef)


@dataclass(frozen=True)
class L2InitConfig:
    """Regenerative regularisation (Kumar et al. 2023): the loss gets ``coef · ‖θ − θ₀‖²``."""

    coef: float = 0.0
    """λ (0: off; e.g. 1e-2)."""

    def __post_init__(self):
        check_types(self)
        _check("l2_init", self.coef)


def l2_gradient(coef: float):
    """``∇ (λ/2)‖θ‖² = λθ``."""
    return lambda params, _: jax.tree.map(lambda p: coef * p, params)


def l2_init_gradient(coef: float):
    """``∇ λ‖θ − θ₀‖² = 2λ(θ − θ₀)``; ``θ₀`` is the anchor kept at ``init``."""
    return lambda params, initial: jax.tree.map(
        lambda p, p0: 2.0 * coef * (p - p0), params, initial
    )


class L2(Cure):
    name = "l2"
    Config = L2Config

    @classmethod
    def wanted(cls, config) -> bool:
        return config.coef > 0

    @classmethod
    def wrap(cls, config):
        return optim.add_gradient(l2_gradient(config.coef))


class L2Init(Cure):
    name = "l2_init"
    Config = L2InitConfig

    @classmethod
    def wanted(cls, config) -> bool:
        return config.coef > 0

    @classmethod
    def wrap(cls, config):
        copy = lambda params: jax.tree.map(jnp.array, params)  # noqa: E731
        return optim.add_gradient(l2_init_gradient(config.coef), anchor=copy)
