"""Where a run's compilation goes, program by program, and what a rerun costs with the cache.

    python benchmarks/compile_time.py [--core N]

Each case (the settings of benchmarks/speed.py: DQN CartPole-v1 at replay ratio 1, SAC
Pendulum-v1, PPO CartPole-v1 with 4 environments; plastix's default diagnostics on) runs
twice in new processes sharing a new persistent-cache folder: the first compiles everything,
the second is the identical rerun. JAX's own monitoring events give every program's tracing,
lowering (jaxpr to StableHLO) and XLA compilation seconds; programs under 0.1 s (the eager
operations of setting up) are summed in one row. The rerun's column is the time each program
still takes, loaded from the cache: tracing and lowering are not cached by JAX, only XLA's
compilation. Writes ``benchmarks/results/compile-time.md``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "compile",
}
CHILD = """
import collections, json, sys
import jax.monitoring
sys.path.insert(0, {here!r})
seconds = collections.defaultdict(lambda: collections.defaultdict(float))
events = {events!r}

def listen(event, duration, fun_name="?", **_):
    if event in events:
        name = fun_name[4:-1] if fun_name.startswith("jit(") else fun_name
        seconds[name][events[event]] += duration

jax.monitoring.register_event_duration_secs_listener(listen)
import plastix, speed
agent, steps = {agent!r}, {steps}
r = plastix.train(agent, speed.CASES[agent]["env"], config=speed.plastix_config(agent),
                  steps=steps, eval_every=steps, log_every=steps, eval_episodes=1, progress=False)
print(json.dumps(dict(programs=seconds, compile_seconds=r.summary["compile_seconds"],
                      cache=r.summary["compilation_cache"])))
"""
CASES = (("dqn", 20_000), ("sac", 10_000), ("ppo", 100_352))


def child(agent, steps, cache, core):
    code = CHILD.format(here=str(HERE), events=EVENTS, agent=agent, steps=steps)
    prefix = ["taskset", "-c", str(core)] if core is not None else []
    env = dict(os.environ, PLASTIX_COMPILATION_CACHE=str(cache))
    out = subprocess.run(
        prefix + [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def rows(first, second):
    """``(program, trace, lower, compile, rerun total)``, the largest first; small ones summed."""
    small = collections.Counter()
    out = []
    for name, s in first["programs"].items():
        total = sum(s.values())
        rerun = sum(second["programs"].get(name, {}).values())
        if total < 0.1:
            small.update(dict(s, rerun=rerun, n=1))
            continue
        out.append((name, s.get("trace", 0), s.get("lower", 0), s.get("compile", 0), rerun))
    out.sort(key=lambda r: -sum(r[1:4]))
    if small:
        name = f"{small['n']} smaller programs (< 0.1 s each)"
        out.append((name, small["trace"], small["lower"], small["compile"], small["rerun"]))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--core", type=int, default=None, help="pin the runs to this core")
    parser.add_argument("--out", default=str(HERE / "results" / "compile-time.md"))
    args = parser.parse_args()
    lines = [
        "# Where compilation goes",
        "",
        "Made by `python benchmarks/compile_time.py`"
        + (f" on one core (`--core {args.core}`)" if args.core is not None else "")
        + ". Seconds per program: tracing, lowering, XLA compilation, and the same program's "
        "whole cost in an identical rerun that loads it from the persistent cache.",
    ]
    for agent, steps in CASES:
        with tempfile.TemporaryDirectory() as cache:
            first = child(agent, steps, cache, args.core)
            second = child(agent, steps, cache, args.core)
        lines += [
            "",
            f"## {agent} ({steps:,} steps)",
            "",
            f"compile_seconds of the run: {first['compile_seconds']:.1f} the first time, "
            f"{second['compile_seconds']:.1f} the second ({second['cache']['loaded']} "
            f"programs loaded from the cache, {second['cache']['compiled']} compiled).",
            "",
            "| program | trace s | lower s | XLA compile s | rerun s |",
            "|---|---|---|---|---|",
        ]
        for name, trace, lower, compile_s, rerun in rows(first, second):
            lines.append(f"| {name} | {trace:.2f} | {lower:.2f} | {compile_s:.2f} | {rerun:.2f} |")
        print("\n".join(lines), flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
