"""Run directories: one per run, written atomically, loadable into one table.

A run directory holds

- ``config.json``: the agent, its complete config, the run config and the plastix version:
  enough to rerun it (``plastix rerun RUN`` or ``rerun(path)``);
- ``metrics.parquet``: one long table with columns ``seed, step, metric, value``: per-episode
  ``episode_return`` and ``episode_length``, ``eval_return`` (mean of the evaluation episodes) and
  ``eval_return_std``, losses and other update metrics averaged over each logging interval,
  ``updates`` (cumulative gradient updates) and ``steps_per_second``;
- ``summary.json``: status, timings and final and best evaluation returns per seed;
- ``params.msgpack``: the final parameters of every seed (for ``plastix.load_policy``);
- ``checkpoint.msgpack``: the whole state, for ``plastix resume``;
- ``.plastix.lock``: held (``flock``) by the process writing the run, so there is one writer
  at a time and a reader can tell a live run from one whose process died (``run_status``).

Every file is written to a temporary name in the same directory and renamed into place, so a
reader never sees half a file and a crash never leaves a truncated one.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.parquet"
SUMMARY_FILE = "summary.json"
PARAMS_FILE = "params.msgpack"
LOCK_FILE = ".plastix.lock"
METRIC_COLUMNS = ("seed", "step", "metric", "value")
LIVE = ("compiling", "running")
"""statuses of a run whose process is still at work (if it is alive)."""
FINAL = ("completed", "diverged")
"""statuses of a run that ended of itself; the others (interrupted, failed, dead) are
incomplete and are not ranked as results unless asked."""


class RunExistsError(FileExistsError):
    """The run directory exists and the user did not ask to overwrite it."""


class RunBusyError(RunExistsError):
    """Another process is writing the run directory."""


class RunLock:
    """An exclusive claim on a run directory, held until ``release`` or the end of the
    process (the system drops an ``flock`` when its holder dies, even by ``kill -9``)."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self.path.read_text().strip() or "another process"
            os.close(fd)
            raise RunBusyError(
                f"{self.path.parent} is being written by {holder}; wait for it or choose "
                "another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def writer_alive(run_dir: str | os.PathLike) -> bool | None:
    """Whether a process holds the run's lock (None: the run has no lock file)."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we got
    return False


def run_status(run_dir: str | os.PathLike, summary: dict | None = None) -> str:
    """The run's true status: its summary's, except ``dead`` for a run that says it is
    compiling or running while no process holds its lock."""
    if summary is None:
        try:
            summary = load_summary(run_dir)
        except (FileNotFoundError, ValueError):
            return "unknown"
    status = str(summary.get("status", "unknown"))
    if status in LIVE and writer_alive(run_dir) is False:
        return "dead"
    return status


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the mode an ordinary write would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(
        path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode()
    )


class MetricLog:
    """Metric rows kept in memory and written to ``metrics.parquet`` atomically."""

    def __init__(self):
        self.seed: list[int] = []
        self.step: list[int] = []
        self.metric: list[str] = []
        self.value: list[float] = []

    def add(self, seed: int, step: int, metric: str, value: float) -> None:
        self.seed.append(int(seed))
        self.step.append(int(step))
        self.metric.append(metric)
        self.value.append(float(value))

    def add_seeds(self, seeds, step: int, metric: str, values) -> None:
        """One row per seed: ``values[k]`` for ``seeds[k]``."""
        for seed, value in zip(seeds, values, strict=True):
            self.add(seed, step, metric, value)

    def extend(self, frame: pd.DataFrame) -> None:
        """Appends the rows of a metrics frame (``seed, step, metric, value``)."""
        self.seed += [int(x) for x in frame.seed]
        self.step += [int(x) for x in frame.step]
        self.metric += [str(x) for x in frame.metric]
        self.value += [float(x) for x in frame.value]

    def table(self) -> pa.Table:
        return pa.table(
            {
                "seed": pa.array(self.seed, pa.int32()),
                "step": pa.array(self.step, pa.int64()),
                "metric": pa.array(self.metric, pa.string()),
                "value": pa.array(self.value, pa.float64()),
            }
        )

    def frame(self) -> pd.DataFrame:
        return self.table().to_pandas()

    def write(self, run_dir: Path) -> None:
        sink = pa.BufferOutputStream()
        pq.write_table(self.table(), sink, compression="zstd")
        atomic_write_bytes(Path(run_dir) / METRICS_FILE, sink.getvalue().to_pybytes())


def read_json(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)


def find_runs(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Run directories (those holding ``config.json``) at or below each path, sorted; hidden
    folders (a run being staged to replace another) are passed over."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: set[Path] = set()
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"no such run or folder: {p}")
        if (p / CONFIG_FILE).exists():
            found.add(p)
        else:
            for config in p.rglob(CONFIG_FILE):
                if not any(part.startswith(".") for part in config.relative_to(p).parts[:-1]):
                    found.add(config.parent)
    if not found:
        raise FileNotFoundError(f"no run directories (with {CONFIG_FILE}) under {list(paths)}")
    return sorted(found)


class CorruptRun(ValueError):
    """A run directory whose files cannot be read as a run's."""


@dataclass(frozen=True)
class RunInfo:
    """What a reader needs of a run: where, its record and summary, its true status."""

    path: Path
    config: dict
    summary: dict
    status: str

    @property
    def agent(self) -> str:
        return self.config["agent"]

    @property
    def env(self) -> str:
        return self.config["run"]["env"]

    @property
    def complete(self) -> bool:
        """Whether the run ended of itself (its budget done, or diverged): a final result."""
        return self.status in FINAL


def read_run(run_dir: str | os.PathLike) -> RunInfo:
    """A run's record and summary, checked enough to list and compare it; ``CorruptRun``
    names what is wrong."""
    run_dir = Path(run_dir)
    try:
        config = read_json(run_dir / CONFIG_FILE)
    except (OSError, ValueError) as e:
        raise CorruptRun(f"{CONFIG_FILE} cannot be read ({e})") from None
    run = config.get("run") if isinstance(config, dict) else None
    if not (
        isinstance(config, dict)
        and isinstance(config.get("agent"), str)
        and isinstance(run, dict)
        and all(k in run for k in ("env", "replay_ratio", "seeds"))
    ):
        raise CorruptRun(f"{CONFIG_FILE} is not a run record (no agent, env or seeds)")
    try:
        summary = load_summary(run_dir)
    except FileNotFoundError:
        summary = {}
    except (OSError, ValueError) as e:
        raise CorruptRun(f"{SUMMARY_FILE} cannot be read ({e})") from None
    if not isinstance(summary, dict):
        raise CorruptRun(f"{SUMMARY_FILE} is not a summary")
    return RunInfo(run_dir, config, summary, run_status(run_dir, summary) if summary else "unknown")


def scan(paths) -> tuple[list[RunInfo], list[tuple[Path, str]]]:
    """Every run at or below ``paths``: those that can be read, and ``(path, reason)`` of those
    that cannot."""
    good, bad = [], []
    for run_dir in find_runs(paths):
        try:
            good.append(read_run(run_dir))
        except CorruptRun as e:
            bad.append((run_dir, str(e)))
    return good, bad


def load_runs(
    paths: str | os.PathLike | Iterable[str | os.PathLike], complete_only: bool = False
) -> pd.DataFrame:
    """Loads every run at or below ``paths`` into one long table.

    Columns: ``run`` (the directory), ``agent``, ``env``, ``replay_ratio``, ``status`` (the true
    one: ``completed``, ``interrupted``, ``dead``, ...), ``seed``, ``step``, ``metric``,
    ``value``. ``complete_only`` keeps the runs that ended of themselves (completed or
    diverged). A run that cannot be read is left
    out with a warning; ``table.attrs["skipped"]`` lists ``(run, reason)``. Pivot it for wide
    views, e.g.
    ``df[df.metric == "eval_return"].pivot_table(index="step", columns="seed", values="value")``.
    """
    good, skipped = scan(paths)
    frames = []
    for info in good:
        if complete_only and not info.complete:
            continue
        try:
            frame = load_metrics(info.path)
        except (OSError, ValueError, pa.ArrowException) as e:
            skipped.append((info.path, f"{METRICS_FILE} cannot be read ({e})"))
            continue
        frame.insert(0, "run", str(info.path))
        frame.insert(1, "agent", info.agent)
        frame.insert(2, "env", info.env)
        frame.insert(3, "replay_ratio", float(info.config["run"]["replay_ratio"]))
        frame.insert(4, "status", info.status)
        frames.append(frame)
    if skipped:
        warnings.warn(
            "left out runs that cannot be read: "
            + "; ".join(f"{path} ({reason})" for path, reason in skipped),
            stacklevel=2,
        )
    columns = ["run", "agent", "env", "replay_ratio", "status", *METRIC_COLUMNS]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    table.attrs["skipped"] = [(str(p), r) for p, r in skipped]
    return table


def load_metrics(run_dir: str | os.PathLike) -> pd.DataFrame:
    """One run's ``seed, step, metric, value`` rows (empty if none were written)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return pd.DataFrame({c: [] for c in METRIC_COLUMNS})
    return pq.read_table(path).to_pandas()


def load_summary(run_dir: str | os.PathLike) -> dict:
    return read_json(Path(run_dir) / SUMMARY_FILE)


def load_config(run_dir: str | os.PathLike) -> dict:
    return read_json(Path(run_dir) / CONFIG_FILE)
