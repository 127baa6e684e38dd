"""Experiments and sweeps on a local Ray cluster (2 worker processes, CPU), started here."""

import json
import os
import signal
import threading
import time

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from plastix.experiments import get_experiment, run_experiment  # noqa: E402
from plastix.experiments.cluster import ATTEMPTS_ACTOR, RayOptions  # noqa: E402

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
    ma, mb = (m[~m.metric.isin(TIMING)].reset_index(drop=True) for m in (ma, mb))
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
