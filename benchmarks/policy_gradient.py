"""REINFORCE and PPO learning targets on CartPole-v1 (sample efficiency, not speed).

    python benchmarks/policy_gradient.py

- REINFORCE with a learned value baseline: >= 475 within 0.5M steps in >= 8 of 10 seeds;
- PPO: >= 475 within 200k steps in >= 4 of 5 seeds.

"Reaches" means: some evaluation (10 episodes of the deterministic policy, every ~10k steps)
at a step count within the budget has a mean >= 475. Seeds run together (vmapped), defaults
otherwise.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import plastix
from plastix.plasticity.diagnostics import DiagnosticsConfig

RESULTS = Path(__file__).parent / "results"
TARGETS = {
    "reinforce": dict(steps=500_000, seeds=10, need=8, options=dict(baseline="value")),
    "ppo": dict(steps=200_000, seeds=5, need=4, options={}),
}


def main():
    from rich.console import Console
    from rich.table import Table

    out = {}
    table = Table(title="CartPole-v1: first evaluation >= 475 (steps), per seed")
    for column in ("agent", "budget", "reached", "first step per seed", "wall s", "target"):
        table.add_column(column, justify="right")
    for agent, spec in TARGETS.items():
        start = time.perf_counter()
        result = plastix.train(
            agent,
            env="CartPole-v1",
            steps=spec["steps"],
            seeds=spec["seeds"],
            eval_every=10_000,
            eval_episodes=10,
            progress=False,
            diagnostics=DiagnosticsConfig(every=None),
            **spec["options"],
        )
        wall = time.perf_counter() - start
        m = result.metrics
        evals = m[(m.metric == "eval_return") & (m.step <= spec["steps"])]
        first = {
            int(s): int(g[g.value >= 475].step.min()) if (g.value >= 475).any() else None
            for s, g in evals.groupby("seed")
        }
        reached = sum(v is not None for v in first.values())
        ok = reached >= spec["need"]
        out[agent] = dict(
            first_step=first,
            reached=reached,
            seeds=spec["seeds"],
            wall=wall,
            target_met=ok,
            summary=result.summary,
        )
        table.add_row(
            agent,
            f"{spec['steps']:,}",
            f"{reached}/{spec['seeds']}",
            " ".join("-" if v is None else f"{v // 1000}k" for v in first.values()),
            f"{wall:.0f}",
            f">= {spec['need']} {'met' if ok else 'MISSED'}",
        )
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "policy_gradient.json"
    path.write_text(json.dumps(out, indent=1, default=str))
    print(f"written: {path}")


if __name__ == "__main__":
    main()
