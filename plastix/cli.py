"""The ``plastix`` command line.

``plastix train AGENT [options]`` takes its options from the run and agent config dataclasses
(``RunConfig`` and ``DQNConfig`` / ``SACConfig``): every field is a flag, its docstring the help.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import tyro
from rich.console import Console
from rich.table import Table

from plastix.agents import AGENTS, ITERATIVE, ConfigError, UnknownAgentError, get_agent
from plastix.config import RunConfig
from plastix.envs import EnvNotFoundError, check_env_name, env_choices
from plastix.onpolicy.variance import VarianceConfig
from plastix.plasticity.config import PlasticityConfig
from plastix.plasticity.diagnostics import DiagnosticsConfig

USAGE = """\
usage: plastix COMMAND [options]

plastix: plasticity loss and its cures in deep RL, on JAX.

commands:
  train AGENT [options]   train an agent (many seeds at once) and store the run
                          agents: {agents}
                          e.g. plastix train dqn --env CartPole-v1 --steps 100000 \\
                                 --replay-ratio 1 --seeds 5 --out runs/x
                          all options of an agent: plastix train AGENT --help
  rerun RUN [--out DIR] [--overwrite]
                          run again a stored run from its config.json
  resume RUN [--steps N]  continue an es / ppo / reinforce run from its checkpoint
  ls PATH...              list the runs at or below PATH with their results
  plot RUN... --out DIR [--metrics M ...]
                          PNG curves of return, losses and plasticity diagnostics over
                          steps, one line per run (mean over seeds, band: min-max)
  report RUN... --out DIR [--metric eval_return] [--last N]
                          Markdown report: IQM / mean / median with bootstrap CIs,
                          probability of improvement, curves, diagnostics, bar charts
  experiment NAME [--scale small|paper] [--seeds N] [--out DIR]
                          run a named experiment and report its claims: {experiments}
  demo                    heavy priming and resets on CartPole, a few minutes on a CPU
  gradient-variance [--env ID] [--batch-sizes B ...] [--out DIR]
                          variance of the REINFORCE gradient per baseline and batch size
  icrl data|train|eval    in-context RL: record learning histories, train AD / DPT,
                          evaluate in context on held-out tasks (plastix icrl --help)
  envs                    list the environments

