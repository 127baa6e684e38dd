"""``plastix ls | plot | report``: reading stored runs."""

from __future__ import annotations

from dataclasses import dataclass

import tyro
from rich.table import Table

from plastix import runs
from plastix.console import fail, stderr, wide_console


def cmd_ls(argv: list[str]) -> int:
    if not argv:
        return fail("ls needs one or more run directories or folders of runs")
    try:
        found, corrupt = runs.scan(argv)
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
    for info in found:
        summary, run = info.summary, info.config["run"]
        final = summary.get("final_eval_return_mean")
        table.add_row(
            str(info.path),
            info.agent,
            info.env,
            str(run["replay_ratio"]),
            str(run["seeds"]),
            f"{summary.get('steps_done', 0):,}",
            info.status,
            "-" if final is None else f"{final:.1f}",
            f"{summary.get('steps_per_second', 0):,.0f}",
        )
    wide_console().print(table)
    for path, reason in corrupt:
        stderr().print(
            f"[bold]not a readable run:[/] {path}: {reason}", highlight=False, soft_wrap=True
        )
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
    stderr().print(f"wrote {len(written)} plots to [bold]{args.out}[/]")
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
        include_incomplete: bool = False
        """also compare runs that did not end of themselves (interrupted, failed, dead)."""

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
            include_incomplete=args.include_incomplete,
        )
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        return fail(str(e))
    stderr().print(f"report written to [bold]{path}[/]")
    return 0
