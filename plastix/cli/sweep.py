"""``plastix sweep AGENT --grid NAME=V1,V2 ... --out DIR [train options] [--backend ray]``.

The cartesian product of the grid, one run directory per point (``DIR/NAME=V1,OTHER=A``),
every point's options parsed and checked — each name a real option of ``plastix train AGENT``,
each value one it accepts — before any point starts. The other options are those of
``plastix train AGENT`` and apply to every point. ``plastix report DIR`` compares them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import io
import itertools
import re
from pathlib import Path

import tyro

from plastix import algorithms, runs
from plastix.cli.train import plasticity_of, train_args_type
from plastix.console import fail, stderr
from plastix.envs import EnvNotFoundError, check_env_name
from plastix.errors import ConfigError

BACKEND_FLAGS = {
    "--backend": "backend",
    "--address": "address",
    "--cpus-per-task": "cpus_per_task",
    "--gpus-per-task": "gpus_per_task",
    "--max-retries": "max_retries",
    "--checkpoints": "checkpoints",
    "--seeds-per-task": "seeds_per_task",
}
USAGE = (
    "usage: plastix sweep AGENT --grid NAME=V1,V2 [NAME=...] --out DIR [plastix train options] "
    "[--backend local|ray] [--address ADDR] [--cpus-per-task N] [--gpus-per-task F] "
    "[--max-retries N] [--checkpoints SHARED_DIR] [--seeds-per-task N]"
)


def option_names(agent: str) -> list[str]:
    """Every option ``plastix train AGENT`` takes, as a grid names it (``learning_rate``,
    ``reset.every``, ``diagnostics.every``)."""
    args = train_args_type(agent)
    names = []
    for f in dataclasses.fields(args):
        if f.name == "progress":
            continue
        if f.name in ("run", "agent"):
            names += [g.name for g in dataclasses.fields(f.default_factory())]
        elif f.name == "diagnostics":
            names += [f"diagnostics.{g.name}" for g in dataclasses.fields(f.default_factory())]
        else:  # the interventions' groups
            group = f.default_factory()
            for intervention in dataclasses.fields(group):
                config = getattr(group, intervention.name)
                names += [f"{intervention.name}.{g.name}" for g in dataclasses.fields(config)]
    return names


def parse_grid(agent: str, items: list[str]) -> dict[str, list[str]]:
    valid = option_names(agent)
    grid: dict[str, list[str]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip().lstrip("-").replace("-", "_")
        if not sep or not values:
            raise ConfigError(f"--grid {item!r}: write NAME=V1,V2 (e.g. learning_rate=1e-3,3e-4)")
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"--grid: {agent} has no option {name!r}.{hint} Valid choices: {', '.join(valid)}"
            )
        if name in grid:
            raise ConfigError(f"--grid names {name!r} twice")
        grid[name] = [v for v in values.split(",") if v]
    if not grid:
        raise ConfigError("sweep needs --grid NAME=V1,V2 [NAME=...]")
    if "out" in grid:
        raise ConfigError("--grid cannot vary out (each point gets DIR/<point>)")
    return grid


def label(point: dict[str, str]) -> str:
    return ",".join(f"{n}={re.sub(r'[^A-Za-z0-9._+-]', '_', v)}" for n, v in point.items())


def parse_point(agent: str, base: list[str], point: dict[str, str], out: Path):
    """The point's training arguments, parsed as ``plastix train`` parses them."""
    flags = [x for n, v in point.items() for x in (f"--{n.replace('_', '-')}", v)]
    argv = [*base, *flags, "--out", str(out / label(point)), "--no-progress"]
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return tyro.cli(train_args_type(agent), args=argv, prog=f"plastix sweep {agent}")
    except SystemExit:
        text = re.sub("[─│╭╮╰╯]", " ", errors.getvalue())
        said = [line.strip() for line in text.splitlines()]
        said = " ".join(line for line in said if line and not line.startswith("For full"))
        values = ", ".join(f"{n}={v}" for n, v in point.items())
        raise ConfigError(f"--grid point {values}: {said or 'does not parse'}") from None


def split(argv: list[str]):
    """``(grid items, out, backend options, the rest)`` of a sweep's arguments."""
    grid, backend, rest, out = [], {}, [], None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--grid":
            i += 1
            while i < len(argv) and not argv[i].startswith("--"):
                grid.append(argv[i])
                i += 1
            continue
        key, _, inline = arg.partition("=")
        if key in BACKEND_FLAGS or key == "--out":
            value = inline or (argv[i + 1] if i + 1 < len(argv) else None)
            if value is None:
                raise ConfigError(f"{key} needs a value")
            if key == "--out":
                out = value
            else:
                backend[BACKEND_FLAGS[key]] = value
            i += 1 if inline else 2
            continue
        rest.append(arg)
        i += 1
    return grid, out, backend, rest


def number(flags: dict, name: str, kind, default):
    """The value of the backend flag ``name`` as an ``int`` or ``float`` (``default`` if unset)."""
    if name not in flags:
        return default
    try:
        return kind(flags[name])
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        flag = "--" + name.replace("_", "-")
        raise ConfigError(f"{flag} must be {what}, got {flags[name]!r}") from None


def cmd_sweep(argv: list[str]) -> int:
    from plastix.experiments.cluster import Job, RayOptions, check_backend, run_jobs

    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    agent = argv[0]
    try:
        algorithms.get(agent)
        items, out, backend, base = split(argv[1:])
        if out is None:
            raise ConfigError("sweep needs --out DIR (one run directory per point below it)")
        grid = parse_grid(agent, items)
        kind = backend.get("backend", "local")
        options = RayOptions(
            backend.get("address"),
            number(backend, "cpus_per_task", float, 1.0),
            number(backend, "gpus_per_task", float, 0.0),
            number(backend, "max_retries", int, 3),
            checkpoints=backend.get("checkpoints"),
        )
        check_backend(kind, options)
        seeds_per_task = number(backend, "seeds_per_task", int, None)
        if seeds_per_task is not None and seeds_per_task < 1:
            raise ConfigError(f"--seeds-per-task must be >= 1, got {seeds_per_task}")
        points = [
            dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())
        ]
        parsed = [parse_point(agent, base, p, Path(out)) for p in points]
        for args in parsed:
            check_env_name(args.run.env)
        jobs = [
            Job(label(p), agent, a.agent, a.run, a.diagnostics, plasticity_of(a))
            for p, a in zip(points, parsed, strict=True)
        ]
        existing = [j.run.out for j in jobs if Path(j.run.out).exists() and not j.run.overwrite]
        if existing:
            raise ConfigError(
                f"{existing[0]} exists (and {len(existing) - 1} more points); pass --overwrite "
                "to replace them or choose another --out"
            )
    except (ConfigError, EnvNotFoundError, ValueError) as e:
        return fail(str(e))
    console = stderr()
    console.print(f"sweep: {len(jobs)} points of {agent} on {kind}")
    Path(out).mkdir(parents=True, exist_ok=True)
    done = run_jobs(jobs, kind, console, True, options, seeds_per_task)
    runs.atomic_write_json(
        Path(out) / "sweep.json",
        dict(done, agent=agent, grid=grid, points=[j.label for j in jobs], options=base),
    )
    console.print(f"sweep stored in [bold]{out}[/]; compare: plastix report {out} --out REPORT")
    return 0
