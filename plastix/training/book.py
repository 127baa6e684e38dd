"""The runner's bookkeeping: the metric rows and per-seed results of a run (``Book``) and the
files of its run directory (``Writer``)."""

from __future__ import annotations

from pathlib import Path

import flax.serialization
import numpy as np
import pandas as pd

from plastix import runs
from plastix.errors import TrainingDiverged
from plastix.rundir import RunDir
from plastix.training import checkpoint
from plastix.training.program import ChunkLog, Program
from plastix.training.sinks import Sinks


class Writer:
    """The files of one run directory (none without a claim, ``rundir.RunDir``), and the
    ``--log`` sinks that copy its metrics (fed once the run directory is in its place)."""

    def __init__(self, claim: RunDir | None, log=(), seed_ids=()):
        self.claim = claim
        self.on = claim is not None
        self.sinks = Sinks(claim.path, log, list(seed_ids)) if self.on and log else None
        self._log = None

    @property
    def run_dir(self) -> Path | None:
        return self.claim.path if self.on else None

    def summary(self, data: dict) -> None:
        if self.on:
            runs.atomic_write_json(self.run_dir / runs.SUMMARY_FILE, data)

    def metrics(self, log: runs.MetricLog) -> None:
        log.write(self.run_dir)
        self._log = log
        self._feed()

    def _feed(self) -> None:
        if self.sinks is not None and self._log is not None and not self.claim.staged:
            self.sinks.run_dir = self.run_dir
            self.sinks.send(self._log)

    def close(self) -> None:
        if self.sinks is not None:
            self.sinks.close()

    def params(self, tree) -> None:
        runs.atomic_write_bytes(self.run_dir / runs.PARAMS_FILE, flax.serialization.to_bytes(tree))

    def checkpoint(self, program: Program, state, initial, meta: dict) -> None:
        checkpoint.save(self.run_dir, state, initial, meta, program.host_state())

    def commit(self) -> None:
        """A run that replaces another takes its place (it has its first complete files)."""
        if self.on:
            self.claim.commit()
            self._feed()


