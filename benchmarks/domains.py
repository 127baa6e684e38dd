"""The DeepMind Control and Atari domains on this machine: environment steps per second of the
raw environment beside plastix's adapter and its whole training loop, the updates per second of
the pixel agents, and the peak memory of one seed.

    MUJOCO_GL=egl python benchmarks/domains.py [--steps 2000] [--updates 5]

- **raw**: the library's own environment with the same protocol and random actions
  (``dm_control.suite`` with its action repeat and, for pixels, ``physics.render`` at 84×84;
  Gymnasium's ALE with ``AtariPreprocessing`` and a 4-frame stack).
- **adapter**: the same through ``plastix.envs.host_env`` (what the training loop steps).
- **loop**: ``plastix.train`` with no updates (every step before ``learning_starts``): act,
  step, store, episode bookkeeping — the median rate of its logged chunks after the first.
- **updates/s**: one jitted update of each agent at its paper's batch size on random data,
  compile apart; the CPU rate is what bounds a pixel run here.
- **peak memory**: the peak resident set (VmHWM) of a subprocess that builds one seed's program
  for a 100k-step run (a 100k-transition buffer) and takes 300 environment steps, the last
  few with updates at the agent's own batch size.
- **SAC against Stable-Baselines3** (``--sb3-steps``, needs ``pip install stable-baselines3``):
  both learn ``dmc:cartpole-swingup`` from the same ``DMCEnv`` with the same settings (256-256
  ReLU networks, Adam 3e-4, batch 256, τ 0.005, γ 0.99, one update per step, a learned
  temperature from 1 aiming at −|A|), one seed; steps/s of the learning phase only (after
  ``learning_starts``, plastix's compile excluded), both on the one core plastix pins a
  CPU-only process to.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from rich.console import Console
from rich.table import Table

DOMAINS = {
    "dmc:cartpole-swingup": "sac",
    "dmc-pixels:cartpole-swingup": "drqv2",
    "atari:Pong": "drq-eps",
}


def raw_env(env_id: str):
    """``(reset, step(rng))`` of the library's own environment with plastix's protocol."""
    if env_id.startswith("dmc"):
        from dm_control import suite

        env = suite.load("cartpole", "swingup", task_kwargs={"random": 0})
        spec = env.action_spec()
        pixels = env_id.startswith("dmc-pixels")
        repeat = 2 if pixels else 1

        def step(rng):
            action = rng.uniform(spec.minimum, spec.maximum)
            for _ in range(repeat):
                ts = env.step(action)
            if pixels:
                env.physics.render(84, 84, camera_id=0)
            if ts.last():
                env.reset()

        return env.reset, step
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)
    env = gym.make("ALE/Pong-v5", frameskip=1, repeat_action_probability=0.0)
    env = gym.wrappers.AtariPreprocessing(env, noop_max=30, terminal_on_life_loss=False)
    env = gym.wrappers.FrameStackObservation(env, 4)

    def step(rng):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            env.reset()

    return lambda: env.reset(seed=0), step


def rate(reset, step, steps: int) -> float:
    rng = np.random.default_rng(0)
    reset()
    for _ in range(20):
        step(rng)
    start = time.perf_counter()
    for _ in range(steps):
        step(rng)
    return steps / (time.perf_counter() - start)


def adapter(env_id: str):
    from plastix.envs import host_env

    env = host_env(env_id, 1)
    space = env.action_space
    if not hasattr(space, "n"):  # the bounds as NumPy arrays once (not JAX arrays per step)
        low, high = np.asarray(space.low_array), np.asarray(space.high_array)

    def step(rng):
        if hasattr(space, "n"):
            action = rng.integers(space.n, size=(1,))
        else:
            action = rng.uniform(low, high, (1, *space.shape))
        env.step(action)

    return lambda: env.reset([0]), step


def loop_rate(env_id: str, agent: str, steps: int) -> float:
    """The median steps/s of the training loop's chunks after the first (a host program
    compiles its act and learn functions in its first chunk)."""
    import plastix

    result = plastix.train(
        agent,
        env_id,
        steps=steps,
        learning_starts=steps,
        eval_every=steps,
        eval_episodes=1,
        log_every=steps // 8,
        buffer_size=steps,
        progress=False,
    )
    rates = result.metrics.query("metric == 'steps_per_second'").sort_values("step")["value"]
    return float(np.median(rates.to_numpy()[1:]))


def update_rate(agent: str, env_id: str, updates: int) -> tuple[float, float, int]:
    import jax
    import jax.numpy as jnp

    from plastix import algorithms
    from plastix.config import RunConfig
    from plastix.replay import Batch

    algorithm = algorithms.get(agent)
    config = algorithm.Config()
    program = algorithm.build(
        config.replace(buffer_size=1000), RunConfig(env=env_id, steps=1000), env_id
    )
    model = program.agent
    n = config.batch_size
    obs = jnp.zeros((n, *model.observation_space.shape), model.observation_space.dtype)
    action_shape = (n,) if agent == "drq-eps" else (n, *model.action_space.shape)
    batch = Batch(
        obs=obs,
        action=jnp.zeros(action_shape, jnp.int32 if agent == "drq-eps" else jnp.float32),
        reward=jnp.zeros(n),
        next_obs=obs,
        discount=jnp.ones(n),
    )
    update = jax.jit(model.update)
    state = model.init(jax.random.key(0))
    start = time.perf_counter()
    state, _ = update(state, batch, jax.random.key(1), 0)
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(updates):
        state, _ = update(state, batch, jax.random.key(i), 0)
    jax.block_until_ready(state)
    params = sum(x.size for x in jax.tree.leaves(state.params))
    return updates / (time.perf_counter() - start), compile_s, params


def learning_rate_sb3(steps: int, learning_starts: int) -> float:
    """Steps/s of Stable-Baselines3 SAC after ``learning_starts``, with as many torch threads
    as the cores this process may use (importing plastix pins it to one core on a CPU-only
    machine, and torch's default two threads on one core run about 60 times slower)."""
    import os

    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    from plastix.envs.dmc import DMCEnv

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    clock = {}

    class Clock(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps in (learning_starts + 100, steps):
                clock[self.num_timesteps] = time.perf_counter()
            return True

    model = SAC(
        "MlpPolicy",
        DMCEnv("dmc:cartpole-swingup"),
        learning_rate=3e-4,
        buffer_size=steps,
        learning_starts=learning_starts,
        batch_size=256,
        tau=0.005,
        gamma=0.99,
        train_freq=1,
        gradient_steps=1,
        policy_kwargs=dict(net_arch=[256, 256]),
        seed=0,
        device="cpu",
    )
    model.learn(total_timesteps=steps, callback=Clock())
    return (steps - learning_starts - 100) / (clock[steps] - clock[learning_starts + 100])


def learning_rate_plastix(steps: int, learning_starts: int) -> float:
    """Steps/s of plastix's SAC after ``learning_starts``: the median rate of the logged
    chunks after the first one that learns (which compiles the update)."""
    import plastix

    log_every = (steps - learning_starts) // 8
    result = plastix.train(
        "sac",
        "dmc:cartpole-swingup",
        steps=steps,
        learning_starts=learning_starts,
        learning_rate=3e-4,
        eval_every=steps,
        eval_episodes=1,
        log_every=log_every,
        buffer_size=steps,
        progress=False,
    )
    rates = result.metrics.query("metric == 'steps_per_second'").sort_values("step")
    after = rates[rates.step > learning_starts + log_every]["value"]
    return float(np.median(after.to_numpy()))


PEAK = """
import sys, plastix
from plastix import api
agent, env = sys.argv[1], sys.argv[2]
config = api.agent_config(agent, dict(buffer_size=100_000, learning_starts=296))
run = plastix.RunConfig(env=env, steps=100_000, eval_every=100_000)
runner = api.prepare(agent, config, run, progress=False)
program = runner.program
state = program.init(runner.keys)
program.compile(state, {300})
state, _ = program.advance(state, 300, 0)
# VmHWM, this process's own peak: getrusage's ru_maxrss survives exec, so it would report
# the benchmark's own (larger) peak when that was higher at the fork
print(next(int(line.split()[1]) * 1024 for line in open("/proc/self/status")
           if line.startswith("VmHWM")))
"""


def peak_bytes(agent: str, env_id: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PEAK, agent, env_id], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument(
        "--sb3-steps", type=int, default=0, help="SAC against Stable-Baselines3 (0: skip)"
    )
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    console = Console()
    rows = []
    for env_id, agent in DOMAINS.items():
        console.print(f"[bold]{env_id}[/] ({agent})")
        raw = rate(*raw_env(env_id), args.steps)
        wrapped = rate(*adapter(env_id), args.steps)
        loop = loop_rate(env_id, agent, args.steps)
        ups, up_compile, params = update_rate(agent, env_id, args.updates)
        peak = peak_bytes(agent, env_id)
        rows.append(
            dict(
                env=env_id,
                agent=agent,
                raw=raw,
                adapter=wrapped,
                loop=loop,
                updates_per_s=ups,
                update_compile_s=up_compile,
                params=params,
                peak_gb=peak / 1e9,
            )
        )
    table = Table(title="domains on this machine (random actions; updates on random batches)")
    for column in (
        "env",
        "agent",
        "raw steps/s",
        "adapter steps/s",
        "adapter / raw",
        "loop steps/s",
        "loop / raw",
        "updates/s (paper batch)",
        "parameters",
        "peak RSS, 1 seed, 100k buffer",
    ):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["env"],
            r["agent"],
            f"{r['raw']:.0f}",
            f"{r['adapter']:.0f}",
            f"{r['adapter'] / r['raw']:.2f}",
            f"{r['loop']:.0f}",
            f"{r['loop'] / r['raw']:.2f}",
            f"{r['updates_per_s']:.2f}",
            f"{r['params']:,}",
            f"{r['peak_gb']:.2f} GB",
        )
    console.print(table)
    out = dict(domains=rows)
    if args.sb3_steps:
        starts = args.sb3_steps // 5
        console.print("[bold]SAC on dmc:cartpole-swingup[/] against Stable-Baselines3")
        ours = learning_rate_plastix(args.sb3_steps, starts)
        theirs = learning_rate_sb3(args.sb3_steps, starts)
        out["sac_vs_sb3"] = dict(plastix=ours, sb3=theirs, steps=args.sb3_steps)
        table = Table(title=f"SAC learning steps/s, {args.sb3_steps} steps, 1 seed")
        for column in ("plastix", "Stable-Baselines3", "plastix / SB3"):
            table.add_column(column)
        table.add_row(f"{ours:.1f}", f"{theirs:.1f}", f"{ours / theirs:.2f}")
        console.print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
