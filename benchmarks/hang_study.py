"""How often a loaded CPU run hangs, per JAX version and CPU setting: ``python
benchmarks/hang_study.py --setting NAME [--python PY] [--runs 20] [--parallel 3]``.

Each run is ``plastix train sac --env Pendulum-v1 --steps 6000 --seeds 2`` (seed-vmapped
chunks, the workload that hung), started ``--parallel`` at a time on this machine so that
runs load each other's cores. A run that has not ended after ``--timeout`` seconds (several
times a normal run's length), or whose CPU time has not grown for ``--stall`` seconds (a hung
run's threads all sleep; a working one compiles or computes), is counted as hung and killed;
before it is killed, the stacks of its Python threads are dumped (``faulthandler``, SIGUSR1)
into its log. The table row — setting,
JAX version, runs, hung, median seconds of the runs that ended — is appended to
``benchmarks/results/hang-study.md``.

Settings (environment variables of each run):

- ``unguarded``: no core pinning, XLA's defaults (multi-threaded Eigen, asynchronous dispatch).
- ``no-eigen-threads``: ``--xla_cpu_multi_thread_eigen=false`` only.
- ``sync-dispatch``: JAX's asynchronous CPU dispatch off only.
- ``one-core``: the process pinned to one core only (``taskset``; run ``i`` on core ``i mod
  cores``).
- ``default``: what a plain ``plastix train`` does in the code under test.

``--python`` picks the interpreter (another virtual environment, e.g. one with another JAX);
``--code DIR`` puts a checkout of plastix first on its path (to study an older commit).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLAG = "--xla_cpu_multi_thread_eigen=false"
KEEP = {"PLASTIX_KEEP_XLA_FLAGS": "1"}  # plastix leaves every CPU setting alone
SETTINGS = {
    "unguarded": KEEP,
    "no-eigen-threads": {**KEEP, "XLA_FLAGS": FLAG},
    "sync-dispatch": {**KEEP, "JAX_CPU_ENABLE_ASYNC_DISPATCH": "false"},
    "one-core": KEEP,  # and ``taskset`` to one core, the runs spread over the cores
    "default": {},
}
PRELUDE = (
    "import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True);"
    "from plastix.cli import main; sys.exit(main(sys.argv[1:]))"
)


def start(python: str, setting: str, code: str | None, out: Path, log, index: int):
    env = {**os.environ, **SETTINGS[setting]}
    if code:
        env["PYTHONPATH"] = code + os.pathsep + env.get("PYTHONPATH", "")
    env["PLASTIX_COMPILATION_CACHE"] = "off"  # every run compiles, as the first one would
    argv = ["train", "sac", "--env", "Pendulum-v1", "--steps", "6000", "--seeds", "2"]
    argv += ["--out", str(out), "--no-progress"]
    cores = sorted(os.sched_getaffinity(0))
    pin = ["taskset", "-c", str(cores[index % len(cores)])] if setting == "one-core" else []
    return subprocess.Popen(
        [*pin, python, "-c", PRELUDE, *argv], env=env, stdout=log, stderr=subprocess.STDOUT
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def jax_version(python: str, code: str | None) -> str:
    env = {**os.environ, **({"PYTHONPATH": code} if code else {})}
    return subprocess.run(
        [python, "-c", "import jax, sys; print(jax.__version__, sys.version.split()[0])"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=SETTINGS, required=True)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--code", default=None, help="a plastix checkout to run instead")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--stall", type=float, default=60.0)
    parser.add_argument("--label", default="", help="a note for the table row")
    args = parser.parse_args()
    version = jax_version(args.python, args.code)
    work = Path(tempfile.mkdtemp(prefix="hang-study-"))
    print(f"{args.setting} on jax/python {version}; logs in {work}", flush=True)
    pending, running, ended, hung = list(range(args.runs)), {}, [], []
    while pending or running:
        while pending and len(running) < args.parallel:
            i = pending.pop(0)
            log = open(work / f"run{i}.log", "w")  # noqa: SIM115 (closed when the run ends)
            proc = start(args.python, args.setting, args.code, work / f"run{i}", log, i)
            running[i] = (proc, time.perf_counter(), log, [0.0, time.perf_counter()])
        time.sleep(1.0)
        for i, (proc, began, log, busy) in list(running.items()):
            now = time.perf_counter()
            seconds = now - began
            used = cpu_seconds(proc.pid)
            if used > busy[0] + 0.5:  # [CPU seconds, when they last grew]
                busy[:] = [used, now]
            if proc.poll() is not None:
                (ended if proc.returncode == 0 else hung).append((i, seconds, proc.returncode))
            elif seconds > args.timeout or now - busy[1] > args.stall:
                proc.send_signal(signal.SIGUSR1)  # the stacks, into the log
                time.sleep(2.0)
                proc.kill()
                proc.wait()
                hung.append((i, seconds, "hung"))
            else:
                continue
            log.close()
            del running[i]
            print(f"run {i}: {hung[-1][2] if hung and hung[-1][0] == i else 'ok'} "
                  f"after {seconds:.0f} s", flush=True)  # fmt: skip
    failed = [h for h in hung if h[2] != "hung"]
    median = statistics.median(s for _, s, _ in ended) if ended else float("nan")
    row = (
        f"| {args.setting} | {version} | {args.runs} | {len(hung) - len(failed)} | "
        f"{len(failed)} | {median:.0f} | {args.parallel} | {args.label} |"
    )
    print(row)
    table = HERE / "results" / "hang-study.md"
    if not table.exists():
        table.write_text(
            "| setting | jax, python | runs | hung | failed | median s (ended) | at once | note |\n"
            "|---|---|---|---|---|---|---|---|\n"
        )
    with table.open("a") as f:
        f.write(row + "\n")


if __name__ == "__main__":
    main()
