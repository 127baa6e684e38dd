"""Named experiments that reproduce the plasticity papers' claims (``plastix experiment``)."""

from plastix.errors import UnknownNameError
from plastix.experiments.base import SCALES, Cell, Experiment, run_experiment
from plastix.experiments.catalog import EXPERIMENTS
from plastix.experiments.results import Claim, Results


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise UnknownNameError(
            f"unknown experiment {name!r}; valid choices: {', '.join(EXPERIMENTS)}"
        )
    return EXPERIMENTS[name]


__all__ = [
    "EXPERIMENTS",
    "SCALES",
    "Cell",
    "Claim",
    "Experiment",
    "Results",
    "get_experiment",
    "run_experiment",
]