environments: jittable gymnax ids (see `plastix envs`), or any Gymnasium id as gymnasium:ID.
Python: plastix.train("dqn", env="CartPole-v1", steps=100_000, seeds=5, out="runs/x").
"""


def fail(message: str, code: int = 2) -> int:
    Console(stderr=True).print(
        f"[bold red]plastix: error:[/] {message}", highlight=False, soft_wrap=True
    )
    return code


def train_args_type(agent_name: str):
    """``TrainArgs`` for one agent: run and agent fields flattened into one set of flags
    (the plasticity interventions only for the off-policy agents)."""
    agent_cls = get_agent(agent_name)
    fields = [
        (
            "run",
            Annotated[RunConfig, tyro.conf.OmitArgPrefixes],
            field(default_factory=RunConfig),
        ),
        (
            "agent",
            Annotated[agent_cls.Config, tyro.conf.OmitArgPrefixes],
            field(default_factory=agent_cls.Config),
        ),
        ("diagnostics", DiagnosticsConfig, field(default_factory=DiagnosticsConfig)),
    ]
    if agent_name not in ITERATIVE:
        fields.append(
            (
                "plasticity",
                Annotated[PlasticityConfig, tyro.conf.arg(name="")],
                field(default_factory=PlasticityConfig),
            )
        )
    fields.append(("progress", bool, field(default=True)))
    return dataclasses.make_dataclass(f"Train{agent_cls.__name__}", fields, frozen=True)


def cmd_train(argv: list[str]) -> int:
    from plastix.train import TrainingDiverged, run_training

    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    try:
        get_agent(name)
    except UnknownAgentError as e:
        return fail(str(e))
    try:
        args = tyro.cli(
            train_args_type(name),
            args=rest,
            prog=f"plastix train {name}",
            description=get_agent(name).Config.__doc__,
        )
    except ConfigError as e:
        return fail(str(e))
    try:
        check_env_name(args.run.env)
        result = run_training(
            name,
            args.agent,
            args.run,
            progress=args.progress,
            diagnostics=args.diagnostics,
            plasticity=getattr(args, "plasticity", None),
        )
    except (EnvNotFoundError, ConfigError, FileExistsError) as e:
        return fail(str(e))
    except TrainingDiverged as e:
        return fail(str(e), code=1)
    if result.run_dir is not None:
        Console(stderr=True).print(f"run stored in [bold]{result.run_dir}[/]")
    return 0


def cmd_rerun(argv: list[str]) -> int:
    from plastix.train import TrainingDiverged, rerun

    @dataclass(frozen=True)
    class RerunArgs:
        run: tyro.conf.Positional[str]
        """run directory holding config.json."""
        out: str | None = None
        """where to store the new run (default: not stored)."""
        overwrite: bool = False
        """replace an existing directory at --out."""

    args = tyro.cli(RerunArgs, args=argv, prog="plastix rerun")
    try:
        rerun(args.run, out=args.out, overwrite=args.overwrite)
    except (FileNotFoundError, FileExistsError, ConfigError, EnvNotFoundError) as e:
        return fail(str(e))
    except TrainingDiverged as e:
        return fail(str(e), code=1)
    return 0


def cmd_resume(argv: list[str]) -> int:
    from plastix.train import TrainingDiverged, resume

    @dataclass(frozen=True)
    class ResumeArgs:
        run: tyro.conf.Positional[str]
        """the run directory (of an es, ppo or reinforce run)."""
        steps: int | None = None
        """new step budget per seed (default: the run's own)."""

    args = tyro.cli(ResumeArgs, args=argv, prog="plastix resume")
    if not (Path(args.run) / "config.json").exists():
        return fail(f"{args.run} is not a run directory (no config.json)")
    try:
        resume(args.run, args.steps)
    except (ConfigError, FileNotFoundError) as e:
        return fail(str(e))
    except TrainingDiverged as e:
        return fail(str(e), code=1)
    return 0


def cmd_ls(argv: list[str]) -> int:
    from plastix import runs

    if not argv:
        return fail("ls needs one or more run directories or folders of runs")
    try:
        found = runs.find_runs(argv)
    except FileNotFoundError as e:
        return fail(str(e))
    table = Table()
    for column in (
        "run",
        "agent",
        "env",
        "replay ratio",
        "seeds",
        "steps",
        "status",
        "final eval (mean)",
        "steps/s",
    ):
        table.add_column(column, overflow="fold")
    for run_dir in found:
        config = runs.load_config(run_dir)
        try:
            summary = runs.load_summary(run_dir)
        except FileNotFoundError:
            summary = {}
        final = summary.get("final_eval_return_mean")
        table.add_row(
            str(run_dir),
            config["agent"],
            config["run"]["env"],
            str(config["run"]["replay_ratio"]),
            str(config["run"]["seeds"]),
            f"{summary.get('steps_done', 0):,}",
            summary.get("status", "?"),
            "-" if final is None else f"{final:.1f}",
            f"{summary.get('steps_per_second', 0):,.0f}",
        )
    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(width=200)
    console.print(table)
    return 0


def cmd_plot(argv: list[str]) -> int:
    @dataclass(frozen=True)
    class PlotArgs:
        runs: tyro.conf.Positional[tuple[str, ...]]
        """run directories or folders of runs."""
        out: str
        """folder for the PNG files (one per metric)."""
        metrics: tuple[str, ...] = ()
        """metrics to plot (default: returns, losses and every diagnostic)."""
        bins: int = 50
        """step intervals that irregular metrics (episode returns) are averaged in."""

    args = tyro.cli(PlotArgs, args=argv, prog="plastix plot")
    from plastix.analysis.plots import plot_runs

    try:
        written = plot_runs(args.runs, args.out, args.metrics or None, args.bins)
    except (FileNotFoundError, ValueError) as e:
        return fail(str(e))
    Console(stderr=True).print(f"wrote {len(written)} plots to [bold]{args.out}[/]")
    return 0


def cmd_report(argv: list[str]) -> int:
    @dataclass(frozen=True)
    class ReportArgs:
        runs: tyro.conf.Positional[tuple[str, ...]]
        """run directories or folders of runs (each run directory is one configuration)."""
        out: str
        """folder for report.md and its PNG plots."""
        metric: str = "eval_return"
        """the score compared across configurations."""
        last: int = 1
        """a seed's final score is the mean of its last N values of the metric."""
        title: str = "Report"
        """the report's title."""
        overwrite: bool = False
        """replace an existing report in --out."""

    args = tyro.cli(ReportArgs, args=argv, prog="plastix report")
    from plastix.analysis.report import write_report

    try:
        path = write_report(
            args.runs,
            args.out,
            metric=args.metric,
            last=args.last,
            title=args.title,
            overwrite=args.overwrite,
        )
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        return fail(str(e))
    Console(stderr=True).print(f"report written to [bold]{path}[/]")
    return 0


def cmd_experiment(argv: list[str]) -> int:
    from plastix.experiments import EXPERIMENTS, SCALES, get_experiment, run_experiment

    if not argv or argv[0].startswith("-"):
        if argv and argv[0] in ("-h", "--help"):
            print("usage: plastix experiment NAME [--scale small|paper] [--seeds N] [--out DIR]")
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
        """small: sized for a 2-core CPU; paper: the papers' budgets, for a GPU."""
        seeds: int | None = None
        """seeds per configuration (default: 5 small, 10 paper)."""
        out: str | None = None
        """folder for the runs and the report (default experiments/NAME-SCALE); a folder
        holding finished cells resumes: they are not run again."""
        progress: bool = True
        """show progress bars."""

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
        )
    except (ConfigError, FileExistsError, EnvNotFoundError) as e:
        return fail(str(e))
    Console(stderr=True).print(f"report written to [bold]{path}[/]")
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
    console = Console(stderr=True)
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
    console = Console(stderr=True)
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


COMMANDS = {
    "train": cmd_train,
    "rerun": cmd_rerun,
    "resume": cmd_resume,
    "ls": cmd_ls,
    "plot": cmd_plot,
    "report": cmd_report,
    "experiment": cmd_experiment,
    "demo": cmd_demo,
    "gradient-variance": cmd_gradient_variance,
    "icrl": cmd_icrl,
    "envs": cmd_envs,
}


def usage() -> str:
    from plastix.experiments import EXPERIMENTS

    return USAGE.format(agents=", ".join(sorted(AGENTS)), experiments=", ".join(EXPERIMENTS))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command = argv[0]
    if command not in COMMANDS:
        return fail(f"unknown command {command!r}. Valid choices: {', '.join(COMMANDS)}")
    return COMMANDS[command](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
