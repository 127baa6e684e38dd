"""Every cure on two continual scenarios: how much of each task an agent still learns after
many switches, and what the cure costs.

    python benchmarks/continual.py [--seeds 5] [--scenarios permuted dynamics]

The protocol, fixed before any run: PPO (64-64, learning rate 2.5e-3 held constant, as in
continual learning; 4 copies × 128 steps per roll-out) on CartPole-v1 through two scenarios
of 10 tasks × 20,480 steps each:

- ``permuted``: each task shows the observation through a new fixed permutation;
- ``dynamics``: CartPole as it is, then a longer, heavier pole (length 1.0, mass 0.3), then
  stronger gravity with a weaker push (14.7, force 7.5), then a short pole on a heavy cart
  (length 0.25, cart mass 2.0), cycled.

Cures at one setting each, chosen before any run: the regularisers and optimisers as in
``benchmarks/cures.py``; resets and shrink-and-perturb (α 0.8, σ 0.2) of both networks at
every switch; ReDo (τ 0.1) every 1,000 updates; continual backprop every 16 updates
(replacement rate 1e-4 per update, maturity 1,000 updates, scaled down from the paper's
10,000 to a run of 6,400 updates); LayerNorm in every hidden layer.

Score of a task: the evaluation return at its end (10 episodes, deterministic policy) over
CartPole's maximum of 500, the same on every task, so tasks are comparable. *final*: the mean
score of the last three tasks per seed; *first*: the first task's; *all*: every task's. The
table gives the IQM over seeds with a 95% stratified-bootstrap interval, P(cure > none) on the
final score with its interval, and the training-loop time against none (compilation apart).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from cures import CURES as BUILT_INTO_UPDATES  # benchmarks/cures.py, beside this script
from rich.console import Console
from rich.table import Table

import plastix
from plastix.analysis import stats
from plastix.plasticity.config import (
    PlasticityConfig,
    ReDoConfig,
    ResetConfig,
    ShrinkPerturbConfig,
)
from plastix.plasticity.interventions import CBPConfig

EVERY = 20_480
TASKS = 10
MAX_RETURN = 500.0

SCENARIOS = {
    "permuted": dict(scenario="permuted"),
    "dynamics": dict(
        scenario="dynamics",
        scenario_tasks=(
            "length=1.0,masspole=0.3",
            "gravity=14.7,force_mag=7.5",
            "length=0.25,masscart=2.0",
        ),
    ),
}

PPO = dict(hidden_sizes=(64, 64), anneal_lr=False)

CURES: dict[str, tuple[PlasticityConfig, dict]] = {
    "none": (PlasticityConfig(), {}),
    "layernorm": (PlasticityConfig(), {"layer_norm": True}),
    "reset": (PlasticityConfig(reset=ResetConfig(every=EVERY)), {}),
    "shrink_perturb": (PlasticityConfig(shrink_perturb=ShrinkPerturbConfig(every=EVERY)), {}),
    "redo": (PlasticityConfig(redo=ReDoConfig(every=1000)), {}),
    "cbp": (PlasticityConfig(cbp=CBPConfig(every=16, maturity=1000)), {}),
    # the cures inside every update, at benchmarks/cures.py's settings
    **{
        name: (cure, {}) for name, cure in BUILT_INTO_UPDATES.items() if name not in ("none", "cbp")
    },
}


def run(scenario: dict, cure: str, seeds: int) -> tuple[np.ndarray, float]:
    """``[seeds, tasks]`` normalised task-end returns and the training-loop seconds."""
    plasticity, options = CURES[cure]
    result = plastix.train(
        "ppo",
        "CartPole-v1",
        steps=EVERY * TASKS,
        seeds=seeds,
        switch_every=EVERY,
        eval_every=EVERY,
        eval_episodes=10,
        log_every=EVERY // 4,
        plasticity=plasticity,
        progress=False,
        diagnostics=plastix.DiagnosticsConfig(every=EVERY),
        **scenario,
        **PPO,
        **options,
    )
    ends = np.array([s["task_end_returns"] for s in result.summary["per_seed"]])
    return ends / MAX_RETURN, result.summary["loop_seconds"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--cures", nargs="*", default=list(CURES), choices=CURES)
    parser.add_argument("--out", default="benchmarks/results/continual.md")
    args = parser.parse_args()
    console = Console()
    columns = ("cure", "final (last 3 tasks)", "first task", "all tasks", "P(> none), final")
    columns += ("loop (s)", "cost")
    lines = []
    start = time.perf_counter()
    for name in args.scenarios:
        table = Table(title=f"PPO, CartPole-v1 {name}: {TASKS} tasks × {EVERY:,} steps")
        for column in columns:
            table.add_column(column)
        rows = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        base = None
        for cure in args.cures:
            scores, seconds = run(SCENARIOS[name], cure, args.seeds)
            final = scores[:, -3:].mean(axis=1)
            if cure == "none":
                base = (final, seconds)
            poi = (
                "–"
                if cure == "none" or base is None
                else stats.probability_of_improvement(final, base[0]).format(2)
            )
            cost = (
                "–" if cure == "none" or base is None else f"{100 * (seconds / base[1] - 1):+.0f}%"
            )
            row = (
                cure,
                stats.interval(final).format(2),
                stats.interval(scores[:, 0]).format(2),
                stats.interval(scores.mean(axis=1)).format(2),
                poi,
                f"{seconds:.1f}",
                cost,
            )
            table.add_row(*row)
            rows.append("| " + " | ".join(row) + " |")
            per_task = " ".join(f"{v:.2f}" for v in scores.mean(axis=0))
            console.print(f"{name} {cure}: {' | '.join(row)}; mean per task: {per_task}")
        console.print(table)
        lines += [f"## {name}", "", *rows, ""]
    minutes = (time.perf_counter() - start) / 60
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = __doc__.split("\n\n", 2)[2].strip()
    header = (
        "# Cures on continual scenarios\n\n"
        f"`python benchmarks/continual.py --seeds {args.seeds}` on a 2-core CPU "
        f"({minutes:.0f} minutes).\n\n{doc}\n\n"
    )
    out.write_text(header + "\n".join(lines))
    console.print(f"written to {out}")


if __name__ == "__main__":
    main()
