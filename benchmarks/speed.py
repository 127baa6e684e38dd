"""Environment steps per second and compile time of plastix and its peers, side by side.

    python benchmarks/speed.py --purejaxrl-python .venv-pjrl/bin/python --purejaxrl PATH \\
        --rejax-python .venv-rejax/bin/python --sb3-python .venv-sb3/bin/python

Each peer lives in its own environment and runs as a subprocess (``*_speed.py`` beside this
file; each one's docstring names what to install): PureJaxRL (a checkout of its scripts:
DQN and PPO), rejax 0.1.3 (DQN and SAC; it needs gymnax < 1), Stable-Baselines3 (PyTorch) and
SBX (JAX) (DQN and SAC, stepping Gymnasium on the host). A peer whose interpreter is not given
(or not found) is left out of the table. The cases are run one after the other, in two
rounds in alternating order, and each cell is the faster of its two rounds.

Every side uses the same environment, network (64-64, ReLU for DQN and SAC, tanh for PPO),
batch 256, buffer 131,072, 256 warm-up steps, Adam 3e-4, no gradient clipping, one
environment, replay ratio 1 (one update per step), and a Polyak target (DQN: 0.01 every
update, plain DQN, squared loss on the JAX sides; SB3's DQN has its Huber loss fixed; SAC:
0.005). PPO is PureJaxRL's CartPole setting (4 environments × 128 steps, 4 epochs of 4
minibatches), which is also plastix's default. plastix runs without plasticity diagnostics
and evaluates once, at the end, as the peers compute neither; its steps/s excludes the
evaluation, every side's excludes compilation, and compile time (tracing, lowering and XLA's
compilation of every program the run needs; the persistent cache off) is reported apart.

The compute floor is the bare update: plastix's jitted update of the same network on one
fixed batch, ``updates`` of them in one compiled scan with nothing else (no environment, no
sampling, no logging), timed alone. At replay ratio 1 no loop can step faster than it.

rejax draws each batch with ``jax.random.choice(..., replace=False, p=mask)`` over the whole
buffer, so each of its updates costs O(buffer) whatever the batch size; plastix draws with
``randint`` and gathers, O(batch). A case that does not finish within ``--timeout`` seconds
is reported as unfinished, with the rate bound that implies.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WARMUP = 256  # steps of random actions before updates start, the same on every side
COMMON = dict(learning_rate=3e-4, batch_size=256, buffer_size=131_072, hidden=(64, 64))
PPO_PJRL = dict(
    LR=2.5e-3, NUM_ENVS=4, NUM_STEPS=128, UPDATE_EPOCHS=4, NUM_MINIBATCHES=4, GAMMA=0.99,
    GAE_LAMBDA=0.95, CLIP_EPS=0.2, ENT_COEF=0.01, VF_COEF=0.5, MAX_GRAD_NORM=0.5,
    ACTIVATION="tanh", ENV_NAME="CartPole-v1", ANNEAL_LR=True, DEBUG=False,
)  # fmt: skip
# rejax runs ceil(eval_freq / num_envs) iterations per evaluation block, so eval_freq is set to
# the run length in rejax_speed (one block; its evaluation callback is replaced by a no-op).
REJAX = dict(
    skip_initial_evaluation=True,
    num_envs=1,
    num_epochs=1,
    learning_rate=3e-4,
    batch_size=256,
    buffer_size=131_072,
    fill_buffer=WARMUP,
)
CASES = {
    "dqn": dict(
        env="CartPole-v1",
        plastix=dict(
            tau=0.01, target_update_interval=1, double_dqn=False, huber_delta=float("inf")
        ),
        rejax=dict(
            algo="dqn",
            agent_kwargs={"activation": "relu"},
            polyak=0.99,
            target_update_freq=1,
            ddqn=False,
        ),
        sb3=dict(algo="dqn", tau=0.01),
    ),
    "sac": dict(
        env="Pendulum-v1",
        plastix=dict(tau=0.005, log_std_min=-10.0),
        rejax=dict(algo="sac", polyak=0.995),
        sb3=dict(algo="sac", tau=0.005),
    ),
    "ppo": dict(env="CartPole-v1"),
}


def plastix_config(agent):
    import plastix

    if agent == "ppo":
        return plastix.algorithms.get("ppo").Config()  # PureJaxRL's CartPole setting
    config = dict(
        learning_rate=3e-4,
        batch_size=256,
        buffer_size=131_072,
        learning_starts=WARMUP,
        hidden_sizes=(64, 64),
        max_grad_norm=float("inf"),
        **CASES[agent]["plastix"],
    )
    return plastix.algorithms.get(agent).Config(**config)


def plastix_speed(agent, steps, seeds):
    import plastix

    result = plastix.train(
        agent,
        CASES[agent]["env"],
        config=plastix_config(agent),
        steps=steps,
        seeds=seeds,
        eval_every=steps,
        log_every=steps,
        eval_episodes=1,
        progress=False,
        diagnostics=plastix.DiagnosticsConfig(every=None),
    )
    return result.summary["steps_per_second"], result.summary["compile_seconds"]


def floor_speed(agent, updates=2_000):
    """Updates per second of the bare jitted update on one fixed batch (see the docstring)."""
    import jax

    import plastix

    run = plastix.RunConfig(env=CASES[agent]["env"], steps=WARMUP + 64, seeds=1)
    runner = plastix.api.prepare(agent, plastix_config(agent), run, progress=False)
    learner = runner.program.learner
    key = jax.random.key(0)
    state = jax.jit(learner.init)(key)
    state, *_ = jax.jit(learner.chunk, static_argnums=1)(state, WARMUP + 64)
    batch = jax.jit(learner.sample)(state.buffer, key)

    def many(agent_state, keys):
        step = lambda a, k: (learner.agent.update(a, batch, k, WARMUP)[0], None)  # noqa: E731
        return jax.lax.scan(step, agent_state, keys)[0]

    keys = jax.random.split(key, updates)
    compiled = jax.jit(many).lower(state.agent, keys).compile()
    jax.block_until_ready(compiled(state.agent, keys))  # a first call warms up
    start = time.perf_counter()
    jax.block_until_ready(compiled(state.agent, keys))
    return updates / (time.perf_counter() - start), None


def peer(python, script, spec, timeout):
    """``(steps/s, compile s)`` of a peer's script, or ``(None, None)`` past ``timeout``."""
    command = [python, str(HERE / script), json.dumps(spec)]
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, None
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["steps_per_second"], result["compile_seconds"]


