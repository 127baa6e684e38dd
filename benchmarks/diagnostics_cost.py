"""What logging the plasticity diagnostics costs: training with them at the default interval
against training without them, same runs otherwise.

    python benchmarks/diagnostics_cost.py

The figure is the wall time of the training loop after compilation (``loop_seconds``: the
compiled chunks, evaluation, diagnostics, logging), so everything the diagnostics add is in
it — their own compiled function, the replay batch they draw, the host transfer, and the
shorter chunks their interval may force. The target is a slowdown of at most 10%.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

import plastix
from plastix.plasticity.diagnostics import DiagnosticsConfig

CASES = {
    "dqn CartPole-v1": dict(agent="dqn", env="CartPole-v1", steps=30_000),
    "sac Pendulum-v1": dict(agent="sac", env="Pendulum-v1", steps=10_000),
    "dqn MinAtar-Breakout": dict(agent="dqn", env="MinAtar-Breakout", steps=5_000),
}


def loop_seconds(case: dict, seeds: int, diagnostics: DiagnosticsConfig) -> float:
    result = plastix.train(
        case["agent"],
        case["env"],
        steps=case["steps"],
        seeds=seeds,
        eval_every=case["steps"] // 5,
        eval_episodes=5,
        log_every=case["steps"] // 10,
        diagnostics=diagnostics,
        progress=False,
    )
    return result.summary["loop_seconds"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="best of N, per arm")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--out", default="benchmarks/results/diagnostics-cost.md")
    args = parser.parse_args()

    default = DiagnosticsConfig()
    columns = ("case", "seeds", "without (s)", f"every {default.every:,} steps (s)", "slowdown")
    table = Table(title="training-loop wall time with and without plasticity diagnostics")
    for column in columns:
        table.add_column(column)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for name in args.cases:
        case = CASES[name]
        off = min(
            loop_seconds(case, args.seeds, DiagnosticsConfig(every=None))
            for _ in range(args.repeats)
        )
        on = min(loop_seconds(case, args.seeds, default) for _ in range(args.repeats))
        cells = (name, str(args.seeds), f"{off:.1f}", f"{on:.1f}", f"{100 * (on / off - 1):+.1f}%")
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    Console().print(table)
    Path(args.out).write_text(
        "# Cost of the plasticity diagnostics\n\nMade by `python benchmarks/diagnostics_cost.py` "
        f"on a 2-core CPU (best of {args.repeats} per arm; steps as in the script; default "
        f"networks; every diagnostic: FAU, dormant ratios, ranks, norms, gradient norms).\n\n"
        + "\n".join(lines)
        + "\n"
    )


if __name__ == "__main__":
    main()
