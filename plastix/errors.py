"""The errors plastix raises for bad input and for runs that end early.

Bad input raises ``ConfigError`` (a ``ValueError``) whose message names the field and its valid
range or choices; the command line turns it into exit code 2 before anything is compiled.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing

import numpy as np

INTERRUPTED = 130
"""the exit code of a command stopped by Ctrl-C (128 + SIGINT), its files written."""


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


def check_types(config) -> None:
    """Checks every field of a config dataclass against its annotation (``int``, ``float``,
    ``bool``, ``str``, ``X | None``, ``tuple[T, ...]``, ``Literal[...]``), so a wrong type from
    Python (``steps="abc"``, ``hidden_sizes=0``) is named before it breaks something later."""
    for name, hint in _hints(type(config)).items():
        value = getattr(config, name)
        if not _matches(value, hint):
            raise ConfigError(f"{name} must be {_describe(hint)}, got {value!r}")


@functools.cache
def _hints(cls) -> dict:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name in hints}


def _matches(value, hint) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool | np.bool_)
    if hint is int:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool
        )
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, tuple | list):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return len(args) == len(value) and all(
            _matches(v, a) for v, a in zip(value, args, strict=True)
        )
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _describe(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, args))
    if hint is type(None):
        return "None"
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        plural = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}
        return f"a tuple of {plural.get(args[0], _describe(args[0]))}"
    if origin is tuple:
        return "a tuple (" + ", ".join(_describe(a) for a in args) + ")"
    name = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    return name.get(hint, getattr(hint, "__name__", str(hint)))
