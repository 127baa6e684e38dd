"""An experiment on 1 and 2 Ray workers against the local backend: wall time, speed-up, the
per-task overhead and the bytes each task sends and returns.

    python benchmarks/ray_experiments.py [--experiment heavy-priming] [--steps 3000]

Each experiment's first-environment cells at a shortened budget (``tiny``: ``--steps`` steps,
16-unit networks), 2 seeds each, run three times into fresh folders: locally (one cell after
another in this process), then on a local Ray instance of 1 and of 2 CPUs. The per-task
overhead is (Ray with 1 worker − local) / tasks: starting a worker process, importing plastix
and JAX there, sending the cell and returning its run directory. JAX's persistent compilation
cache is off, so every row compiles its programs (a warm cache would favour the later rows).
The "cores" column is the set of cores the tasks ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ["PLASTIX_COMPILATION_CACHE"] = "off"  # before plastix starts a run; workers inherit

import ray  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from plastix.experiments import base, get_experiment  # noqa: E402


def run(name: str, steps: int, out: Path, backend: str, workers: int | None) -> float:
    experiment = get_experiment(name)
    cells = [base.tiny(c, steps) for c in experiment.cells("small")]
    cells = [c for c in cells if c.env == cells[0].env]
    original = experiment.cells

    def cells_of(scale):
        return cells

    start = time.perf_counter()
    try:
        object.__setattr__(experiment, "cells", cells_of)
        if backend == "ray":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        base.run_experiment(experiment, "small", seeds=2, out=out, progress=False, backend=backend)
    finally:
        object.__setattr__(experiment, "cells", original)
        if backend == "ray":
            ray.shutdown()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--experiment", default="heavy-priming")
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        local = run(args.experiment, args.steps, Path(tmp) / "local", "local", None)
        rows.append(("local", local, None))
        for workers in (1, 2):
            out = Path(tmp) / f"ray{workers}"
            wall = run(args.experiment, args.steps, out, "ray", workers)
            rows.append(
                (
                    f"ray, {workers} worker(s)",
                    wall,
                    json.loads((out / "experiment.json").read_text()),
                )
            )
    tasks = rows[1][2]["tasks"]
    table = Table(title=f"{args.experiment}: {tasks} cells × 2 seeds, {args.steps} steps each")
    for column in (
        "backend",
        "wall s",
        "vs local",
        "vs 1 worker",
        "sent B/task",
        "returned B/task",
        "cores",
    ):
        table.add_column(column)
    for label, wall, info in rows:
        sent = received = cores = "-"
        if info:
            cores = ",".join(sorted({str(w["core"]) for w in info["where_per_task"].values()}))
            sent = f"{sum(info['bytes_sent_per_task'].values()) / tasks:,.0f}"
            received = f"{sum(info['bytes_returned_per_task'].values()) / tasks:,.0f}"
        table.add_row(
            label,
            f"{wall:.1f}",
            f"{local / wall:.2f}×",
            "-" if label == "local" else f"{rows[1][1] / wall:.2f}×",
            sent,
            received,
            cores,
        )
    console = Console()
    console.print(table)
    console.print(
        f"per-task overhead of Ray (1 worker − local) / tasks: {(rows[1][1] - local) / tasks:.1f} s"
    )


if __name__ == "__main__":
    main()
