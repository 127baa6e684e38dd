"""``plastix probe bitflip|digits``: a supervised plasticity probe with any built-in cure."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import field
from pathlib import Path
from typing import Annotated

import numpy as np
import tyro
from rich.table import Table

from plastix.console import fail, progress_bar, stderr
from plastix.errors import ConfigError
from plastix.plasticity.config import PlasticityConfig
from plastix.plasticity.interventions import REGISTRY, Cure


def args_type(problem: str):
    """``ProbeArgs``: the probe's config, one flag group per built-in cure, ``--out``."""
    from plastix.probe import IN_LOOP, ProbeConfig

    cures = [
        (name, cls.Config, field(default_factory=cls.Config))
        for name, cls in REGISTRY.items()
        if issubclass(cls, Cure) or name in IN_LOOP
    ]
    Cures = dataclasses.make_dataclass("Cures", cures, frozen=True)
    fields = [
        (
            "config",
            Annotated[ProbeConfig, tyro.conf.OmitArgPrefixes],
            field(default_factory=lambda: ProbeConfig(problem=problem)),
        ),
        ("cures", Annotated[Cures, tyro.conf.arg(name="")], field(default_factory=Cures)),
        ("out", str | None, field(default=None)),
    ]
    return dataclasses.make_dataclass("ProbeArgs", fields, frozen=True)


def cmd_probe(argv: list[str]) -> int:
    from plastix.probe import PROBLEMS, run_probe

    if not argv or argv[0] not in PROBLEMS:
        given = repr(argv[0]) if argv else "none"
        return fail(f"plastix probe needs a problem, got {given}; valid choices: bitflip, digits")
    problem, rest = argv[0], argv[1:]
    ProbeArgs = args_type(problem)

    try:
        args = tyro.cli(
            ProbeArgs,
            args=rest,
            prog=f"plastix probe {problem}",
            description="A supervised plasticity probe: a task sequence, seeds vmapped, cures.",
        )
        config = dataclasses.replace(args.config, problem=problem)
        plasticity = PlasticityConfig(
            **{f.name: getattr(args.cures, f.name) for f in dataclasses.fields(args.cures)}
        )
        if args.out is not None and Path(args.out).exists():
            raise ConfigError(f"{args.out} exists; choose another --out")
        with progress_bar(stderr(), "tasks") as bar:
            task = bar.add_task(f"probe {problem}", total=config.tasks)
            result = run_probe(config, plasticity, lambda i: bar.update(task, completed=i + 1))
    except ConfigError as e:
        return fail(str(e))
    except SystemExit as e:  # tyro's own report of a bad flag (exit 2) or --help (0)
        return int(e.code or 0)
    table = Table(title=f"{problem}: {config.seeds} seeds, {config.task_steps:,} updates per task")
    for column in ("task", f"{result.metric} (mean \\[min, max])", "FAU", "dormant", "eff. rank"):
        table.add_column(column, justify="right")
    for t in range(config.tasks):
        s = result.per_task[:, t]
        d = {k: float(np.mean(v[:, t])) for k, v in result.diagnostics.items()}
        table.add_row(
            str(t + 1),
            f"{s.mean():.4g} [{s.min():.4g}, {s.max():.4g}]",
            f"{d['fraction_active_units']:.3f}",
            f"{d['dormant_ratio']:.3f}",
            f"{d['effective_rank']:.2f}",
        )
    stderr().print(table)
    if args.out is not None:
        data = {
            "config": dataclasses.asdict(config),
            "cures": {n: dataclasses.asdict(getattr(plasticity, n)) for n in plasticity.wanted()},
            "metric": result.metric,
            "per_task": result.per_task.tolist(),
            "diagnostics": {k: v.tolist() for k, v in result.diagnostics.items()},
        }
        Path(args.out).write_text(json.dumps(data, indent=1))
        stderr().print(f"results written to [bold]{args.out}[/]")
    return 0
