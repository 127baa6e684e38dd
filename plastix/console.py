"""What plastix prints: errors, progress bars and result tables (on stderr, via rich)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


def stderr() -> Console:
    return Console(stderr=True)


def fail(message: str, code: int = 2) -> int:
    """Prints ``plastix: error: message`` on stderr and returns ``code`` (the exit status)."""
    # the message is text, not markup: "pip install 'plastix[ray]'" keeps its brackets
    stderr().print(
        f"[bold red]plastix: error:[/] {escape(message)}", highlight=False, soft_wrap=True
    )
    return code


def progress_bar(console: Console, unit: str, fields: Sequence[str] = ()) -> Progress:
    """A bar with ``done/total unit``, one column per named field (``task.fields[name]``), the
    elapsed and the remaining time."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} " + unit),
    ]
    for name in fields:
        template = {"sps": "{task.fields[sps]} steps/s", "ret": "return {task.fields[ret]}"}
        template["eval"] = "eval {task.fields[eval]}"
        columns.append(TextColumn(template.get(name, "{task.fields[" + name + "]}")))
    columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    return Progress(*columns, console=console, refresh_per_second=4)


def fmt(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def fmt_mean(values) -> str:
    values = [v for v in values if v is not None]
    return f"{np.mean(values):.1f}" if len(values) else "-"


def seed_table(summary: dict) -> Table:
    """Final and best evaluation return and the last episodes' return of every seed."""
    table = Table(
        title=f"{summary['agent']} on {summary['env']}: {summary['status']}, "
        f"{summary.get('steps_per_second', 0):,.0f} steps/s "
        f"(compile {summary.get('compile_seconds', 0):.1f}s)"
    )
    for column in ("seed", "final eval return", "best eval return", "last 10 episodes"):
        table.add_column(column, justify="right")
    for entry in summary.get("per_seed", []):
        table.add_row(
            str(entry["seed"]),
            fmt(entry["final_eval_return"]),
            fmt(entry["best_eval_return"]),
            fmt(entry["recent_episode_return"]),
        )
    return table


def wide_console() -> Console:
    """A stdout console; piped output is not squeezed into 80 columns."""
    console = Console()
    return console if console.is_terminal else Console(width=200)
