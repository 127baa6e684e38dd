"""A Markdown report with PNG plots from any set of run directories (``plastix report``).

Each run directory is one *configuration* (its seeds are the runs of that configuration);
configurations are compared per environment. A seed's *final score* is the mean of its last
``last`` evaluations of ``metric``. For each environment the report has:

- a table: seeds, IQM, mean and median of the final scores with 95% stratified-bootstrap
  intervals (``plastix.analysis.stats``);
- probability of improvement of every configuration over the first (``P(X > first)``);
- ``curves-<env>.png``: the metric over steps, IQM over seeds with a 95% bootstrap band;
- ``final-<env>.png``: final-score IQMs with their intervals;
- ``diagnostics-<env>.png``: every logged plasticity diagnostic over steps (mean over seeds,
  band: min–max), one panel each.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from plastix import runs  # noqa: E402
from plastix.analysis import normalize, stats  # noqa: E402
from plastix.analysis.plots import curves, labels  # noqa: E402

REPORT_FILE = "report.md"
DIAGNOSTIC_SUFFIXES = ("fau", "dormant", "dormant_0", "erank", "srank", "feature_norm")
DIAGNOSTIC_SUFFIXES += ("weight_norm", "distance_from_init", "grad_norm")


@dataclass(frozen=True)
class Comparison:
    """Final scores of configurations on one environment."""

    env: str
    names: list[str]  # display names, in order
    scores: dict[str, np.ndarray]  # name -> [seeds]

    def interval(self, name: str, statistic: str = "iqm") -> stats.Interval:
        return stats.interval(self.scores[name], statistic)

    def improvement(self, x: str, y: str) -> stats.Interval:
        return stats.probability_of_improvement(self.scores[x], self.scores[y])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def final_scores(table: pd.DataFrame, metric: str = "eval_return", last: int = 1) -> pd.DataFrame:
    """Per run and seed, the mean of the last ``last`` values of ``metric``:
    columns ``run, env, seed, score``."""
    rows = table[table.metric == metric].sort_values("step")
    if rows.empty:
        raise ValueError(
            f"no {metric!r} values in these runs; logged metrics: "
            f"{', '.join(sorted(table.metric.unique()))}"
        )
    tail = rows.groupby(["run", "env", "seed"]).value.apply(lambda v: v.iloc[-last:].mean())
    return tail.rename("score").reset_index()


def comparisons(
    table: pd.DataFrame,
    metric: str = "eval_return",
    last: int = 1,
    names: dict[str, str] | None = None,
    order: Sequence[str] | None = None,
) -> list[Comparison]:
    """One ``Comparison`` per environment; ``names`` maps run directories to display names,
    ``order`` lists display names first-to-last (the first is the reference)."""
    finals = final_scores(table, metric, last)
    names = names or labels(sorted(table.run.unique()))
    out = []
    for env, group in finals.groupby("env", sort=True):
        scores = {names[r]: g.score.to_numpy() for r, g in group.groupby("run", sort=True)}
        ordered = [n for n in (order or []) if n in scores]
        ordered += [n for n in scores if n not in ordered]
        out.append(Comparison(str(env), ordered, scores))
    return out


def _curve_figure(table, metric, comparison, names, path: Path, bins: int) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=110)
    rows = table[(table.metric == metric) & (table.env == comparison.env)]
    by_name = {names[r]: g for r, g in rows.groupby("run")}
    for name in comparison.names:
        group = by_name.get(name)
        if group is None:
            continue
        per_seed = group.pivot_table(index="step", columns="seed", values="value").dropna()
        if per_seed.empty:
            continue
        point, low, high = stats.curve_intervals(per_seed.to_numpy().T)
        line = ax.plot(per_seed.index, point, label=name)[0]
        if per_seed.shape[1] > 1:
            ax.fill_between(per_seed.index, low, high, alpha=0.2, color=line.get_color(), lw=0)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(metric)
    ax.set_title(f"{comparison.env}: {metric} (IQM over seeds, 95% bootstrap CI)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _final_figure(comparison: Comparison, metric: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(comparison.names) + 2), 4), dpi=110)
    intervals = [comparison.interval(n) for n in comparison.names]
    x = np.arange(len(intervals))
    ax.bar(x, [i.point for i in intervals], color="#7fa6d6")
    ax.errorbar(
        x,
        [i.point for i in intervals],
        yerr=[
            [i.point - i.low for i in intervals],
            [i.high - i.point for i in intervals],
        ],
        fmt="none",
        color="black",
        capsize=4,
    )
    ax.set_xticks(x, comparison.names, rotation=20, ha="right", fontsize=7)
    ax.set_ylabel(f"final {metric} (IQM)")
    ax.set_title(f"{comparison.env}: final score, IQM with 95% CI", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def diagnostic_metrics(table: pd.DataFrame) -> list[str]:
    return sorted(
        m for m in table.metric.unique() if "/" in m and m.rsplit("/", 1)[1] in DIAGNOSTIC_SUFFIXES
    )


def _diagnostics_figure(table, env, names, order, path: Path) -> bool:
    rows = table[table.env == env]
    metrics = diagnostic_metrics(rows)
    if not metrics:
        return False
    cols = min(4, len(metrics))
    nrows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.4 * cols, 2.6 * nrows), dpi=100)
    axes = np.atleast_1d(axes).reshape(-1)
    colours = {n: f"C{i}" for i, n in enumerate(order)}
    for ax, metric in zip(axes, metrics, strict=False):
        for run, curve in curves(rows, metric).items():
            name = names[run]
            ax.plot(curve.index, curve["mean"], color=colours.get(name), label=name, lw=1.2)
            if curve["seeds"].max() > 1:
                ax.fill_between(
                    curve.index, curve["low"], curve["high"], color=colours.get(name), alpha=0.15
                )
        ax.set_title(metric, fontsize=8)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
    for ax in axes[len(metrics) :]:
        ax.axis("off")
    axes[0].legend(fontsize=6)
    fig.suptitle(f"{env}: plasticity diagnostics (mean over seeds, band: min–max)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _pooled_lines(found: list[Comparison]) -> list[str]:
    """Every configuration that ran on all of several environments, over the environments'
    normalised scores as tasks (``analysis.normalize``); nothing when one has no
    normalisation (raw returns of different tasks are never pooled)."""
    envs = [c.env for c in found]
    if len(envs) < 2 or normalize.normaliser(envs) is None:
        return []
    shared = [n for n in found[0].names if all(n in c.scores for c in found)]
    if len(shared) < 1:
        return []
    pooled = {}
    for name in shared:
        columns = [normalize.normalise(c.env, c.scores[name]) for c in found]
        n = min(len(col) for col in columns)
        pooled[name] = np.stack([col[:n] for col in columns], axis=1)
    ref = shared[0]
    how = "; ".join(f"{e}: {normalize.describe(e)}" for e in envs)
    lines = [
        f"## Pooled over {len(envs)} environments (normalised scores)",
        "",
        f"Normalisation per environment — {how}.",
        "",
        f"| configuration | seeds × tasks | IQM | mean | median | P(X > {ref}) |",
        "|---|---|---|---|---|---|",
    ]
    for name, x in pooled.items():
        poi = "—" if name == ref else stats.probability_of_improvement(x, pooled[ref]).format(2)
        lines.append(
            f"| {name} | {x.shape[0]} × {x.shape[1]} | {stats.interval(x).format(3)} | "
            f"{stats.interval(x, 'mean').format(3)} | {stats.interval(x, 'median').format(3)} "
            f"| {poi} |"
        )
    return [*lines, ""]


def write_report(
    paths: str | Path | Iterable[str | Path],
    out: str | Path,
    metric: str = "eval_return",
    last: int = 1,
    title: str = "Report",
    names: dict[str, str] | None = None,
    order: Sequence[str] | None = None,
    preface: str = "",
    overwrite: bool = False,
    include_incomplete: bool = False,
) -> Path:
    """Writes ``<out>/report.md`` and its PNGs; returns the report's path. ``preface`` is
    Markdown placed right under the title (experiments state their claims there). Runs that
    did not end of themselves (interrupted, failed, dead, still running) are left out of the
    comparisons, and named, unless ``include_incomplete``."""
    if last < 1:
        raise ValueError(f"last must be >= 1, got {last}")
    out = Path(out)
    if (out / REPORT_FILE).exists() and not overwrite:
        raise FileExistsError(f"{out / REPORT_FILE} exists; pass --overwrite to replace it")
    table = runs.load_runs(paths)
    skipped = table.attrs.get("skipped", [])
    final = table.status.isin(runs.FINAL)
    left_out = sorted(set(zip(table.run[~final], table.status[~final], strict=True)))
    if not include_incomplete:
        table = table[final]
        if table.empty:
            raise ValueError(
                "no run here ended of itself (completed or diverged): "
                + ", ".join(f"{run} ({status})" for run, status in left_out)
                + "; pass --include-incomplete to report them anyway"
            )
    names = names or labels(sorted(table.run.unique()))
    found = comparisons(table, metric, last, names, order)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title}", ""]
    if preface:
        lines += [preface.rstrip(), ""]
    what = "last evaluation" if last == 1 else f"mean of the last {last} evaluations"
    lines += [
        f"Final score: each seed's {what} of `{metric}`. Intervals: 95% stratified bootstrap "
        f"({stats.DEFAULT_REPS} resamples). P(X > first): the probability that a seed of X "
        "beats a seed of the first configuration.",
        "",
    ]
    for comparison in found:
        slug = _slug(comparison.env)
        ref = comparison.names[0]
        lines += [
            f"## {comparison.env}",
            "",
            f"| configuration | seeds | IQM | mean | median | P(X > {ref}) |",
            "|---|---|---|---|---|---|",
        ]
        for name in comparison.names:
            poi = "—" if name == ref else comparison.improvement(name, ref).format(2)
            lines.append(
                f"| {name} | {len(comparison.scores[name])} | "
                f"{comparison.interval(name, 'iqm').format()} | "
                f"{comparison.interval(name, 'mean').format()} | "
                f"{comparison.interval(name, 'median').format()} | {poi} |"
            )
        lines.append("")
        _curve_figure(table, metric, comparison, names, out / f"curves-{slug}.png", 50)
        _final_figure(comparison, metric, out / f"final-{slug}.png")
        lines += [f"![curves](curves-{slug}.png) ![final](final-{slug}.png)", ""]
        if _diagnostics_figure(
            table, comparison.env, names, comparison.names, out / f"diagnostics-{slug}.png"
        ):
            lines += [f"![diagnostics](diagnostics-{slug}.png)", ""]
    lines += _pooled_lines(found)
    lines += ["## Runs", ""]
    for run in sorted(table.run.unique()):
        status = table.status[table.run == run].iloc[0]
        note = "" if status in runs.FINAL else f" — **{status}**, not a final result"
        lines.append(f"- {names[run]}: `{run}`{note}")
    if left_out and not include_incomplete:
        lines += ["", "Left out, as they did not end of themselves:", ""]
        lines += [f"- `{run}` ({status})" for run, status in left_out]
    if skipped:
        lines += ["", "Left out, as they cannot be read:", ""]
        lines += [f"- `{run}`: {reason}" for run, reason in skipped]
    path = out / REPORT_FILE
    runs.atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())
    return path
