"""Concatenated ReLU (Shang et al. 2016), studied against plasticity loss by Abbas et al. 2023
("Loss of Plasticity in Continual Deep Reinforcement Learning"): every hidden layer outputs
``[relu(x), relu(-x)]``, so each unit passes a gradient for either sign of its input and never
goes dormant as a whole. The layer's width stays as configured; what it passes on doubles (the
next layer has twice the inputs)."""

from __future__ import annotations

from dataclasses import dataclass

from plastix.errors import check_types
from plastix.plasticity.interventions.base import Cure


@dataclass(frozen=True)
class CReLUConfig:
    """Concatenated ReLU activations ``[relu(x), relu(-x)]`` in every hidden layer."""

    on: bool = False
    """use CReLU instead of ReLU."""

    def __post_init__(self):
        check_types(self)


class CReLU(Cure):
    name = "crelu"
    Config = CReLUConfig

    @classmethod
    def wanted(cls, config) -> bool:
        return config.on

    @classmethod
    def body(cls, config) -> dict:
        return {"activation": "crelu"}
