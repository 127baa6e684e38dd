"""Environment steps per second of plastix and rejax, side by side, same settings.

    python -m venv .venv-rejax && .venv-rejax/bin/pip install "rejax==0.1.3" "gymnax<1"
    python benchmarks/speed.py --rejax-python .venv-rejax/bin/python

rejax 0.1.3 expects gymnax's pre-1.0 five-value ``step``, so it lives in its own environment
and runs as a subprocess (benchmarks/rejax_speed.py); this script runs both, one after the
other, and prints one table. Both sides use the same environment, network (64-64 ReLU),
batch size 256, buffer 131072, 256 warm-up steps (so nearly every measured step includes an
update), Adam 3e-4, no gradient clipping, one environment, replay ratio 1 (one update per step)
and, for DQN, double Q-learning with a Polyak target (0.99 every update) and the squared loss.
Timings exclude compilation and evaluation; compile time is reported beside them.

rejax draws each batch with ``jax.random.choice(..., replace=False, p=mask)`` over the whole
buffer, so each of its updates costs O(buffer) whatever the batch size; plastix draws with
``randint`` and gathers, O(batch). A rejax case that does not finish within ``--timeout``
seconds is reported as unfinished, with the rate bound that implies.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

from rich.console import Console
from rich.table import Table

import plastix

WARMUP = 256  # steps of random actions before updates start, the same on both sides
# rejax runs ceil(eval_freq / num_envs) iterations per evaluation block, so eval_freq is set to
# the run length in rejax_speed (one block; its evaluation callback is replaced by a no-op).
COMMON_REJAX = dict(
    skip_initial_evaluation=True,
    num_envs=1,
    num_epochs=1,
    learning_rate=3e-4,
    batch_size=256,
    buffer_size=131_072,
    fill_buffer=WARMUP,
)
COMMON_PLASTIX = dict(
    learning_rate=3e-4,
    batch_size=256,
    buffer_size=131_072,
    learning_starts=WARMUP,
    hidden_sizes=(64, 64),
    max_grad_norm=float("inf"),
)

CASES = {
    "dqn": dict(
        env="CartPole-v1",
        rejax=dict(
            algo="dqn",
            agent_kwargs={"activation": "relu"},
            polyak=0.99,
            target_update_freq=1,
            ddqn=True,
        ),
        plastix=dict(tau=0.01, target_update_interval=1, double_dqn=True, huber_delta=float("inf")),
    ),
    "sac": dict(
        env="Pendulum-v1",
        rejax=dict(algo="sac", polyak=0.995),
        plastix=dict(tau=0.005, log_std_min=-10.0),
    ),
}


def plastix_speed(agent, steps, seeds):
    case = CASES[agent]
    result = plastix.train(
        agent,
        case["env"],
        steps=steps,
        seeds=seeds,
        eval_every=steps,
        log_every=steps,
        eval_episodes=1,
        progress=False,
        **COMMON_PLASTIX,
        **case["plastix"],
    )
    return result.summary["steps_per_second"], result.summary["compile_seconds"]


def rejax_speed(python, agent, steps, seeds, timeout):
    """``(steps/s, compile s)``, or ``(None, None)`` if it ran past ``timeout`` seconds."""
    case = CASES[agent]
    spec = dict(
        COMMON_REJAX,
        env=case["env"],
        total_timesteps=steps,
        eval_freq=steps,
        seeds=seeds,
        **case["rejax"],
    )
    command = [python, str(Path(__file__).with_name("rejax_speed.py")), json.dumps(spec)]
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, None
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["steps_per_second"], result["compile_seconds"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rejax-python", default=".venv-rejax/bin/python")
    parser.add_argument("--dqn-steps", type=int, default=20_000)
    parser.add_argument("--sac-steps", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 8, 32])
    parser.add_argument("--scaling-steps", type=int, default=5_000)
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds a rejax case may take before it is reported unfinished",
    )
    parser.add_argument("--out", default="benchmarks/results/speed.md")
    args = parser.parse_args()

    rows = []
    for agent, steps in (("dqn", args.dqn_steps), ("sac", args.sac_steps)):
        p_sps, p_compile = plastix_speed(agent, steps, 1)
        r_sps, r_compile = rejax_speed(args.rejax_python, agent, steps, 1, args.timeout)
        rows.append(
            (
                f"{agent} {CASES[agent]['env']}, 1 seed, {steps:,} steps",
                steps,
                1,
                p_sps,
                r_sps,
                p_compile,
                r_compile,
            )
        )
    for seeds in args.seeds:
        p_sps, p_compile = plastix_speed("dqn", args.scaling_steps, seeds)
        r_sps, r_compile = rejax_speed(
            args.rejax_python, "dqn", args.scaling_steps, seeds, args.timeout
        )
        name = (
            f"dqn CartPole-v1, {seeds} vmapped seeds, {args.scaling_steps:,} steps (total steps/s)"
        )
        rows.append((name, args.scaling_steps, seeds, p_sps, r_sps, p_compile, r_compile))

    table = Table(title="environment steps per second after compilation (replay ratio 1)")
    columns = (
        "case",
        "plastix steps/s",
        "rejax steps/s",
        "plastix / rejax",
        "plastix compile s",
        "rejax compile s",
    )
    for column in columns:
        table.add_column(column)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for name, steps, seeds, p_sps, r_sps, p_compile, r_compile in rows:
        if r_sps is None:  # rejax did not finish: its rate is below steps / timeout
            bound = steps * seeds / args.timeout
            cells = (
                name,
                f"{p_sps:,.0f}",
                f"< {bound:,.0f} (unfinished in {args.timeout:.0f} s)",
                f"> {p_sps / bound:.0f}x",
                f"{p_compile:.1f}",
                "-",
            )
        else:
            cells = (
                name,
                f"{p_sps:,.0f}",
                f"{r_sps:,.0f}",
                f"{p_sps / r_sps:.1f}x",
                f"{p_compile:.1f}",
                f"{r_compile:.1f}",
            )
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    Console().print(table)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        "# Speed: plastix vs rejax 0.1.3\n\nMade by `python "
        "benchmarks/speed.py` on a 2-core CPU.\n\n" + "\n".join(lines) + "\n"
    )


if __name__ == "__main__":
    main()
