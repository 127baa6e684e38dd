"""Parseval regularisation (Chung, Cherif, Precup & Meger 2024, "Parseval Regularization for
Continual Reinforcement Learning"): the loss gets, for every hidden dense layer,

    λ · (64 / width)² · ‖WWᵀ − s·I‖²_F

where ``W`` holds one row per unit (its incoming weights; a flax kernel is ``Wᵀ``), ``s`` is
the squared gain of the orthogonal initialisation (2 for plastix's √2), so the rows stay
orthogonal with the norm they started with, and ``(64/width)²`` makes λ independent of the
width (the authors tuned it at 64 units), as in the authors' code. The output layers, biases,
LayerNorm parameters and convolutions are not regularised (the paper's networks are MLPs).
With ``diag_layers`` every dense hidden layer is followed by a learnable per-unit scale and
offset (``x · c + b``, from 1 and 0; the authors' ``DiagLinear``, before the activation), which
the penalty leaves alone: the capacity the paper gives back to the constrained layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from plastix import optim
from plastix.errors import check_types, require
from plastix.plasticity.interventions.base import Cure


@dataclass(frozen=True)
class ParsevalConfig:
    """Parseval regularisation of the hidden dense layers: ``coef·(64/width)²·‖WWᵀ − s·I‖²``."""

    coef: float = 0.0
    """λ (0: off; the authors use 1e-3 or 1e-4)."""
    scale: float = 2.0
    """s, the squared norm each unit's weights are held at (2: that of the √2 orthogonal
    initialisation)."""

    diag_layers: bool = False
    """a learnable scale and offset per unit after each hidden layer (the paper's DiagLinear)."""

    def __post_init__(self):
        check_types(self)
        require(self.coef >= 0.0, f"parseval.coef must be >= 0 (0: off), got {self.coef}")
        require(self.scale > 0.0, f"parseval.scale must be > 0, got {self.scale}")


def is_hidden_kernel(name: str) -> bool:
    """A dense hidden layer's kernel (``torso/dense_i/kernel``, in any network or branch)."""
    parts = name.split("/")
    return len(parts) >= 3 and parts[-1] == "kernel" and parts[-3] == "torso"


def parseval_penalty(kernel: jax.Array, scale: float) -> jax.Array:
    """``(64/width)²·‖KᵀK − s·I‖²_F`` of a ``[..., in, width]`` kernel, summed over leading
    (ensemble) axes."""
    width = kernel.shape[-1]
    gram = jnp.swapaxes(kernel, -1, -2) @ kernel
    return (64.0 / width) ** 2 * jnp.sum(jnp.square(gram - scale * jnp.eye(width)))


def parseval_gradient(coef: float, scale: float):
    def term(params, _):
        def one(name, p):
            if not is_hidden_kernel(name):
                return jnp.zeros_like(p)
            return coef * jax.grad(parseval_penalty)(p, scale)

        return optim.map_with_names(one, params)

    return term


class Parseval(Cure):
    name = "parseval"
    Config = ParsevalConfig

    @classmethod
    def wanted(cls, config) -> bool:
        return config.coef > 0

    @classmethod
    def body(cls, config) -> dict:
        return {"diag": True} if config.diag_layers else {}

    @classmethod
    def wrap(cls, config):
        return optim.add_gradient(parseval_gradient(config.coef, config.scale))