class Book:
    """The metric rows of a run and the per-seed results the summary reports."""

    def __init__(self, seed_ids: list[int]):
        self.seed_ids = seed_ids
        self.log = runs.MetricLog()
        n = len(seed_ids)
        self.last_eval: list[float | None] = [None] * n
        self.best_eval: list[float | None] = [None] * n
        self.eval_steps = [-1] * n
        self.recent: list[list[float]] = [[] for _ in range(n)]
        self.task_ends: list[dict[int, float]] = [{} for _ in range(n)]

    def frame(self) -> pd.DataFrame:
        return self.log.frame()

    def rows(self, step: int, values: dict, skip_nan: bool = False) -> None:
        """One row per seed and metric (``skip_nan``: a NaN means no row for that seed)."""
        for name, per_seed in values.items():
            if skip_nan:
                for seed, value in zip(self.seed_ids, per_seed, strict=True):
                    if not np.isnan(value):
                        self.log.add(seed, step, name, value)
            else:
                self.log.add_seeds(self.seed_ids, step, name, per_seed)

    def chunk(self, chunk: ChunkLog, step: int, steps_per_second: float) -> None:
        """Episodes, speed, counters, then each seed's update metrics."""
        for k, at, ret, length in chunk.episodes:
            self.log.add(self.seed_ids[k], at, "episode_return", ret)
            if length is not None:
                self.log.add(self.seed_ids[k], at, "episode_length", length)
            self.recent[k].append(float(ret))
            del self.recent[k][:-10]
        self.log.add_seeds(
            self.seed_ids, step, "steps_per_second", [steps_per_second] * len(self.seed_ids)
        )
        self.rows(step, chunk.extra)
        counted = chunk.counted if chunk.counted is not None else np.ones(len(self.seed_ids), bool)
        for k, s in enumerate(self.seed_ids):
            if counted[k]:
                for name, values in chunk.metrics.items():
                    self.log.add(s, int(chunk.steps[k]), name, values[k])

    def check_finite(self, chunk: ChunkLog, run_dir) -> None:
        """Stops the run when an update metric is NaN or infinite."""
        counted = chunk.counted if chunk.counted is not None else np.ones(len(self.seed_ids), bool)
        bad = [
            f"{name} = {values[k]} (seed {s})"
            for k, s in enumerate(self.seed_ids)
            if counted[k]
            for name, values in chunk.metrics.items()
            if not np.isfinite(values[k])
        ]
        if bad:
            raise TrainingDiverged(
                f"training diverged at step {int(chunk.steps.min())}: {'; '.join(bad)}. The run "
                "stopped; metrics up to this point are kept" + (f" in {run_dir}" if run_dir else "")
            )

    def evaluation(self, steps: np.ndarray, returns: np.ndarray) -> None:
        for k, s in enumerate(self.seed_ids):
            if steps[k] == self.eval_steps[k]:
                continue  # this seed has not moved since its last evaluation
            mean = float(np.mean(returns[k]))
            self.log.add(s, int(steps[k]), "eval_return", mean)
            self.log.add(s, int(steps[k]), "eval_return_std", float(np.std(returns[k])))
            self.eval_steps[k] = int(steps[k])
            self._note_eval(k, mean)

    def task_end(self, steps: np.ndarray, tasks: np.ndarray, returns: np.ndarray) -> None:
        """The evaluation return each seed reached on the task that ended at this step."""
        for k, s in enumerate(self.seed_ids):
            mean = float(np.mean(returns[k]))
            self.log.add(s, int(steps[k]), "task_end_return", mean)
            self.task_ends[k][int(tasks[k])] = mean

    def _note_eval(self, k: int, mean: float) -> None:
        self.last_eval[k] = mean
        best = self.best_eval[k]
        self.best_eval[k] = mean if best is None else max(best, mean)

    def recent_means(self) -> list[float]:
        return [float(np.mean(r)) for r in self.recent if r]

    def restore(self, frame: pd.DataFrame, rows: int) -> None:
        """The rows of a checkpoint (those after it are dropped: they will be made again)."""
        if len(frame) < rows:
            raise ValueError(
                f"the metrics hold {len(frame)} rows, fewer than the checkpoint's {rows}"
            )
        frame = frame.iloc[:rows]
        self.log.extend(frame)
        for k, s in enumerate(self.seed_ids):
            mine = frame[frame.seed == s]
            evals = mine[mine.metric == "eval_return"]
            for step, value in zip(evals.step, evals.value, strict=True):
                self.eval_steps[k] = int(step)
                self._note_eval(k, float(value))
            episodes = mine[mine.metric == "episode_return"].value
            self.recent[k] = [float(v) for v in episodes.iloc[-10:]]
            ends = mine[mine.metric == "task_end_return"]
            tasks = mine[mine.metric == "task"].set_index("step").value
            for step, value in zip(ends.step, ends.value, strict=True):
                self.task_ends[k][int(tasks.get(step, len(self.task_ends[k])))] = float(value)

    def per_seed(self) -> dict:
        finals = [e for e in self.last_eval if e is not None]
        return {
            "per_seed": [
                {
                    "seed": s,
                    "final_eval_return": self.last_eval[k],
                    "best_eval_return": self.best_eval[k],
                    "recent_episode_return": float(np.mean(self.recent[k]))
                    if self.recent[k]
                    else None,
                    **(
                        {
                            "task_end_returns": [
                                self.task_ends[k][t] for t in sorted(self.task_ends[k])
                            ]
                        }
                        if self.task_ends[k]
                        else {}
                    ),
                }
                for k, s in enumerate(self.seed_ids)
            ],
            "final_eval_return_mean": float(np.mean(finals)) if finals else None,
        }
