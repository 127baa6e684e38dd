"""What each cure costs in training time, on every agent, against the same run without it.

    python benchmarks/cures.py [--seeds 3] [--cases dqn ppo sac reinforce]

Each cure at the setting its authors (or Plasticine) use, fixed before any run: L2 λ = 1e-3,
L2-init λ = 1e-2, Parseval λ = 1e-3 (s = 2), weight clipping κ = 3, CReLU, Fourier features,
NaP, TRAC (s_prior 1e-8), continual backprop every 100 updates (ρ = 1e-4, maturity 10,000:
at these budgets it measures utility but replaces almost nothing, so its cost is the
measurement). The time is the training loop after compilation
(``loop_seconds``: compiled chunks, evaluation, logging), so compilation is apart; the cost is
that time over the same run without a cure, minus one. The final evaluation return (mean over
seeds) is printed beside it for orientation only: these are single, stationary tasks at a short
budget, not the continual scenarios where the cures are meant to matter.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

import plastix
from plastix.plasticity.config import PlasticityConfig
from plastix.plasticity.interventions import (
    CBPConfig,
    CReLUConfig,
    FourierConfig,
    L2Config,
    L2InitConfig,
    NaPConfig,
    ParsevalConfig,
    TRACConfig,
    WeightClipConfig,
)

CURES = {
    "none": PlasticityConfig(),
    "l2": PlasticityConfig(l2=L2Config(coef=1e-3)),
    "l2_init": PlasticityConfig(l2_init=L2InitConfig(coef=1e-2)),
    "parseval": PlasticityConfig(parseval=ParsevalConfig(coef=1e-3)),
    "weight_clip": PlasticityConfig(weight_clip=WeightClipConfig(kappa=3.0)),
    "crelu": PlasticityConfig(crelu=CReLUConfig(on=True)),
    "fourier": PlasticityConfig(fourier=FourierConfig(on=True)),
    "nap": PlasticityConfig(nap=NaPConfig(on=True)),
    "trac": PlasticityConfig(trac=TRACConfig(on=True)),
    "cbp": PlasticityConfig(cbp=CBPConfig(every=100)),
}

CASES = {
    "dqn": dict(agent="dqn", env="CartPole-v1", steps=10_000, options={"hidden_sizes": (64, 64)}),
    "sac": dict(agent="sac", env="Pendulum-v1", steps=3_000, options={"hidden_sizes": (64, 64)}),
    "ppo": dict(agent="ppo", env="CartPole-v1", steps=50_000, options={}),
    "reinforce": dict(agent="reinforce", env="CartPole-v1", steps=50_000, options={}),
}


def run(case: dict, cure: PlasticityConfig, seeds: int):
    result = plastix.train(
        case["agent"],
        case["env"],
        steps=case["steps"],
        seeds=seeds,
        eval_every=case["steps"],
        eval_episodes=10,
        log_every=case["steps"] // 10,
        plasticity=cure,
        progress=False,
        **case["options"],
    )
    # the last evaluation of each seed (iterations of whole episodes end at different steps)
    final = result.eval_returns().ffill().iloc[-1].to_numpy()
    return result.summary["loop_seconds"], float(np.mean(final))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--out", default="benchmarks/results/cures-cost.md")
    args = parser.parse_args()

    columns = ("agent", "environment", "steps", "cure", "loop (s)", "cost", "final return")
    table = Table(title=f"training time of each cure ({args.seeds} seeds vmapped)")
    for column in columns:
        table.add_column(column)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    console = Console()
    for name in args.cases:
        case = CASES[name]
        base = None
        for cure, plasticity in CURES.items():
            seconds, final = run(case, plasticity, args.seeds)
            base = seconds if cure == "none" else base
            cost = "–" if cure == "none" else f"{100 * (seconds / base - 1):+.0f}%"
            row = (
                name,
                case["env"],
                f"{case['steps']:,}",
                cure,
                f"{seconds:.1f}",
                cost,
                f"{final:.1f}",
            )
            table.add_row(*row)
            lines.append("| " + " | ".join(row) + " |")
            console.print(" ".join(row))
    console.print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Training-time cost of each cure\n\n"
        f"`python benchmarks/cures.py --seeds {args.seeds}` on a 2-core CPU. The loop time "
        "excludes compilation; the cost is relative to the same run without a cure. The final "
        "return is the mean over seeds of the last evaluation (10 episodes), for orientation "
        "only: single stationary tasks at a short budget, not the continual scenarios the cures "
        "are for.\n\n"
    )
    out.write_text(header + "\n".join(lines) + "\n")
    console.print(f"written to {out}")


if __name__ == "__main__":
    main()