def purejaxrl_spec(agent, steps, seeds, path):
    if agent == "ppo":
        return dict(PPO_PJRL, purejaxrl=path, algo="ppo", TOTAL_TIMESTEPS=steps, seeds=seeds)
    return dict(
        purejaxrl=path, algo="dqn", hidden=COMMON["hidden"], seeds=seeds, NUM_ENVS=1,
        BUFFER_SIZE=COMMON["buffer_size"], BUFFER_BATCH_SIZE=COMMON["batch_size"],
        TOTAL_TIMESTEPS=steps, EPSILON_START=1.0, EPSILON_FINISH=0.05,
        EPSILON_ANNEAL_TIME=steps // 2, TARGET_UPDATE_INTERVAL=1, LR=COMMON["learning_rate"],
        LEARNING_STARTS=WARMUP, TRAINING_INTERVAL=1, GAMMA=0.99, TAU=0.01,
        ENV_NAME=CASES[agent]["env"],
    )  # fmt: skip


def sides(args):
    """``{side: fn(agent, steps, seeds) -> (steps/s, compile s)}`` for the sides available."""
    timeout = args.timeout
    found = lambda p: p and Path(p).exists()  # noqa: E731
    out = {
        "plastix": plastix_speed,
        "floor": lambda agent, steps, seeds: floor_speed(agent),
    }
    if found(args.purejaxrl_python) and args.purejaxrl:
        out["PureJaxRL"] = lambda agent, steps, seeds: peer(
            args.purejaxrl_python,
            "purejaxrl_speed.py",
            purejaxrl_spec(agent, steps, seeds, args.purejaxrl),
            timeout,
        )
    if found(args.rejax_python):
        out["rejax"] = lambda agent, steps, seeds: peer(
            args.rejax_python,
            "rejax_speed.py",
            dict(
                REJAX,
                env=CASES[agent]["env"],
                total_timesteps=steps,
                eval_freq=steps,
                seeds=seeds,
                **CASES[agent]["rejax"],
            ),
            timeout,
        )
    if found(args.sb3_python):
        for library, name in (("sb3", "SB3"), ("sbx", "SBX")):
            spec = lambda agent, steps, library=library: dict(  # noqa: E731
                COMMON,
                library=library,
                env=CASES[agent]["env"],
                steps=steps,
                learning_starts=WARMUP,
                **CASES[agent]["sb3"],
            )
            out[name] = lambda agent, steps, seeds, spec=spec: peer(
                args.sb3_python, "sb3_speed.py", spec(agent, steps), timeout
            )
    return out


