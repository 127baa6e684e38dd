"""What an experiment is, how it runs, and how its claims are judged.

An experiment is a list of *cells* — one agent, environment and configuration each, trained
with all seeds at once — and a list of *claims* judged on the cells' final scores. Running it
stores every cell as an ordinary run directory (``OUT/<env>/<configuration>``; ``plastix rerun``
reproduces any one of them), then writes ``OUT/report.md`` whose first lines state each claim
and whether the data support it, with the numbers.

A claim "X beats Y" is judged by the probability of improvement P(X > Y) and its 95%
stratified-bootstrap interval (over seeds, and over environments as tasks when there are
several): *supported* if the whole interval lies above 0.5, *contradicted* if it lies below,
*inconclusive* otherwise. A claim that X does *not* beat Y ("adds little", "does not help") is
supported only when the interval's upper end lies within the margin (P ≤ 0.7, ``MARGIN``),
contradicted when the whole interval lies above 0.5, inconclusive otherwise: wide intervals
prove nothing. A claim can have a *precondition* (the setting must be able to show it: "the
unprimed agent learns", "the critic's FAU falls"); when the data do not meet it the claim is
*not testable* here, with the precondition's numbers. Nothing is tuned after the fact: the
verdict is what the seeds say.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from plastix import api, runs
from plastix.analysis.report import final_scores, write_report
from plastix.config import RunConfig
from plastix.errors import ConfigError
from plastix.experiments import cluster
from plastix.experiments.results import MARGIN, Claim, Results
from plastix.plasticity.config import PlasticityConfig
from plastix.plasticity.diagnostics import DiagnosticsConfig
from plastix.plasticity.interventions import REGISTRY

SCALES = ("small", "medium", "paper")

SMALL_NET = dict(hidden_sizes=(64, 64))
"""the networks of the small-scale cells on vector observations."""
MINATAR_SMALL = dict(hidden_sizes=(64,), conv_channels=(16,), batch_size=32)
"""the networks of the small-scale cells on MinAtar."""


@dataclass(frozen=True)
class Cell:
    """One configuration on one environment, trained with every seed at once."""

    group: str
    """the configuration's name, shared across environments (e.g. ``rr16-reset``)."""
    agent: str
    env: str
    steps: int
    replay_ratio: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)
    """agent options (``hidden_sizes``, ``learning_starts``, ...)."""
    plasticity: PlasticityConfig = field(default_factory=PlasticityConfig)
    evaluations: int = 10
    """evaluations over the run (every ``steps / evaluations`` steps)."""
    eval_episodes: int = 10
    scenario: dict[str, Any] = field(default_factory=dict)
    """a continual scenario: ``scenario``, ``switch_every`` and ``scenario_tasks``."""

    @property
    def directory(self) -> str:
        return f"{self.env}/{self.group}"

    @property
    def interval(self) -> int:
        """Steps between evaluations, logging and diagnostics."""
        return max(1, self.steps // self.evaluations)

    def run_config(self, seeds: int, out: Path) -> RunConfig:
        every = self.interval
        return RunConfig(
            env=self.env,
            steps=self.steps,
            replay_ratio=self.replay_ratio,
            seeds=seeds,
            eval_every=every,
            eval_episodes=self.eval_episodes,
            log_every=every,
            out=str(out / self.directory),
            overwrite=True,
            **self.scenario,
        )

    def diagnostics(self) -> DiagnosticsConfig:
        return DiagnosticsConfig(every=self.interval)


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    paper: str
    why: str
    """which environments and budgets, and why the effect can show there."""
    cells: Callable[[str], list[Cell]]
    """scale -> cells."""
    claims: Callable[[Results], list[Claim]]
    default_seeds: dict[str, int] = field(
        default_factory=lambda: {"small": 10, "medium": 10, "paper": 10}
    )
    """seeds per configuration at each scale (paper: the paper's own count)."""
    protocols: dict[str, str] = field(default_factory=dict)
    """scale -> what that scale reproduces (the paper's figure or table) and every deviation."""
    metric: str = "eval_return"
    """the metric a cell's score is the mean of the last ``last`` values of."""
    details: Callable[[dict[str, tuple[str, str]]], list[str]] | None = None
    """{run directory: (env, group)} -> markdown lines for the report after the claims."""
    last: int = 1


def tiny(cell: Cell, steps: int = 600) -> Cell:
    """The same cell at a test budget: ``steps`` steps, tiny networks, every interval and
    one-off step of its interventions scaled down with the run (multiples of 100 steps; each
    intervention says how it scales)."""
    factor = steps / cell.steps

    def scaled(value: int) -> int:
        return max(100, round(value * factor / 100) * 100)

    parts = {
        name: REGISTRY[name].scaled(config, scaled) if REGISTRY[name].wanted(config) else config
        for name, config in cell.plasticity.items()
    }
    fields = {f.name for f in dataclasses.fields(api.algorithms.get(cell.agent).Config)}
    small = dict(hidden_sizes=(16,), batch_size=16, learning_starts=100, rollout_steps=32)
    options = dict(cell.options, **{k: v for k, v in small.items() if k in fields})
    if cell.env.startswith("MinAtar"):
        options["conv_channels"] = (4,)
    scenario = dict(cell.scenario)
    if scenario:  # three tasks of 512 steps (whole PPO iterations of 4 × 32 steps)
        steps, scenario["switch_every"] = 1536, 512
    return dataclasses.replace(
        cell,
        scenario=scenario,
        steps=steps,
        options=options,
        plasticity=PlasticityConfig(**parts),
        evaluations=3,
        eval_episodes=2,
    )


def _completed(run_dir: Path, seeds: int, cell: Cell) -> bool:
    """A stored cell that finished with the same configuration is not run again (its record
    read as a rerun reads it: fields added since take their defaults, so a cure added to
    plastix after the cell ran, and off, does not make it run again)."""
    try:
        summary = runs.load_summary(run_dir)
        entry = api.read_record(run_dir)
    except (FileNotFoundError, ConfigError):
        return False
    run = cell.run_config(seeds, run_dir.parent.parent)
    return (
        summary.get("status") == "completed"
        and entry.algorithm == cell.agent
        and entry.agent_config == api.agent_config(cell.agent, dict(cell.options))
        and entry.plasticity == cell.plasticity
        and all(
            getattr(entry.run, name) == getattr(run, name)
            for name in ("env", "steps", "seeds", "replay_ratio", "scenario", "switch_every")
        )
        and tuple(entry.run.scenario_tasks) == tuple(run.scenario_tasks)
    )


def run_experiment(
    experiment: Experiment,
    scale: str = "small",
    seeds: int | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    console: Console | None = None,
    command: str = "",
    test_budget: bool = False,
    backend: str = "local",
    ray_options: cluster.RayOptions | None = None,
    seeds_per_task: int | None = None,
) -> Path:
    """Runs (or resumes) every cell, then writes the report; returns its path.
    ``test_budget`` keeps the first environment's cells and shrinks them to a few hundred
    steps (``tiny``), for tests. ``backend``: ``local`` (one cell after another) or ``ray``
    (every cell a Ray task, ``ray_options``); cells already stored are skipped either way.
    ``seeds_per_task`` splits each cell's seeds into groups that run as tasks of their own
    and are merged into the cell's run directory (``seedgroups``)."""
    console = console or Console(stderr=True)
    cluster.check_backend(backend, ray_options)
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; valid choices: {', '.join(SCALES)}")
    seeds = experiment.default_seeds[scale] if seeds is None else seeds
    if seeds < 2:
        raise ConfigError(f"an experiment needs at least 2 seeds for its statistics, got {seeds}")
    if seeds_per_task is not None and seeds_per_task < 1:
        raise ConfigError(f"seeds-per-task must be >= 1, got {seeds_per_task}")
    out = Path(out or f"experiments/{experiment.name}-{scale}")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a directory")
    cells = experiment.cells(scale)
    if test_budget:  # the first environment's cells, a few hundred steps each
        cells = [tiny(c) for c in cells if c.env == cells[0].env]
    # Every cell's configuration is built (and so checked) before anything runs.
    configs = [
        (api.agent_config(cell.agent, dict(cell.options)), cell.run_config(seeds, out))
        for cell in cells
    ]
    start = time.perf_counter()
    groups: dict[str, tuple[str, str]] = {}
    jobs = []
    for i, (cell, (agent_config, run_config)) in enumerate(zip(cells, configs, strict=True)):
        run_dir = out / cell.directory
        groups[str(run_dir)] = (cell.env, cell.group)
        header = f"[{i + 1}/{len(cells)}] {cell.agent} {cell.env} {cell.group}"
        if _completed(run_dir, seeds, cell):
            console.print(f"{header}: stored, skipped")
            continue
        jobs.append(
            cluster.Job(
                f"{cell.agent} {cell.env} {cell.group}",
                cell.agent,
                agent_config,
                run_config,
                cell.diagnostics(),
                cell.plasticity,
            )
        )
    done = cluster.run_jobs(jobs, backend, console, progress, ray_options, seeds_per_task)
    if jobs:
        runs.atomic_write_json(out / "experiment.json", dict(done, scale=scale, seeds=seeds))
    minutes = (time.perf_counter() - start) / 60
    table = runs.load_runs([out / c.directory for c in cells])
    finals = final_scores(table, experiment.metric, experiment.last)
    results = Results(finals, groups, table)
    claims = experiment.claims(results)
    order = list(dict.fromkeys(c.group for c in cells))
    names = {run: group for run, (_, group) in groups.items()}
    preface = "\n".join(
        [
            f"{experiment.paper}. Scale: **{scale}**, {seeds} seeds per configuration.",
            "",
            "## Claims",
            "",
            *[claim.line for claim in claims],
            "",
            *(experiment.details(groups) if experiment.details else []),
            "Verdicts: P(X > Y) with a 95% stratified-bootstrap interval; supported if the "
            "interval lies above 0.5, contradicted if below, inconclusive if it holds 0.5. "
            f"A claim that X does not beat Y is supported only when the interval ends at or "
            f"below {MARGIN[1]} (the margin), contradicted when it lies above 0.5. A claim "
            "whose precondition the data do not meet is not testable at this scale.",
            "",
            "## Setup",
            "",
            experiment.protocols.get(scale, experiment.why) if scale != "small" else experiment.why,
            "",
            f"Made by `{command or f'plastix experiment {experiment.name} --scale {scale}'}` "
            f"({minutes:.1f} minutes for the cells run this time"
            + (
                f", as {done['tasks']} Ray tasks, retried: {done['retries'] or 'none'}"
                if done.get("backend") == "ray"
                else ""
            )
            + "). Every cell is a run directory: `plastix rerun DIR` reproduces it.",
        ]
    )
    path = write_report(
        [out / c.directory for c in cells],
        out,
        metric=experiment.metric,
        last=experiment.last,
        title=experiment.title,
        names=names,
        order=order,
        preface=preface,
        overwrite=True,
    )
    if progress:
        print_results(console, table, names, order, claims, experiment.metric, experiment.last)
    return path


def print_results(
    console: Console, table, names, order, claims, metric="eval_return", last=1
) -> None:
    """The final scores per environment with their intervals, then the verdicts."""
    from rich.table import Table

    from plastix.analysis.report import comparisons

    what = "final evaluation return" if metric == "eval_return" else f"{metric}, last {last}"
    for comparison in comparisons(table, metric, last, names=names, order=order):
        ref = comparison.names[0]
        out = Table(title=f"{comparison.env}: {what} (95% bootstrap CIs)")
        for column in ("configuration", "seeds", "IQM", "mean", f"P(X > {ref})"):
            out.add_column(column)
        for name in comparison.names:
            out.add_row(
                name,
                str(len(comparison.scores[name])),
                comparison.interval(name, "iqm").format(),
                comparison.interval(name, "mean").format(),
                "—" if name == ref else comparison.improvement(name, ref).format(2),
            )
        console.print(out)
    for claim in claims:
        console.print(f"{claim.verdict.upper()}: {claim.text} {claim.evidence}")
