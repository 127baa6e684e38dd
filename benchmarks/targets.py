"""Learning targets of the core agents, each over several seeds run as one vmapped program.

    python benchmarks/targets.py                 # every target
    python benchmarks/targets.py --only dqn-cartpole sac-pendulum

A target "within N steps" is met by a seed when one of its evaluations (mean of 10 greedy /
deterministic episodes) up to step N reaches the threshold; the final evaluation is reported
beside it. Hyperparameters per environment follow the Stable-Baselines3 zoo (classic control)
and Young & Tian 2019 (MinAtar), at replay ratio 1. Results go to the terminal and to
benchmarks/results/targets.md.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

import plastix


@dataclass
class Target:
    agent: str
    env: str
    steps: int
    threshold: float
    need: int  # seeds that must reach it
    seeds: int = 5
    eval_every: int = 5_000
    options: dict = field(default_factory=dict)
    baseline: str = ""


TARGETS = {
    "dqn-cartpole": Target("dqn", "CartPole-v1", 100_000, 475, 4),
    "dqn-acrobot": Target(
        "dqn",
        "Acrobot-v1",
        100_000,
        -100,
        4,
        options=dict(
            learning_rate=6.3e-4,
            batch_size=128,
            buffer_size=50_000,
            target_update_interval=250,
            exploration_fraction=0.12,
            epsilon_end=0.1,
        ),
    ),
    "sac-pendulum": Target("sac", "Pendulum-v1", 20_000, -200, 4, eval_every=2_000),
    "dqn-breakout": Target(
        "dqn",
        "MinAtar-Breakout",
        500_000,
        float("nan"),
        3,
        seeds=3,
        eval_every=25_000,
        options=dict(
            learning_rate=2.5e-4,
            batch_size=32,
            buffer_size=100_000,
            learning_starts=5_000,
            target_update_interval=1_000,
            exploration_fraction=0.2,
            epsilon_end=0.1,
            hidden_sizes=(128,),
        ),
        baseline="random",
    ),
}


def random_return(env_id: str, episodes: int = 50) -> float:
    """Mean return of a uniformly random policy (the baseline 'clearly above' refers to)."""
    import jax

    env = plastix.make_env(env_id)
    returns = []
    key = jax.random.key(123)
    step = jax.jit(env.step)
    for _ in range(episodes):
        key, k = jax.random.split(key)
        obs, state = env.reset(k)
        total, done = 0.0, False
        while not done:
            key, ka, ks = jax.random.split(key, 3)
            ts, state = step(ks, state, env.action_space.sample(ka))
            total += float(ts.reward)
            done = bool(ts.terminated | ts.truncated)
        returns.append(total)
    return float(np.mean(returns))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--out", default="benchmarks/results/targets.md")
    args = parser.parse_args()
    console = Console()
    table = Table(title="plastix learning targets (replay ratio 1)")
    for column in (
        "target",
        "seeds reaching it",
        "best eval per seed",
        "final eval per seed",
        "met",
        "steps/s (all seeds)",
        "compile s",
        "wall min",
    ):
        table.add_column(column)
    lines = []
    for name in args.only:
        t = TARGETS[name]
        start = time.perf_counter()
        result = plastix.train(
            t.agent,
            t.env,
            steps=t.steps,
            seeds=t.seeds,
            eval_every=t.eval_every,
            out=f"runs/benchmarks/{name}",
            overwrite=True,
            **t.options,
        )
        wall = (time.perf_counter() - start) / 60
        evals = result.eval_returns()
        best = evals.max().to_numpy()
        final = evals.iloc[-1].to_numpy()
        threshold = t.threshold
        label = f"{t.agent} {t.env} >= {threshold:g} within {t.steps:,}"
        if t.baseline == "random":
            rnd = random_return(t.env)
            threshold = max(4 * rnd, rnd + 5)
            label = (
                f"{t.agent} {t.env} clearly above random ({rnd:.2f}): >= {threshold:.1f} "
                f"within {t.steps:,}"
            )
        reached = int((best >= threshold).sum())
        met = "yes" if reached >= t.need else "NO"
        row = (
            label,
            f"{reached}/{t.seeds} (need {t.need})",
            " ".join(f"{b:.1f}" for b in best),
            " ".join(f"{f:.1f}" for f in final),
            met,
            f"{result.summary['steps_per_second']:,.0f}",
            f"{result.summary['compile_seconds']:.1f}",
            f"{wall:.1f}",
        )
        table.add_row(*row)
        lines.append("| " + " | ".join(row) + " |")
        console.print(table)
    header = (
        "| target | seeds reaching it | best eval per seed | final eval per seed | met | "
        "steps/s (all seeds) | compile s | wall min |\n|" + "---|" * 8
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        "# Learning targets\n\nMade by `python benchmarks/targets.py` on a 2-core CPU.\n\n"
        + header
        + "\n"
        + "\n".join(lines)
        + "\n"
    )


if __name__ == "__main__":
    main()
