"""Experiments and sweeps on a local Ray cluster (2 worker processes, CPU), started here."""

import json
import os
import signal
import threading
import time

import flax.serialization
import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from rich.console import Console  # noqa: E402

from plastix import api  # noqa: E402
from plastix.config import RunConfig  # noqa: E402
from plastix.experiments import get_experiment, run_experiment  # noqa: E402
from plastix.experiments.cluster import ATTEMPTS_ACTOR, Job, RayOptions, run_jobs  # noqa: E402

QUIET = Console(quiet=True)

TIMING = ("steps_per_second",)


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def same_run(a, b):
    """Two run directories hold the same run: configuration (its path apart), every metric but
    the timings, the parameters to the bit, the summary's results."""
    ca, cb = (json.loads((d / "config.json").read_text()) for d in (a, b))
    ca["run"].pop("out"), cb["run"].pop("out")
    assert ca == cb
    ma, mb = (pd.read_parquet(d / "metrics.parquet") for d in (a, b))
    # (a merged run of seed groups holds its rows group by group)
    ma, mb = (
        m[~m.metric.isin(TIMING)]
        .sort_values(["seed", "step", "metric"], kind="stable")
        .reset_index(drop=True)
        for m in (ma, mb)
    )
    pd.testing.assert_frame_equal(ma, mb)
    assert (a / "params.msgpack").read_bytes() == (b / "params.msgpack").read_bytes()
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    assert sa["status"] == sb["status"] == "completed"
    assert sa["per_seed"] == sb["per_seed"]


def run(tmp_path, name, backend, **kw):
    experiment = get_experiment("heavy-priming")
    return run_experiment(
        experiment,
        "small",
        seeds=2,
        out=tmp_path / name,
        progress=False,
        test_budget=True,
        backend=backend,
        **kw,
    )


def test_ray_gives_the_local_run_directories_even_when_a_worker_is_killed(cluster, tmp_path):
    run(tmp_path, "local", "local")
    cells = get_experiment("heavy-priming").cells("small")
    # a real SIGKILL to the worker process of the first task that starts
    killed, finished = [], threading.Event()

    def kill_first():
        while not finished.is_set() and not killed:
            try:
                pids = ray.get(ray.get_actor(ATTEMPTS_ACTOR).all.remote())
            except ValueError:  # not created yet
                pids = {}
            for label, attempts in pids.items():
                time.sleep(2)  # mid-task: past its start (its compile takes longer)
                os.kill(attempts[0], signal.SIGKILL)
                killed.append(label)
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_first)
    killer.start()
    try:
        report = run(tmp_path, "ray", "ray", ray_options=RayOptions(max_retries=2))
    finally:
        finished.set()
        killer.join()
    assert killed and report.exists()
    summary = json.loads((tmp_path / "ray" / "experiment.json").read_text())
    assert summary["backend"] == "ray" and summary["retries"] == {killed[0]: 1}
    assert all(n > 0 for n in summary["bytes_returned_per_task"].values())
    for cell in cells:
        same_run(tmp_path / "local" / cell.directory, tmp_path / "ray" / cell.directory)
    # the driver restarted with the same --out skips every finished cell
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "ray").rglob("params.msgpack")}
    run(tmp_path, "ray", "ray")
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "ray").rglob("params.msgpack")}
    assert before == after


def dqn_job(out) -> Job:
    """A DQN run that writes a checkpoint after every chunk (a 100-step chunk at a time)."""
    agent = dict(hidden_sizes=(16,), learning_starts=100, batch_size=16)
    run = RunConfig(
        env="CartPole-v1",
        steps=6000,
        seeds=4,
        eval_every=1000,
        eval_episodes=2,
        log_every=250,
        out=str(out),
        overwrite=True,
        checkpoint_seconds=0,
    )
    return Job("dqn CartPole-v1", "dqn", api.agent_config("dqn", agent), run)


@pytest.fixture(scope="module")
def local_dqn(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "dqn"
    run_jobs([dqn_job(out)], "local", QUIET, progress=False)
    return out


@pytest.mark.slow  # about 2 minutes: a compile, a kill, a new worker that compiles again
def test_a_retried_task_resumes_from_its_checkpoint_on_shared_storage(cluster, local_dqn, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    killed, finished = [], threading.Event()

    def kill_after_a_checkpoint():
        while not finished.is_set():
            for path in shared.glob("*/run/checkpoint.msgpack"):
                try:
                    meta = json.loads(flax.serialization.msgpack_restore(path.read_bytes())["meta"])
                except (OSError, ValueError, KeyError):
                    continue  # being replaced
                if meta["iteration"] >= 5:  # of 60: mid-run, with something to resume
                    pids = ray.get(ray.get_actor(ATTEMPTS_ACTOR).all.remote())
                    for label, attempts in pids.items():
                        os.kill(attempts[0], signal.SIGKILL)
                        killed.append(label)
                    return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_after_a_checkpoint)
    killer.start()
    try:
        done = run_jobs(
            [dqn_job(tmp_path / "ray")],
            "ray",
            QUIET,
            progress=False,
            ray_options=RayOptions(max_retries=2, checkpoints=str(shared)),
        )
    finally:
        finished.set()
        killer.join()
    assert killed and done["retries"] == {killed[0]: 1}
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert summary["resumed_at"] and summary["resumed_at"][0] > 0  # not started over
    same_run(local_dqn, tmp_path / "ray")
    assert not list(shared.iterdir())  # the task cleaned up its shared folder


@pytest.mark.slow
def test_seeds_split_across_ray_tasks_give_the_vmapped_run(cluster, local_dqn, tmp_path):
    """Bit for bit with groups of 2 or more seeds (a group of one compiles to a program
    without the seed axis, whose rounding differs; see seedgroups)."""
    done = run_jobs([dqn_job(tmp_path / "ray")], "ray", QUIET, progress=False, seeds_per_task=2)
    assert done["tasks"] == 2 and done["seeds_per_task"] == 2
    assert all("checkpoint.msgpack" not in k for k in done["bytes_returned_per_task"])
    same_run(local_dqn, tmp_path / "ray")
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert [g["seeds"] for g in summary["seed_groups"]] == [[0, 1], [2, 3]]
