"""``config.json``: the record of a run's configuration, written once and read back strictly.

The record holds the algorithm's name, its complete config, the run config, the diagnostics
and plasticity configs, and the plastix and JAX versions. Reading it back (``read``) rebuilds
every config and refuses, naming them, fields it does not know and fields it lacks — except
fields that plastix added after the version that wrote the record (``ADDED``), which take
their defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax

from plastix import runs
from plastix._version import __version__
from plastix.config import RunConfig
from plastix.errors import ConfigError
from plastix.plasticity.config import PlasticityConfig
from plastix.plasticity.diagnostics import DiagnosticsConfig
from plastix.plasticity.interventions import REGISTRY

RECORD_VERSION = 2

ADDED = {
    ("run", "checkpoint_seconds"): "0.2.0",
    ("run", "scenario"): "0.4.0",
    ("run", "log"): "0.4.0",
    ("plasticity.parseval", "diag_layers"): "0.4.0",
    ("run", "switch_every"): "0.4.0",
    ("run", "scenario_tasks"): "0.4.0",
    ("agent_config", "adam_eps"): "0.5.0",
    ("agent_config", "dueling"): "0.5.0",
    ("agent_config", "exploration_steps"): "0.5.0",
    ("agent_config", "augment_pad"): "0.5.0",
    ("agent_config", "feature_dim"): "0.6.0",
    ("plasticity.reset", "recipe"): "0.6.0",
    ("plasticity.replay_schedule", "check_episodes"): "0.7.0",
    ("plasticity.replay_schedule", "poll_every"): "0.7.0",
    ("plasticity.replay_schedule", "window"): "0.7.0",
}
"""fields added to a section after plastix 0.1.0, with the version that added them."""

REMOVED = {
    ("plasticity.replay_schedule", "check_every"): "0.7.0",
}
"""fields a section lost, with the version that removed them: a record older than that may
hold them (read without them; the run's version note says a rerun follows this code)."""


def make(
    algorithm: str,
    agent_config,
    run: RunConfig,
    diagnostics: DiagnosticsConfig,
    plasticity: PlasticityConfig,
    **extra,
) -> dict:
    return {
        "record_version": RECORD_VERSION,
        "agent": algorithm,
        "agent_config": dataclasses.asdict(agent_config),
        "run": dataclasses.asdict(run),
        "diagnostics": dataclasses.asdict(diagnostics),
        "plasticity": plasticity.to_dict(),
        "plastix_version": __version__,
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        **extra,
    }


@dataclass(frozen=True)
class Record:
    """A run's configuration, rebuilt from its ``config.json``."""

    algorithm: str
    agent_config: Any
    run: RunConfig
    diagnostics: DiagnosticsConfig
    plasticity: PlasticityConfig
    plastix_version: str
    raw: dict = field(repr=False)

    @property
    def version_note(self) -> str | None:
        """A note when the run was recorded by another plastix version."""
        if self.plastix_version == __version__:
            return None
        return (
            f"recorded by plastix {self.plastix_version}, read by {__version__}: a rerun "
            "follows this version's code, whose results may differ"
        )


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in str(text).split(".")[:3])
    except ValueError:
        return (0,)


def build(cls, values, where: str, version: str):
    """``cls(**values)`` for a dataclass, strictly: every field present (or added later than
    ``version``), none unknown; nested dataclasses and tuples rebuilt."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping of fields, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {
        name: value
        for name, value in values.items()
        if not ((where, name) in REMOVED and _version(version) < _version(REMOVED[(where, name)]))
    }
    unknown = sorted(set(values) - set(fields))
    missing = sorted(
        name
        for name in set(fields) - set(values)
        if not ((where, name) in ADDED and _version(version) < _version(ADDED[(where, name)]))
    )
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown field(s) {', '.join(unknown)}")
        if missing:
            parts.append(f"missing field(s) {', '.join(missing)}")
        raise ConfigError(
            f"{where}: {' and '.join(parts)} for {cls.__name__} (valid fields: {', '.join(fields)})"
        )
    kwargs = {}
    for name, value in values.items():
        f = fields[name]
        factory = f.default_factory if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(factory):
            value = build(factory, value, f"{where}.{name}", version)
        kwargs[name] = tuple(value) if isinstance(value, list) else value
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: a value has the wrong type ({e})") from None


def read(run_dir, config_class: Callable[[str], type]) -> Record:
    """The record of ``run_dir``; ``config_class(algorithm)`` gives the algorithm's config
    class (and raises for an unknown algorithm)."""
    path = Path(run_dir) / runs.CONFIG_FILE
    try:
        raw = runs.read_json(path)
    except FileNotFoundError:
        raise ConfigError(f"{run_dir} is not a run directory (no {runs.CONFIG_FILE})") from None
    except ValueError as e:
        raise ConfigError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} does not hold a run record")
    missing = [k for k in ("agent", "agent_config", "run") if k not in raw]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}: it is not a complete run record")
    version = str(raw.get("plastix_version", "0.1.0"))
    algorithm = raw["agent"]
    plasticity = raw.get("plasticity", {})
    if not isinstance(plasticity, dict):
        raise ConfigError(f"{path}: plasticity must be a mapping of interventions")
    unregistered = sorted(set(plasticity) - set(REGISTRY))
    if unregistered:
        raise ConfigError(
            f"{path} names intervention(s) {', '.join(unregistered)}, which are not registered "
            f"(registered: {', '.join(REGISTRY)}); register them before reading this run"
        )
    configs = {
        name: build(REGISTRY[name].Config, values, f"plasticity.{name}", version)
        for name, values in plasticity.items()
    }
    return Record(
        algorithm=algorithm,
        agent_config=build(config_class(algorithm), raw["agent_config"], "agent_config", version),
        run=build(RunConfig, raw["run"], "run", version),
        diagnostics=build(DiagnosticsConfig, raw["diagnostics"], "diagnostics", version)
        if "diagnostics" in raw
        else DiagnosticsConfig(),
        plasticity=PlasticityConfig(**configs),
        plastix_version=version,
        raw=raw,
    )
