"""The errors plastix raises for bad input and for runs that end early.

Bad input raises ``ConfigError`` (a ``ValueError``) whose message names the field and its valid
range or choices; the command line turns it into exit code 2 before anything is compiled.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value outside its valid range; the message names field and range."""


class UnknownNameError(ConfigError):
    """A name (agent, intervention, experiment, ...) that is not registered; the message lists
    the valid choices."""


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; everything up to that point has been written."""


def require(condition: bool, message: str) -> None:
    """Raises ``ConfigError(message)`` unless ``condition``."""
    if not condition:
        raise ConfigError(message)


def unknown(kind: str, name: str, choices) -> UnknownNameError:
    """The error for an unregistered ``name`` of ``kind``, listing the valid choices."""
    return UnknownNameError(f"unknown {kind} {name!r}. Valid choices: {', '.join(choices)}")
