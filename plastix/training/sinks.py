"""Copies of a run's metric rows for the tools people watch runs with: ``--log
csv,tensorboard,wandb``. The run store (``metrics.parquet``) stays the source of truth; each sink
gets the same rows under the same names, whenever the runner writes the metrics (every few
seconds and at the end).

- ``csv``: ``metrics.csv`` in the run directory, the whole table (``seed, step, metric, value``)
  rewritten atomically each time, so it always equals ``metrics.parquet``.
- ``tensorboard``: event files under ``tensorboard/seed_<seed>/`` (``tensorboard --logdir
  RUN/tensorboard``; written with ``tensorboardX``), one scalar per metric.
- ``wandb``: one Weights & Biases run per seed (named ``<run>-seed<seed>``, grouped by the run
  directory's name, the run's ``config.json`` as its config), under ``RUN/wandb``; offline unless
  ``WANDB_MODE`` says otherwise (``wandb sync`` uploads an offline run later).

A resumed run sends on from the rows of its checkpoint: TensorBoard and W&B then hold again the
steps between that checkpoint and the interruption.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from plastix import runs
from plastix.config import LOG_SINKS as SINKS
from plastix.errors import ConfigError

CSV_FILE = "metrics.csv"
PACKAGES = {"tensorboard": ("tensorboardX", "tensorboard"), "wandb": ("wandb", "wandb")}


def check(names) -> None:
    """Every sink named is known and its package importable, before anything is built."""
    for name in names:
        if name not in SINKS:
            raise ConfigError(f"unknown log sink {name!r}; valid choices: {', '.join(SINKS)}")
        if name in PACKAGES:
            module, extra = PACKAGES[name]
            try:
                __import__(module)
            except ImportError:
                raise ConfigError(
                    f"--log {name} needs the {module} package: pip install 'plastix[{extra}]'"
                ) from None


class Sinks:
    """The sinks of one run directory; ``send(log)`` passes on the rows not sent yet."""

    def __init__(self, run_dir: Path, names, seed_ids: list[int]):
        self.run_dir = Path(run_dir)
        self.names = tuple(names)
        self.seed_ids = list(seed_ids)
        self.sent = 0
        self._tensorboard: dict[int, object] = {}
        self._wandb: dict[int, object] = {}

    def skip(self, rows: int) -> None:
        """Rows already sent by an earlier process (a resumed run's checkpoint)."""
        self.sent = rows

    def send(self, log: runs.MetricLog) -> None:
        if "csv" in self.names:
            buffer = io.StringIO()
            log.frame().to_csv(buffer, index=False)
            runs.atomic_write_bytes(self.run_dir / CSV_FILE, buffer.getvalue().encode())
        end = len(log.seed)
        rows = zip(
            log.seed[self.sent : end],
            log.step[self.sent : end],
            log.metric[self.sent : end],
            log.value[self.sent : end],
            strict=True,
        )
        if "tensorboard" in self.names or "wandb" in self.names:
            for seed, step, metric, value in rows:
                if "tensorboard" in self.names:
                    self.tensorboard(seed).add_scalar(metric, value, step)
                if "wandb" in self.names:
                    self.wandb(seed).log({metric: value}, step=step)
        for writer in self._tensorboard.values():
            writer.flush()
        self.sent = end

    def tensorboard(self, seed: int):
        if seed not in self._tensorboard:
            from tensorboardX import SummaryWriter

            path = self.run_dir / "tensorboard" / f"seed_{seed}"
            self._tensorboard[seed] = SummaryWriter(str(path))
        return self._tensorboard[seed]

    def wandb(self, seed: int):
        if seed not in self._wandb:
            import wandb

            name = self.run_dir.name
            try:
                config = runs.load_config(self.run_dir)
            except FileNotFoundError:
                config = {}
            self._wandb[seed] = wandb.init(
                project=os.environ.get("WANDB_PROJECT", "plastix"),
                name=f"{name}-seed{seed}",
                group=name,
                dir=str(self.run_dir),
                config=dict(config, seed=seed),
                mode=os.environ.get("WANDB_MODE", "offline"),
                reinit="create_new",
            )
        return self._wandb[seed]

    def close(self) -> None:
        for writer in self._tensorboard.values():
            writer.close()
        for run in self._wandb.values():
            run.finish()
        self._tensorboard, self._wandb = {}, {}
