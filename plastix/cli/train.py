"""``plastix train | rerun | resume``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Annotated

import tyro

from plastix import algorithms, api
from plastix.config import RunConfig
from plastix.console import fail, stderr
from plastix.envs import EnvNotFoundError, check_env_name
from plastix.errors import INTERRUPTED, ConfigError, TrainingDiverged
from plastix.plasticity.config import PlasticityConfig
from plastix.plasticity.diagnostics import DiagnosticsConfig
from plastix.plasticity.interventions import REGISTRY


def plasticity_type(algorithm: algorithms.Algorithm):
    """A dataclass with one field per intervention the algorithm's program supports (the CLI's
    ``--reset.every`` ... groups), from the registry."""
    fields = [
        (name, cls.Config, field(default_factory=cls.Config))
        for name, cls in REGISTRY.items()
        if all(c in algorithm.capabilities for c in cls.requires)
    ]
    return dataclasses.make_dataclass("Plasticity", fields, frozen=True) if fields else None


def train_args_type(name: str):
    """``TrainArgs`` for one algorithm: run, agent, diagnostics and intervention fields
    flattened into one set of flags."""
    algorithm = algorithms.get(name)
    fields = [
        ("run", Annotated[RunConfig, tyro.conf.OmitArgPrefixes], field(default_factory=RunConfig)),
        (
            "agent",
            Annotated[algorithm.Config, tyro.conf.OmitArgPrefixes],
            field(default_factory=algorithm.Config),
        ),
        ("diagnostics", DiagnosticsConfig, field(default_factory=DiagnosticsConfig)),
    ]
    plasticity = plasticity_type(algorithm)
    if plasticity is not None:
        fields.append(
            (
                "plasticity",
                Annotated[plasticity, tyro.conf.arg(name="")],
                field(default_factory=plasticity),
            )
        )
    fields.append(("progress", bool, field(default=True)))
    return dataclasses.make_dataclass(f"Train{name.upper()}", fields, frozen=True)


def plasticity_of(args) -> PlasticityConfig:
    group = getattr(args, "plasticity", None)
    if group is None:
        return PlasticityConfig()
    return PlasticityConfig(**{f.name: getattr(group, f.name) for f in dataclasses.fields(group)})


def interrupted(out) -> int:
    where = f"plastix resume {out}" if out else "(nothing was stored: no --out)"
    stderr().print(f"interrupted; the run stopped with a checkpoint. Continue it: {where}")
    return INTERRUPTED


def cmd_train(argv: list[str]) -> int:
    name, rest = argv[0], argv[1:]
    try:
        algorithm = algorithms.get(name)
    except ConfigError as e:
        return fail(str(e))
    try:
        args = tyro.cli(
            train_args_type(name),
            args=rest,
            prog=f"plastix train {name}",
            description=algorithm.Config.__doc__,
        )
    except ConfigError as e:
        return fail(str(e))

    def train():
        check_env_name(args.run.env)
        return api.run_training(
            name,
            args.agent,
            args.run,
            progress=args.progress,
            diagnostics=args.diagnostics,
            plasticity=plasticity_of(args),
        )

    return guarded(train, args.run.out, "run stored in")


def guarded(action, out, done: str) -> int:
    """Runs ``action``; bad input exits 2 with its message, a divergence 1, an interruption 130
    (the run kept a checkpoint)."""
    try:
        result = action()
    except (EnvNotFoundError, ConfigError, FileExistsError, FileNotFoundError) as e:
        return fail(str(e))
    except TrainingDiverged as e:
        return fail(str(e), code=1)
    except KeyboardInterrupt:
        return interrupted(out)
    except OSError as e:  # a full disk, a folder taken away: what was written is kept
        where = f" in {e.filename}" if e.filename else ""
        return fail(f"cannot write the run{where}: {e.strerror or e}; what was written is kept")
    if result.run_dir is not None:
        stderr().print(f"{done} [bold]{result.run_dir}[/]")
    return 0


def cmd_rerun(argv: list[str]) -> int:
    @dataclass(frozen=True)
    class RerunArgs:
        run: tyro.conf.Positional[str]
        """run directory holding config.json."""
        out: str | None = None
        """where to store the new run (default: not stored)."""
        overwrite: bool = False
        """replace an existing directory at --out."""

    args = tyro.cli(RerunArgs, args=argv, prog="plastix rerun")
    rerun = lambda: api.rerun(args.run, out=args.out, overwrite=args.overwrite)  # noqa: E731
    return guarded(rerun, args.out, "run stored in")


def cmd_resume(argv: list[str]) -> int:
    @dataclass(frozen=True)
    class ResumeArgs:
        run: tyro.conf.Positional[str]
        """the run directory."""
        steps: int | None = None
        """new step budget per seed (default: the run's own)."""

    args = tyro.cli(ResumeArgs, args=argv, prog="plastix resume")
    return guarded(lambda: api.resume(args.run, args.steps), args.run, "run continued in")
