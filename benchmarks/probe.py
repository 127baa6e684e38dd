"""Every built-in cure on the supervised plasticity probes: does the error on late tasks exceed
that on early ones (loss of plasticity), and which cure keeps it down?

    python benchmarks/probe.py [--seeds 5]

Settings fixed before any run. ``bitflip`` at the paper's scale (Dohare et al. 2024:
slowly-changing regression, 20 bits, 15 held, a flip every 10,000 examples, a 5-unit ReLU
learner, Adam; here step size 0.003 from the paper's grid and 100 tasks = 1M examples);
``digits``: 30 permutations × 2,000 updates of 16 images, a 64-64 ReLU learner, Adam 0.003.
Each cure at the setting of ``benchmarks/cures.py``; continual backprop as the paper's
generate-and-test after every update (ρ = 1e-4, maturity 100). Reported per cure: the mean
online metric over the first and the last 10 tasks, mean over seeds with the range.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cures import CURES as ALL_CURES  # benchmarks/cures.py, beside this script
from rich.console import Console

from plastix.plasticity.config import PlasticityConfig
from plastix.plasticity.interventions import CBPConfig
from plastix.probe import ProbeConfig, run_probe

# the cures built into every update, and continual backprop's generate-and-test after every
# update at the paper's supervised setting (ρ = 1e-4, maturity 100)
CURES = dict(
    {name: cure for name, cure in ALL_CURES.items() if name != "cbp"},
    cbp=PlasticityConfig(cbp=CBPConfig(every=1, replacement_rate=1e-4, maturity=100)),
)

PROBLEMS = {
    "bitflip": dict(problem="bitflip", tasks=100, task_steps=10_000, hidden_sizes=(5,)),
    "digits": dict(
        problem="digits", tasks=30, task_steps=2_000, hidden_sizes=(64, 64), batch_size=16
    ),
}


def cell(values) -> str:
    return f"{values.mean():.3f} [{values.min():.3f}, {values.max():.3f}]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--problems", nargs="*", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--cures", nargs="*", default=list(CURES), choices=list(CURES))
    parser.add_argument("--out", default="benchmarks/results/probe.md")
    args = parser.parse_args()
    console = Console()
    lines = []
    for name in args.problems:
        config = ProbeConfig(seeds=args.seeds, learning_rate=0.003, **PROBLEMS[name])
        lines += [
            f"## {name}: {config.tasks} tasks × {config.task_steps:,} updates, "
            f"hidden {config.hidden_sizes}, {args.seeds} seeds",
            "",
            "| cure | first 10 tasks | last 10 tasks | last − first | FAU (last) | dormant (last) "
            "|",
            "|---|---|---|---|---|---|",
        ]
        for cure in args.cures:
            plasticity = CURES[cure]
            result = run_probe(config, plasticity)
            first = result.per_task[:, :10].mean(axis=1)
            last = result.per_task[:, -10:].mean(axis=1)
            fau = result.diagnostics["fraction_active_units"][:, -1]
            dormant = result.diagnostics["dormant_ratio"][:, -1]
            row = [cure, cell(first), cell(last), cell(last - first), cell(fau), cell(dormant)]
            lines.append("| " + " | ".join(row) + " |")
            console.print(name, " ".join(row))
        lines.append("")
    metric = "squared error for bitflip (lower is better), accuracy for digits (higher is better)"
    header = (
        "# Cures on the supervised plasticity probes\n\n"
        f"`python benchmarks/probe.py --seeds {args.seeds}` on a 2-core CPU. The metric is the "
        f"online {metric}, mean over each task; cells are the mean over seeds [min, max].\n\n"
    )
    out = Path(args.out)
    out.write_text(header + "\n".join(lines))
    console.print(f"written to {out}")


if __name__ == "__main__":
    main()
