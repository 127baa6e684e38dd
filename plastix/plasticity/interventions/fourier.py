"""Deep Fourier features (Lewandowski et al. 2024, "Plastic Learning with Deep Fourier
Features"): every hidden layer outputs ``[sin(x), cos(x)]`` of its pre-activation ``x``. A
sinusoid is close to linear near its zeros, so every unit keeps a linear, trainable path — the
property the paper links to sustained plasticity. As for CReLU, what a layer passes on is
twice its width."""

from __future__ import annotations

from dataclasses import dataclass

from plastix.errors import check_types
from plastix.plasticity.interventions.base import Cure


@dataclass(frozen=True)
class FourierConfig:
    """Deep Fourier features ``[sin(x), cos(x)]`` as the hidden activation."""

    on: bool = False
    """use Fourier features instead of ReLU."""

    def __post_init__(self):
        check_types(self)


class Fourier(Cure):
    name = "fourier"
    Config = FourierConfig

    @classmethod
    def wanted(cls, config) -> bool:
        return config.on

    @classmethod
    def body(cls, config) -> dict:
        return {"activation": "fourier"}
