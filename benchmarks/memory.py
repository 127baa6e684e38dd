"""Memory without and with backpropagation through time: memory-free PPO, PPO with a GRU
(truncated BPTT) and S2PG (a stochastic internal state) on partially observed tasks.

    python benchmarks/memory.py [--steps 100000] [--seeds 5]

Part 1 trains each agent on ``pomdp:CartPole-v1`` (velocities hidden) and
``pomdp:CueRoom-9x9`` (the goal shown only at the first step) with the same budget and
seeds. It reports the final evaluation return (IQM and mean with 95% stratified-bootstrap
intervals) and the environment steps until the evaluation return of a seed first reaches the
target. The targets were fixed before any run: 200 on CartPole and 0.5 on CueRoom, where no
memory-free policy can score more than 0.1375. Part 2 is the paper's time claim. It measures
the wall time per gradient update of PPO with a GRU as the BPTT length grows (with the same
batch: 4 copies × 128 steps, 4 minibatches, one seed), beside S2PG and memory-free PPO,
which need no BPTT. Every agent keeps PPO's defaults apart from what is named.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

import plastix
from plastix.analysis.stats import interval

AGENTS = ("ppo", "ppo-gru", "ppo-s2pg")
TASKS = {"pomdp:CartPole-v1": 200.0, "pomdp:CueRoom-9x9": 0.5}
BPTT = (8, 32, 128)
COMMAND = "python benchmarks/memory.py"


def learning(steps: int, seeds: int) -> list[tuple]:
    rows = []
    for env, target in TASKS.items():
        for agent in AGENTS:
            result = plastix.train(
                agent, env, steps=steps, seeds=seeds, eval_every=steps // 20, progress=False
            )
            curves = result.eval_returns()
            finals = curves.iloc[-1].to_numpy()
            reached = [
                int(curves.index[np.argmax(curves[s].to_numpy() >= target)])
                if (curves[s].to_numpy() >= target).any()
                else None
                for s in curves.columns
            ]
            rows.append((env, agent, finals, reached, result.summary["train_seconds"]))
    return rows


def timing(steps: int) -> list[tuple]:
    runs = [("ppo", {}), ("ppo-s2pg", {})] + [("ppo-gru", {"bptt": b}) for b in BPTT]
    rows = []
    for agent, options in runs:
        result = plastix.train(
            agent, "pomdp:CartPole-v1", steps=steps, eval_every=steps, progress=False, **options
        )
        s = result.summary
        config = result.agent.config
        updates = s["iterations"] * config.epochs * config.minibatches
        rows.append((agent, options.get("bptt"), 1000 * s["train_seconds"] / updates))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--timing-steps", type=int, default=51_200)
    args = parser.parse_args()
    learned = [("task (target)", "agent", "IQM [95% CI]", "mean [95% CI]", "steps to target")]
    for env, agent, finals, reached, _ in learning(args.steps, args.seeds):
        hits = [r for r in reached if r is not None]
        to_target = f"{len(hits)}/{len(reached)} seeds"
        if hits:
            to_target += f", median {int(np.median(hits)):,}"
        iqm, mean = interval(finals, "iqm"), interval(finals, "mean")
        learned.append((f"{env} ({TASKS[env]:g})", agent, str(iqm), str(mean), to_target))
    timed = [("agent", "BPTT length", "ms per update")]
    for agent, bptt, ms in timing(args.timing_steps):
        timed.append((agent, "-" if bptt is None else str(bptt), f"{ms:.2f}"))
    console = Console()
    sections = [
        (f"Final evaluation return, {args.steps:,} steps, {args.seeds} seeds", learned),
        (
            "Training wall time per gradient update, roll-out included (pomdp:CartPole-v1, "
            f"4 copies × 128 steps, 4 minibatches, {args.timing_steps:,} steps, 1 seed)",
            timed,
        ),
    ]
    lines = ["# Memory: memory-free PPO, PPO with a GRU, S2PG", "", f"`{COMMAND}`", ""]
    for title, rows in sections:
        table = Table(title=title)
        for column in rows[0]:
            table.add_column(column)
        for row in rows[1:]:
            table.add_row(*row)
        console.print(table)
        lines += [f"## {title}", "", "| " + " | ".join(rows[0]) + " |"]
        lines += ["|" + "---|" * len(rows[0])] + ["| " + " | ".join(r) + " |" for r in rows[1:]]
        lines.append("")
    out = Path(__file__).parent / "results" / "memory.md"
    out.write_text("\n".join(lines))
    console.print(f"written to {out}")


if __name__ == "__main__":
    main()
