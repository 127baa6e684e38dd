"""Scores normalised per task, so that several tasks can be pooled into one IQM.

Raw returns of different environments are on different scales (CartPole's 500 and Pendulum's
−150 mean nothing together); rliable pools only normalised scores. Per domain:

- Atari 100k (``atari:GAME``): human-normalised, ``(s − random) / (human − random)`` with the
  random and human scores of the Atari 100k literature (``plastix.envs.atari.REFERENCE``);
- DeepMind Control (``dmc:``, ``dmc-pixels:``, ``mjx:``): ``s / 1000`` (every task's episode
  return is at most 1000);
- the classic-control tasks below: random-to-reference, ``(s − random) / (reference −
  random)``, where *random* is the mean return of 100 episodes of uniformly random actions
  (``experiments.results.random_returns``, key 0) and *reference* Gymnasium's
  ``reward_threshold`` for the task (Pendulum-v1 has none: −150, about where a tuned SAC ends).

An environment with no entry is not normalised, and a set of environments that holds one is
not pooled (``normaliser`` returns None).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from plastix.envs.atari import HUMAN, RANDOM

# task: (random, reference)
CLASSIC = {
    "CartPole-v1": (24.0, 475.0),
    "Acrobot-v1": (-495.1, -100.0),
    "MountainCarContinuous-v0": (-33.2, 90.0),
    "Pendulum-v1": (-1173.0, -150.0),
}

DMC_PREFIXES = ("dmc:", "dmc-pixels:", "mjx:")


def bounds(env: str) -> tuple[float, float] | None:
    """``(score of 0, score of 1)`` for ``env``, or None when it has no normalisation."""
    if env.startswith("atari:"):
        game = env.split(":", 1)[1].split(",", 1)[0]
        return (RANDOM[game], HUMAN[game]) if game in RANDOM else None
    if env.startswith(DMC_PREFIXES):
        return (0.0, 1000.0)
    return CLASSIC.get(env)


def describe(env: str) -> str:
    """How ``env``'s scores are normalised, in words."""
    if env.startswith("atari:"):
        return "human-normalised"
    if env.startswith(DMC_PREFIXES):
        return "score / 1000"
    low, high = CLASSIC[env]
    return f"random {low:g} → reference {high:g}"


def kind(env: str) -> str:
    """The normalisation's short name."""
    if env.startswith("atari:"):
        return "human-normalised"
    return "score/1000" if env.startswith(DMC_PREFIXES) else "random-to-reference"


def normalise(env: str, scores) -> np.ndarray:
    low, high = bounds(env) or (None, None)
    if low is None:
        raise KeyError(f"{env} has no normalisation; known: Atari 100k, DMC, {', '.join(CLASSIC)}")
    return (np.asarray(scores, float) - low) / (high - low)


def normaliser(envs: Sequence[str]):
    """``normalise`` when every environment of ``envs`` has one, else None."""
    return normalise if all(bounds(e) is not None for e in envs) else None
