"""Weight clipping (Elsayed, Lan, Lyle & Mahmood 2024, "Weight Clipping for Deep Continual and
Reinforcement Learning"): after every optimizer step, each weight and bias of layer ``l`` is
clipped to ``[-κ·s_l, κ·s_l]`` with ``s_l = 1/√fan_in`` — the bound of PyTorch's default
uniform initialisation, which the authors use whatever the actual initialisation (their PPO
initialises orthogonally, as plastix does). ``fan_in`` is a dense layer's inputs or a
convolution's ``k·k·c_in``; a bias uses its layer's. Output layers are clipped too (the
authors' default); LayerNorm parameters and the on-policy ``log_std`` are not (they have no
fan-in). The optimizer's statistics are left as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from plastix import optim
from plastix.errors import check_types, require
from plastix.plasticity.interventions.base import Cure


@dataclass(frozen=True)
class WeightClipConfig:
    """Weight clipping: weights and biases held in ``±kappa/√fan_in`` after every update."""

    kappa: float = 0.0
    """κ (0: off; the authors' PPO uses 3)."""

    def __post_init__(self):
        check_types(self)
        require(self.kappa >= 0.0, f"weight_clip.kappa must be >= 0 (0: off), got {self.kappa}")


def fan_in(name: str, kernel_shape: tuple[int, ...]) -> int:
    """Inputs per unit of a kernel (a leading ensemble axis aside)."""
    if name.split("/")[-2].startswith("conv_"):
        return math.prod(kernel_shape[-4:-1])
    return kernel_shape[-2]


def clip_bounds(params, kappa: float):
    """``κ/√fan_in`` for every kernel and bias of a layer, ``inf`` elsewhere."""
    flat = optim.named_leaves(params)

    def bound(name, p):
        layer, _, leaf = name.rpartition("/")
        kernel = flat.get(f"{layer}/kernel")
        if leaf not in ("kernel", "bias") or kernel is None:
            return jnp.float32(jnp.inf)
        return jnp.float32(kappa / math.sqrt(fan_in(f"{layer}/kernel", kernel.shape)))

    return optim.map_with_names(bound, params)


class WeightClip(Cure):
    name = "weight_clip"
    Config = WeightClipConfig

    @classmethod
    def wanted(cls, config) -> bool:
        return config.kappa > 0

    @classmethod
    def wrap(cls, config):
        def project(params, bounds):
            return jax.tree.map(lambda p, b: jnp.clip(p, -b, b), params, bounds)

        return optim.project_after(project, anchor=lambda p: clip_bounds(p, config.kappa))