# (case name, agent, steps, seeds, sides that implement it)
def cases(args):
    return [
        ("DQN CartPole-v1, 1 seed", "dqn", args.dqn_steps, 1,
         ("plastix", "floor", "PureJaxRL", "rejax", "SB3", "SBX")),
        ("SAC Pendulum-v1, 1 seed", "sac", args.sac_steps, 1,
         ("plastix", "floor", "rejax", "SB3", "SBX")),
        ("PPO CartPole-v1, 1 seed, 4 envs", "ppo", args.ppo_steps, 1, ("plastix", "PureJaxRL")),
        (f"DQN CartPole-v1, {args.seeds} vmapped seeds (total steps/s)", "dqn",
         args.scaling_steps, args.seeds, ("plastix", "PureJaxRL", "rejax")),
    ]  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--purejaxrl-python", default=".venv-pjrl/bin/python")
    parser.add_argument("--purejaxrl", help="a checkout of github.com/luchris429/purejaxrl")
    parser.add_argument("--rejax-python", default=".venv-rejax/bin/python")
    parser.add_argument("--sb3-python", default=".venv-sb3/bin/python")
    parser.add_argument("--dqn-steps", type=int, default=20_000)
    parser.add_argument("--sac-steps", type=int, default=10_000)
    parser.add_argument("--ppo-steps", type=int, default=100_352)  # 49 × 4 × 512
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--scaling-steps", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds a peer's case may take"
    )
    parser.add_argument("--out", default=str(HERE / "results" / "speed.md"))
    args = parser.parse_args()
    os.environ["PLASTIX_COMPILATION_CACHE"] = "off"  # compile time means compiling
    available = sides(args)
    results = {}  # (case, side) -> [(steps/s, compile s), ...]
    for r in range(args.rounds):
        order = [(c, s) for c in cases(args) for s in c[4] if s in available]
        for (name, agent, steps, seeds, _), side in order[:: 1 if r % 2 == 0 else -1]:
            print(f"round {r + 1}: {name}: {side}", flush=True)
            results.setdefault((name, side), []).append(available[side](agent, steps, seeds))
    text = table(args, results, [s for s in available if s != "floor"])
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


def best(runs):
    done = [r for r in runs if r[0] is not None]
    if not done:
        return None, None
    rate = max(r[0] for r in done)
    compiles = [r[1] for r in done if r[1] is not None]
    return rate, (min(compiles) if compiles else None)


def table(args, results, peers) -> str:
    others = [p for p in peers if p != "plastix"]
    head = ["case", "plastix steps/s", "floor", "plastix ÷ floor"]
    head += [f"{p} steps/s" for p in others] + [f"plastix ÷ {p}" for p in others]
    compiled = ["plastix"] + [p for p in others if p in ("PureJaxRL", "rejax")]
    head += ["compile s: " + " / ".join(compiled)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, _, steps, seeds, implemented in cases(args):
        mine, mine_compile = best(results.get((name, "plastix"), []))
        floor, _ = best(results.get((name, "floor"), []))
        cells = [f"{name}, {steps:,} steps", f"{mine:,.0f}"]
        cells += [f"{floor:,.0f}", f"{mine / floor:.2f}"] if floor else ["–", "–"]
        rates, ratios, compiles = [], [], [f"{mine_compile:.1f}"]
        for p in others:
            runs = results.get((name, p))
            rate, compile_s = best(runs or [])
            if p not in implemented:
                rates.append("–")
                ratios.append("–")
            elif rate is None:  # ran past the timeout: below steps / timeout
                bound = steps * seeds / args.timeout
                rates.append(f"< {bound:,.0f} (unfinished)")
                ratios.append(f"> {mine / bound:.0f}")
            else:
                rates.append(f"{rate:,.0f}")
                ratios.append(f"{mine / rate:.2f}")
            if p in ("PureJaxRL", "rejax"):
                compiles.append("–" if compile_s is None else f"{compile_s:.1f}")
        lines.append("| " + " | ".join(cells + rates + ratios + [" / ".join(compiles)]) + " |")
    return (
        "# Speed: plastix and its peers\n\nMade by `python benchmarks/speed.py` (settings in its "
        f"docstring), best of {args.rounds} alternating rounds.\n\n" + "\n".join(lines) + "\n"
    )


if __name__ == "__main__":
    main()
