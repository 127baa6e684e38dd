"""Normalize-and-Project (Lyle, Zheng, Khetarpal, Martens, van Hasselt, Pascanu & Dabney 2024,
"Normalization and effective learning rates in reinforcement learning").

- *Normalize*: LayerNorm before every hidden non-linearity (``layer_norm`` on every network).
- *Project*: after every optimizer step, each hidden layer's kernel is rescaled to the norm it
  had at initialisation, ``W ← ‖W₀‖·W/‖W‖`` (one norm per layer, over the whole kernel). With
  the LayerNorm after it the network's function does not depend on that norm, so the
  projection only stops the effective learning rate ``lr/‖W‖²`` from decaying as the weights
  grow. Each LayerNorm's scale and offset are projected jointly to their initial norm ``√d``.

Choices where the paper leaves room (stated in docs/plasticity/cures.md): biases are not
projected (the LayerNorm after a layer removes them); the output layer, which no LayerNorm
follows, is projected only with ``project_head`` (Plasticine projects it; its norm bounds the
outputs' scale, e.g. of Q-values); the projection is after every update, as in the paper
(Plasticine projects once per roll-out).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from plastix import optim
from plastix.errors import check_types
from plastix.plasticity.interventions.base import Cure


@dataclass(frozen=True)
class NaPConfig:
    """Normalize-and-Project: LayerNorm in every hidden layer, kernels projected to their
    initial norm after every update."""

    on: bool = False
    """use Normalize-and-Project."""
    project_head: bool = False
    """also project the output layers' kernels (they have no LayerNorm after them)."""

    def __post_init__(self):
        check_types(self)


def _kind(name: str, project_head: bool) -> str | None:
    parts = name.split("/")
    if len(parts) < 2:
        return None
    leaf, module = parts[-1], parts[-2]
    if leaf == "kernel" and (module.startswith(("dense_", "conv_"))):
        return "kernel"
    if leaf == "kernel" and module == "head" and project_head:
        return "kernel"
    if module.startswith("norm_") and leaf in ("scale", "bias"):
        return "norm"
    return None


def _norm(x, axes):
    return jnp.sqrt(jnp.sum(jnp.square(x), axis=axes, keepdims=True))


def _axes(p, ensemble_leading: bool):
    return tuple(range(1 if ensemble_leading else 0, p.ndim))


def nap_projection(project_head: bool):
    """``(initial, project)``: ``initial(params)`` the norms to keep, ``project(params,
    norms)`` kernels back to their initial norm and each LayerNorm's (scale, offset) jointly to
    ``√d``. Leaves with a leading ensemble axis (SAC's twin critics) are projected per member."""

    def initial(params):
        def one(name, p):
            kind = _kind(name, project_head)
            if kind is None:
                return jnp.zeros((), p.dtype)
            return _norm(p, _axes(p, _ensembled(p, name, params)))

        return optim.map_with_names(one, params)

    def project(params, norms):
        flat = optim.named_leaves(params)

        def one(name, p, target):
            kind = _kind(name, project_head)
            if kind is None:
                return p
            axes = _axes(p, _ensembled(p, name, params))
            if kind == "kernel":
                return p * target / jnp.maximum(_norm(p, axes), 1e-12)
            layer = name.rpartition("/")[0]
            scale, offset = flat[f"{layer}/scale"], flat[f"{layer}/bias"]
            joint = jnp.sqrt(_norm(scale, axes) ** 2 + _norm(offset, axes) ** 2)
            d = scale.shape[-1]
            return p * jnp.sqrt(jnp.float32(d)) / jnp.maximum(joint, 1e-12)

        return optim.map_with_names(one, params, norms)

    return initial, project


def _ensembled(p, name: str, params) -> bool:
    """Whether a leaf has a leading ensemble axis: kernels one more axis than a layer's, a
    LayerNorm's scale two axes."""
    parts = name.split("/")
    if parts[-1] == "kernel":
        base = 4 if parts[-2].startswith("conv_") else 2
        return p.ndim == base + 1
    return p.ndim == 2


class NaP(Cure):
    name = "nap"
    Config = NaPConfig

    @classmethod
    def wanted(cls, config) -> bool:
        return config.on

    @classmethod
    def body(cls, config) -> dict:
        return {"layer_norm": True}

    @classmethod
    def wrap(cls, config):
        initial, project = nap_projection(config.project_head)
        return optim.project_after(project, anchor=initial)
