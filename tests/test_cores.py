"""CPU placement (plastix/_xla.py): importing plastix changes nothing in the process unless
``PLASTIX_CPU_CORES`` asks; processes that ask (and CLI runs, where jaxlib needs the guard)
take different cores side by side, a core is free again once its holder ends (even killed),
and ``PLASTIX_CPU_CORES=all`` leaves the affinity alone."""

import os
import signal
import subprocess
import sys

import pytest

CORES = [int(c) for c in os.environ.get("PLASTIX_TEST_CORES", "").split(",") if c]
CHILD = """
import os, sys
os.sched_setaffinity(0, {cores})  # the whole machine, or the affinity a Ray worker inherits
import plastix  # noqa: F401
{then}
flags = os.environ.get("XLA_FLAGS", "-")
print(",".join(map(str, sorted(os.sched_getaffinity(0)))), flags, flush=True)
sys.stdin.read()  # holds its core until the test lets it go
"""
DRIVER = "from plastix import _xla; _xla.release_cores()"  # what the Ray driver does
WORKER = "from plastix.experiments import cluster; cluster.spread()"  # what a Ray task does

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(CORES) < 2, reason="needs two cores to spread"
)


CLI = (  # the command line (its output put aside), then hold
    "import contextlib, io; from plastix.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])"
)


def start(tmp_path, cores=None, then="", **env):
    env.setdefault("PLASTIX_CPU_CORES", "1")
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PLASTIX_KEEP_XLA_FLAGS", "PLASTIX_CPU_CORES")
    }
    environ.update(JAX_PLATFORMS="cpu", PLASTIX_CORE_LOCKS=str(tmp_path))
    environ.update({k: v for k, v in env.items() if v is not None})
    return subprocess.Popen(
        [sys.executable, "-c", CHILD.format(cores=set(cores or CORES), then=then)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=environ,
    )


def cores_of(process) -> set[int]:
    line = process.stdout.readline()
    assert line, "the child ended before it printed its cores"
    return {int(c) for c in line.split()[0].split(",")}


def finish(*processes):
    for p in processes:
        if p.poll() is None:
            p.stdin.close()
            p.wait(timeout=60)


def test_runs_side_by_side_take_different_cores_and_free_them_when_they_end(tmp_path):
    first, second = start(tmp_path), start(tmp_path)
    try:
        a, b = cores_of(first), cores_of(second)
        assert len(a) == len(b) == 1 and a | b <= set(CORES)
        assert a != b
        if len(CORES) == 2:  # every core held: a third shares one of them
            third = start(tmp_path)
            assert cores_of(third) <= a | b
            finish(third)
        first.send_signal(signal.SIGKILL)  # a killed holder's core is free again
        first.wait(timeout=60)
        fourth = start(tmp_path)
        assert cores_of(fourth) == a
        finish(fourth)
    finally:
        for p in (first, second):
            if p.poll() is None:
                p.kill()
        finish(first, second)


def test_all_leaves_the_affinity_alone(tmp_path):
    child = start(tmp_path, PLASTIX_CPU_CORES="all")
    try:
        assert cores_of(child) == set(CORES)
    finally:
        finish(child)


def test_ray_tasks_beside_their_driver_take_different_cores(tmp_path):
    """The driver imported plastix (holding a core) and started Ray, whose workers inherit its
    one-core affinity and claim at import what they can of it. Once the driver gives its core
    up, two tasks side by side run on two different cores of the machine."""
    driver = start(tmp_path, then=DRIVER)
    try:
        (inherited,) = cores_of(driver)
        tasks = [start(tmp_path, cores={inherited}, then=WORKER) for _ in range(2)]
        try:
            a, b = (cores_of(t) for t in tasks)
            assert len(a) == len(b) == 1 and a != b and a | b <= set(CORES)
        finally:
            finish(*tasks)
    finally:
        finish(driver)


def test_importing_plastix_leaves_the_process_alone(tmp_path):
    """No PLASTIX_CPU_CORES: the affinity and XLA_FLAGS are as they were, with every module of
    the API loaded and a JAX backend started."""
    run = "import jax; plastix.train, plastix.ALGORITHMS, jax.numpy.ones(3).sum()"
    flags = "--xla_cpu_enable_fast_math=false"
    child = start(tmp_path, then=run, PLASTIX_CPU_CORES=None, XLA_FLAGS=flags)
    try:
        line = child.stdout.readline().split()
        assert {int(c) for c in line[0].split(",")} == set(CORES)
        assert line[1] == flags
    finally:
        finish(child)


def test_cli_runs_started_together_pin_nothing_unless_asked(tmp_path):
    """Two command lines side by side: none pinned; asked for one core each, different ones."""
    plain = [start(tmp_path, then=CLI, PLASTIX_CPU_CORES=None) for _ in range(2)]
    try:
        assert [cores_of(p) for p in plain] == [set(CORES)] * 2
    finally:
        finish(*plain)
    asked = [start(tmp_path, then=CLI) for _ in range(2)]
    try:
        a, b = (cores_of(p) for p in asked)
        assert len(a) == len(b) == 1 and a != b
    finally:
        finish(*asked)
