"""``plastix experiment | demo | gradient-variance | icrl | envs``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import tyro
from rich.table import Table

from plastix.console import fail, stderr
from plastix.envs import EnvNotFoundError, check_env_name, env_choices
from plastix.errors import ConfigError
from plastix.onpolicy.variance import VarianceConfig


def cmd_experiment(argv: list[str]) -> int:
    from plastix.experiments import EXPERIMENTS, SCALES, get_experiment, run_experiment
    from plastix.experiments.cluster import RayOptions

    if not argv or argv[0].startswith("-"):
        if argv and argv[0] in ("-h", "--help"):
            print(
                "usage: plastix experiment NAME [--scale small|medium|paper] [--seeds N] "
                "[--out DIR]"
            )
            print(f"experiments: {', '.join(EXPERIMENTS)}")
            return 0
        return fail(f"experiment needs a name; valid choices: {', '.join(EXPERIMENTS)}")
    name = argv[0]
    try:
        experiment = get_experiment(name)
    except ConfigError as e:
        return fail(str(e))

    @dataclass(frozen=True)
    class ExperimentArgs:
        scale: str = "small"
        """small: sized for a 2-core CPU; medium: a few CPU hours; paper: the papers'
        protocols, for GPUs."""
        seeds: int | None = None
        """seeds per configuration (default: 10; at paper scale the paper's count)."""
        out: str | None = None
        """folder for the runs and the report (default experiments/NAME-SCALE); a folder
        holding finished cells resumes: they are not run again."""
        progress: bool = True
        """show progress bars."""
        backend: str = "local"
        """local: one cell after another here; ray: every cell a task on a Ray cluster."""
        address: str | None = None
        """ray: the cluster's address (``ray start --head`` prints it); unset: a local one."""
        cpus_per_task: float = 1.0
        """ray: CPUs each cell's task reserves."""
        gpus_per_task: float = 0.0
        """ray: GPUs (or a fraction of one) each cell's task reserves."""
        max_retries: int = 3
        """ray: times a task whose worker died is run again."""
        checkpoints: str | None = None
        """ray: a folder on storage every node reaches; a task trains there, so its next
        attempt after a worker died resumes from the last checkpoint (unset: starts over)."""
        seeds_per_task: int | None = None
        """split each cell's seeds into tasks of this many seeds (merged into one run
        directory per cell; bit for bit the vmapped run on the CPU with 2 or more seeds per
        task); unset: all seeds of a cell in one task, vmapped."""

    args = tyro.cli(
        ExperimentArgs,
        args=argv[1:],
        prog=f"plastix experiment {name}",
        description=experiment.title,
    )
    if args.scale not in SCALES:
        return fail(f"unknown scale {args.scale!r}; valid choices: {', '.join(SCALES)}")
    try:
        path = run_experiment(
            experiment,
            args.scale,
            args.seeds,
            args.out,
            progress=args.progress,
            command="plastix experiment " + " ".join(argv),
            backend=args.backend,
            ray_options=RayOptions(
                args.address,
                args.cpus_per_task,
                args.gpus_per_task,
                args.max_retries,
                checkpoints=args.checkpoints,
            ),
            seeds_per_task=args.seeds_per_task,
        )
    except (ConfigError, FileExistsError, EnvNotFoundError) as e:
        return fail(str(e))
    stderr().print(f"report written to [bold]{path}[/]")
    return 0


def cmd_demo(argv: list[str]) -> int:
    from plastix.experiments import run_experiment
    from plastix.experiments.catalog import DEMO

    @dataclass(frozen=True)
    class DemoArgs:
        out: str | None = None
        """folder for the runs and the report (default: plastix-demo, or plastix-demo-N if
        that exists)."""
        seeds: int = 5
        """seeds per configuration."""

    args = tyro.cli(DemoArgs, args=argv, prog="plastix demo", description=DEMO.title)
    out = args.out
    if out is None:
        out, n = "plastix-demo", 1
        while Path(out).exists():
            n += 1
            out = f"plastix-demo-{n}"
    elif Path(out).exists() and any(Path(out).iterdir()):
        return fail(f"{out} exists and is not empty; choose another --out")
    console = stderr()
    console.print(f"[bold]{DEMO.title}[/]: {DEMO.why}\nwriting to [bold]{out}[/]")
    try:
        path = run_experiment(DEMO, "small", args.seeds, out, command="plastix demo")
    except ConfigError as e:
        return fail(str(e))
    console.print(f"report: [bold]{path}[/]  plots: [bold]{Path(out)}/*.png[/]")
    return 0


def cmd_envs(argv: list[str]) -> int:
    print("jittable (gymnax) environments:")
    for name in env_choices():
        print(f"  {name}")
    print("any Gymnasium id, stepped on the host: gymnasium:ID (e.g. gymnasium:LunarLander-v3)")
    from plastix.envs import atari, dmc, mjx

    print("Atari 100k games, stepped on the host: atari:GAME (every ALE game works)")
    print("  " + " ".join(atari.ATARI_100K))
    for what, prefix, listing in (
        ("DeepMind Control, stepped on the host", "dmc:TASK and dmc-pixels:TASK", dmc.tasks),
        ("DeepMind Control on MJX (MuJoCo Playground), jittable", "mjx:TASK", mjx.tasks),
    ):
        try:
            names = listing()
        except (ConfigError, ImportError) as e:
            print(f"{what}: {prefix} — not installed ({e})")
            continue
        print(f"{what}: {prefix}")
        print("  " + " ".join(names))
    return 0


def cmd_gradient_variance(argv: list[str]) -> int:
    from plastix.onpolicy.variance import measure, write_report

    @dataclass(frozen=True)
    class VarianceArgs:
        config: Annotated[VarianceConfig, tyro.conf.OmitArgPrefixes] = field(
            default_factory=VarianceConfig
        )
        out: str = "gradient-variance"
        """folder for variance.md, variance.csv and variance.png."""

    try:
        args = tyro.cli(
            VarianceArgs,
            args=argv,
            prog="plastix gradient-variance",
            description="Variance of the REINFORCE gradient per baseline and batch size.",
        )
        check_env_name(args.config.env)
    except (ConfigError, EnvNotFoundError) as e:
        return fail(str(e))
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        return fail(f"{out} exists and is not empty; choose another --out")
    console = stderr()
    with console.status(f"sampling episodes and gradients on {args.config.env} ..."):
        try:
            rows = measure(args.config)
        except ConfigError as e:
            return fail(str(e))
    command = "plastix gradient-variance " + " ".join(argv)
    write_report(rows, args.config, out, command.strip())
    table = Table(title=f"REINFORCE gradient variance, {args.config.env}")
    for column in ("baseline", "batch size", "variance", "‖mean‖", "SNR"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r["baseline"],
            str(r["batch_size"]),
            f"{r['variance']:.4g}",
            f"{r['mean_norm']:.3g}",
            f"{r['snr']:.3g}",
        )
    console.print(table)
    console.print(f"written: [bold]{out}/variance.md[/], variance.csv, variance.png")
    return 0


def cmd_icrl(argv: list[str]) -> int:
    from plastix.icrl.cli import main as icrl_main

    return icrl_main(argv)
