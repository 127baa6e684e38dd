"""Curves of any logged metric over environment steps, one line per configuration.

A configuration is a run directory; its line is the mean over seeds and the band spans the
seeds' minimum to maximum (with one seed there is no band). Metrics logged at irregular steps
(``episode_return``) are first averaged per seed within ``bins`` equal step intervals, so seeds
can be compared on one grid.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from plastix.runs import load_runs  # noqa: E402

SKIP = {"steps_per_second", "updates", "eval_return_std", "episode_length"}


def default_metrics(table: pd.DataFrame) -> list[str]:
    """``eval_return``, ``episode_return``, then losses and diagnostics, sorted."""
    present = [m for m in table.metric.unique() if m not in SKIP]
    first = [m for m in ("eval_return", "episode_return") if m in present]
    return first + sorted(m for m in present if m not in first)


def curves(table: pd.DataFrame, metric: str, bins: int = 50) -> dict[str, pd.DataFrame]:
    """Per run: a frame indexed by step with columns ``mean``, ``low``, ``high``."""
    rows = table[table.metric == metric]
    out = {}
    for run, group in rows.groupby("run", sort=True):
        steps = np.sort(group.step.unique())
        if len(steps) > bins:
            edges = np.linspace(0, steps.max(), bins + 1)
            centre = ((edges[:-1] + edges[1:]) / 2).astype(int)
            group = group.assign(
                step=centre[np.clip(np.digitize(group.step, edges) - 1, 0, bins - 1)]
            )
        per_seed = group.groupby(["step", "seed"]).value.mean().unstack("seed")
        out[str(run)] = pd.DataFrame(
            {
                "mean": per_seed.mean(axis=1),
                "low": per_seed.min(axis=1),
                "high": per_seed.max(axis=1),
                "seeds": per_seed.notna().sum(axis=1),
            }
        )
    return out


def labels(runs: Sequence[str]) -> dict[str, str]:
    """Each run's path below the runs' common folder (its own name when alone)."""
    if len(runs) == 1:
        return {runs[0]: Path(runs[0]).name}
    common = os.path.commonpath([os.path.abspath(r) for r in runs])
    return {r: os.path.relpath(os.path.abspath(r), common) for r in runs}


def plot_runs(
    paths: str | Path | Iterable[str | Path],
    out: str | Path,
    metrics: Sequence[str] | None = None,
    bins: int = 50,
) -> list[Path]:
    """Writes ``<out>/<metric>.png`` for each metric; returns the files written."""
    table = load_runs(paths)
    metrics = list(metrics) if metrics else default_metrics(table)
    unknown = sorted(set(metrics) - set(table.metric.unique()))
    if unknown:
        raise ValueError(
            f"no such metric(s) {', '.join(unknown)} in these runs; logged metrics: "
            f"{', '.join(sorted(table.metric.unique()))}"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = labels(sorted(table.run.unique()))
    written = []
    for metric in metrics:
        fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
        for run, curve in curves(table, metric, bins).items():
            line = ax.plot(curve.index, curve["mean"], label=names[run])[0]
            if curve["seeds"].max() > 1:
                ax.fill_between(
                    curve.index,
                    curve["low"],
                    curve["high"],
                    alpha=0.2,
                    color=line.get_color(),
                    linewidth=0,
                )
        ax.set_xlabel("environment steps")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} (mean over seeds; band: min–max)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / (re.sub(r"[^A-Za-z0-9_.-]+", "_", metric) + ".png")
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
