"""Running many configurations: one after another here, or as tasks on a Ray cluster.

A ``Job`` is one configuration with all its seeds (they stay vmapped in one program). The
local backend trains each into its run directory. The Ray backend makes each job a Ray task
with the resources asked for; the task trains into a scratch folder on its worker and returns
the run directory as bytes, and the driver writes it in place (so no shared file system is
needed; the stored ``run.out`` is the driver's path, as a local run would store it). Ray
retries a task whose worker died (``max_retries``); every attempt is counted by a small actor,
so the driver knows the retries. The driver shows one progress bar over all tasks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import socket
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from plastix import api, runs
from plastix.config import RunConfig
from plastix.errors import ConfigError
from plastix.plasticity.config import PlasticityConfig
from plastix.plasticity.diagnostics import DiagnosticsConfig
from plastix.training.checkpoint import CHECKPOINT_FILE

BACKENDS = ("local", "ray")
ATTEMPTS_ACTOR = "plastix-attempts"


@dataclass(frozen=True)
class Job:
    """One configuration, all its seeds, and where its run directory goes."""

    label: str
    agent: str
    agent_config: Any
    run: RunConfig
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    plasticity: PlasticityConfig = field(default_factory=PlasticityConfig)
    returns_checkpoint: bool = True
    """whether a Ray task sends its final checkpoint back (a seed group's is not kept)."""


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None
    """a running cluster (``ray start --head`` prints it; None: a local one for this run)."""
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    max_retries: int = 3
    """times Ray reruns a task whose worker died."""
    workers: int | None = None
    """CPUs of the local cluster (None: this machine's)."""
    checkpoints: str | None = None
    """a folder every node can reach (shared storage): a task trains there, so an attempt
    that follows a dead one resumes from its last checkpoint (None: scratch, start over)."""


def check_backend(backend: str, ray_options: RayOptions | None = None) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; valid choices: {', '.join(BACKENDS)}")
    if backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ConfigError("--backend ray needs Ray: pip install 'plastix[ray]'") from None
        o = ray_options or RayOptions()
        if o.cpus_per_task <= 0 or o.gpus_per_task < 0 or o.max_retries < 0:
            raise ConfigError("cpus-per-task must be > 0, gpus-per-task >= 0 and max-retries >= 0")
        if o.checkpoints is not None and not Path(o.checkpoints).is_dir():
            raise ConfigError(
                f"--checkpoints {o.checkpoints} is not a folder: give one on storage every node "
                "of the cluster can reach"
            )


def train(job: Job, progress: bool = False, console: Console | None = None):
    return api.run_training(
        job.agent,
        job.agent_config,
        job.run,
        progress=progress,
        console=console,
        diagnostics=job.diagnostics,
        plasticity=job.plasticity,
    )


def run_local(jobs: list[Job], console: Console, progress: bool = True) -> dict:
    for i, job in enumerate(jobs):
        if progress:
            console.rule(f"[{i + 1}/{len(jobs)}] {job.label}")
        train(job, progress, console)
    return {"backend": "local", "tasks": len(jobs)}


# Ray ----------------------------------------------------------------------------------------


def pack(directory: Path, skip: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(directory.iterdir()):
            if path.name not in skip:
                tar.add(path, arcname=path.name)
    return buffer.getvalue()


def unpack(data: bytes, directory: Path) -> None:
    """Writes a returned run directory at ``directory`` (replacing what was there), with the
    driver's path as its ``run.out``."""
    staging = directory.with_name(f".{directory.name}.incoming")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        tar.extractall(staging, filter="data")
    config_path = staging / runs.CONFIG_FILE
    config = json.loads(config_path.read_text())
    config["run"]["out"] = str(directory)
    runs.atomic_write_json(config_path, config)
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(staging, directory)


def spread() -> int | None:
    """On a worker of a CPU-only cluster: takes a core of the machine no other plastix process
    holds (``_xla.take_free_core``), so tasks side by side do not take turns on one core;
    returns it (None: the affinity was left alone)."""
    from plastix import _xla

    if (
        os.environ.get("PLASTIX_CPU_CORES") == "all"
        or os.environ.get("PLASTIX_KEEP_XLA_FLAGS")
        or not _xla.cpu_only()
        or not hasattr(os, "sched_setaffinity")
    ):
        return None
    return _xla.take_free_core()


def _task(job: Job, attempts, checkpoints: str | None = None) -> bytes:
    """On a worker: one attempt at a job; the run directory as bytes. With ``checkpoints``
    (shared storage) the run lives there, so the attempt after a dead one resumes it."""
    core = spread()
    attempts.started.remote(job.label, os.getpid(), {"host": socket.gethostname(), "core": core})
    skip = () if job.returns_checkpoint else (CHECKPOINT_FILE,)
    if checkpoints is None:
        with tempfile.TemporaryDirectory(prefix="plastix-task-") as scratch:
            where = Path(scratch) / "run"
            train(dataclasses.replace(job, run=dataclasses.replace(job.run, out=str(where))))
            return pack(where, skip)
    key = hashlib.sha256(f"{job.run.out}\0{job.label}".encode()).hexdigest()[:16]
    where = Path(checkpoints) / f"plastix-task-{key}" / "run"
    status = runs.run_status(where) if (where / CHECKPOINT_FILE).exists() else None
    if status in ("interrupted", "dead", "failed") and _same_job(where, job):
        api.resume(where, progress=False)
    elif status != "completed" or not _same_job(where, job):
        shutil.rmtree(where.parent, ignore_errors=True)
        train(dataclasses.replace(job, run=dataclasses.replace(job.run, out=str(where))))
    data = pack(where, skip)
    shutil.rmtree(where.parent, ignore_errors=True)
    return data


def _same_job(where: Path, job: Job) -> bool:
    try:
        entry = api.read_record(where)
    except (FileNotFoundError, ConfigError):
        return False
    return (
        entry.algorithm == job.agent
        and entry.agent_config == job.agent_config
        and entry.plasticity == job.plasticity
        and entry.run.replace(out=job.run.out) == job.run
    )


class _Attempts:
    """Counts every attempt of every task (its worker's pid), for retries and for tests."""

    def __init__(self):
        self.pids: dict[str, list[int]] = {}
        self.where_: dict[str, dict] = {}

    def started(self, label: str, pid: int, where: dict | None = None) -> None:
        self.pids.setdefault(label, []).append(pid)
        self.where_[label] = where or {}

    def all(self) -> dict[str, list[int]]:
        return self.pids

    def where(self) -> dict[str, dict]:
        """Where each task's last attempt ran: its host and the core it took (None: any)."""
        return self.where_


def run_ray(jobs: list[Job], console: Console, options: RayOptions, progress: bool = True) -> dict:
    import ray
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    started_ray = False
    if not ray.is_initialized():
        if options.address:
            ray.init(address=options.address, log_to_driver=False)
        else:
            ray.init(
                num_cpus=options.workers or os.cpu_count(),
                include_dashboard=False,
                log_to_driver=False,
            )
        started_ray = True
    from plastix import _xla

    _xla.release_cores()  # the driver only waits: its core is free for a task
    start = time.perf_counter()
    attempts = ray.remote(num_cpus=0)(_Attempts).options(name=ATTEMPTS_ACTOR).remote()
    task = ray.remote(_task).options(
        num_cpus=options.cpus_per_task,
        num_gpus=options.gpus_per_task,
        max_retries=options.max_retries,
        retry_exceptions=False,
    )
    pending = {task.remote(job, attempts, options.checkpoints): job for job in jobs}
    sent = {job.label: len(ray.cloudpickle.dumps(job)) for job in jobs}
    received: dict[str, int] = {}
    bar = Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
    )
    try:
        with bar:
            overall = bar.add_task(f"{len(jobs)} Ray tasks", total=len(jobs))
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(done[0])
                data = ray.get(done[0])
                received[job.label] = len(data)
                unpack(data, Path(job.run.out))
                bar.advance(overall)
        tries = ray.get(attempts.all.remote())
        cores = ray.get(attempts.where.remote())
    finally:
        ray.kill(attempts)
        if started_ray:
            ray.shutdown()
    return {
        "backend": "ray",
        "tasks": len(jobs),
        "retries": {label: len(p) - 1 for label, p in tries.items() if len(p) > 1},
        "where_per_task": cores,
        "bytes_sent_per_task": sent,
        "bytes_returned_per_task": received,
        "wall_seconds": time.perf_counter() - start,
    }


def run_jobs(
    jobs: list[Job],
    backend: str,
    console: Console,
    progress: bool = True,
    ray_options: RayOptions | None = None,
    seeds_per_task: int | None = None,
) -> dict:
    """Runs every job on ``backend``; returns what the backend did (tasks, retries, bytes).
    ``seeds_per_task`` splits each job's seeds into groups, one task each, merged into the
    job's run directory at the end (``seedgroups``); groups an earlier driver finished are
    kept."""
    from plastix.experiments import seedgroups

    check_backend(backend, ray_options)
    plan = [(job, seedgroups.split(job, seeds_per_task)) for job in jobs]
    tasks, kept = [], 0
    for job, parts in plan:
        for part in parts:
            if part is not job and seedgroups.finished(part):
                kept += 1
            else:
                tasks.append(part)
    if backend == "ray":
        done = run_ray(tasks, console, ray_options or RayOptions(), progress)
    else:
        done = run_local(tasks, console, progress)
    for job, parts in plan:
        if parts != [job]:
            seedgroups.merge([Path(p.run.out) for p in parts], Path(job.run.out))
    if seeds_per_task:
        done.update(seeds_per_task=seeds_per_task, seed_groups_kept=kept)
    return done
