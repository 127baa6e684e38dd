"""OpenAI-ES benchmarks: targets, the evosax peer side by side, the Ray backend's speed-up.

    python benchmarks/es.py cartpole   # 10 seeds: solve within 60 generations and 0.5M steps?
                                       # and evosax's OpenAI-ES on the same problem, as ratios
    python benchmarks/es.py pendulum   # 3 seeds: >= -200 within 20M steps?
    python benchmarks/es.py ray        # 1 vs 2 Ray workers, and bytes at 1e2 vs 1e6 parameters

Every number is measured after compilation. "Solved" is the issue's criterion: the mean of 20
evaluation episodes of the unperturbed parameters is 500, checked after every generation.
Both libraries run the same population, σ, Adam step, network (plastix's ``ESPolicy``),
environment (gymnax CartPole-v1 through plastix's episode roll-out), centred-rank fitness
shaping and no weight decay; each generation is one compiled program in both.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import plastix  # noqa: F401  (sets up JAX)
from plastix.envs import make_env
from plastix.es import ESConfig, OpenAIES
from plastix.es.backends import Programs

RESULTS = Path(__file__).parent / "results"
CARTPOLE = ESConfig(population=32, sigma=0.1, learning_rate=0.05, weight_decay=0.0)


def solve_plastix(
    config: ESConfig,
    env_id: str,
    seed: int,
    max_generations: int,
    budget: int,
    target: float,
    eval_episodes: int = 20,
):
    """Generations, steps and seconds until ``target`` (or None), one seed, after compiling."""
    es = OpenAIES(config, make_env(env_id))
    programs = Programs(es)
    state = jax.vmap(es.init)(jnp.stack([jax.random.key(seed)]))
    indices = jnp.arange(config.population, dtype=jnp.int32)[None]
    evaluate = jax.jit(jax.vmap(lambda s: es.evaluate(s, None, eval_episodes)))
    active = jnp.ones(1, bool)
    # compile (and warm) outside the clock
    out = programs.evaluate(state, indices)
    jax.block_until_ready(programs.step(state, *out, active))
    jax.block_until_ready(evaluate(state))
    start = time.perf_counter()
    for generation in range(1, max_generations + 1):
        out = programs.evaluate(state, indices)
        state = programs.step(state, *out, active)
        steps = int(state.env_steps[0])
        score = float(evaluate(state)[0].mean())
        if score >= target:
            return generation, steps, time.perf_counter() - start, score
        if steps >= budget:
            break
    return None, steps, time.perf_counter() - start, score


def evosax_generation_fn(config: ESConfig, env_id: str):
    """One compiled evosax OpenAI-ES generation on the same network and roll-out."""
    import optax
    from evosax.algorithms import Open_ES

    es = OpenAIES(config, make_env(env_id))
    template = es.unravel(es.init(jax.random.key(0)).params)
    strategy = Open_ES(
        population_size=config.population,
        solution=template,
        optimizer=optax.adam(config.learning_rate),
        std_schedule=optax.constant_schedule(config.sigma),
    )
    params = strategy.default_params
    zero_stats = jnp.zeros(1 + 2 * es.obs_dim)

    def fitness_of(solution, key):
        from jax.flatten_util import ravel_pytree

        flat, _ = ravel_pytree(solution)
        returns, steps, _ = es.play(flat, zero_stats, key, config.episodes_per_member)
        return returns.mean(), steps

    @jax.jit
    def generation(state, key):
        ask_key, eval_key, tell_key = jax.random.split(key, 3)
        population, state = strategy.ask(ask_key, state, params)
        keys = jax.random.split(eval_key, config.population)
        fitness, steps = jax.vmap(fitness_of)(population, keys)
        state, _ = strategy.tell(tell_key, population, -fitness, state, params)  # minimises
        return state, steps.sum()

    def init(seed):
        key = jax.random.key(seed)
        mean = es.unravel(es.init(key).params)
        return strategy.init(key, mean, params)

    @jax.jit
    def evaluate(state, key):
        from jax.flatten_util import ravel_pytree

        flat, _ = ravel_pytree(strategy.get_mean(state))
        returns, _, _ = es.play(flat, zero_stats, key, 20)
        return returns.mean()

    return init, generation, evaluate


def solve_evosax(config, env_id, seed, max_generations, budget, target):
    init, generation, evaluate = evosax_generation_fn(config, env_id)
    state = init(seed)
    key = jax.random.key(seed + 1000)
    # compile for the initial state and for the state a generation returns (its leaves'
    # types settle after the first tell)
    warm, _ = generation(state, key)
    jax.block_until_ready(generation(warm, key))
    jax.block_until_ready(evaluate(state, key))
    jax.block_until_ready(evaluate(warm, key))
    steps = 0
    start = time.perf_counter()
    for g in range(1, max_generations + 1):
        key, gen_key, eval_key = jax.random.split(key, 3)
        state, n = generation(state, gen_key)
        steps += int(n)
        score = float(evaluate(state, eval_key))
        if score >= target:
            return g, steps, time.perf_counter() - start, score
        if steps >= budget:
            break
    return None, steps, time.perf_counter() - start, score


def evaluations_per_second(config, env_id, generations: int = 30, repeats: int = 3):
    """Population members evaluated per second (with the update), best of ``repeats``."""
    es = OpenAIES(config, make_env(env_id))
    programs = Programs(es)
    state0 = jax.vmap(es.init)(jnp.stack([jax.random.key(0)]))
    indices = jnp.arange(config.population, dtype=jnp.int32)[None]
    active = jnp.ones(1, bool)
    out = programs.evaluate(state0, indices)
    jax.block_until_ready(programs.step(state0, *out, active))
    ours = []
    for _ in range(repeats):
        state = state0
        start = time.perf_counter()
        for _ in range(generations):
            state = programs.step(state, *programs.evaluate(state, indices), active)
        jax.block_until_ready(state.params)
        ours.append(generations * config.population / (time.perf_counter() - start))
    init, generation, _ = evosax_generation_fn(config, env_id)
    s0 = init(0)
    key = jax.random.key(1)
    warm, _ = generation(s0, key)
    jax.block_until_ready(generation(warm, key))
    theirs = []
    for _ in range(repeats):
        state = s0
        start = time.perf_counter()
        for k in jax.random.split(key, generations):
            state, _ = generation(state, k)
        jax.block_until_ready(state.mean)
        theirs.append(generations * config.population / (time.perf_counter() - start))
    return max(ours), max(theirs)


def table(title, header, rows):
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for h in header:
        t.add_column(h, justify="right")
    for r in rows:
        t.add_row(*[str(x) for x in r])
    Console().print(t)


def cartpole(seeds: int):
    rows, record = [], {"plastix": [], "evosax": []}
    for seed in range(seeds):
        p = solve_plastix(CARTPOLE, "CartPole-v1", seed, 60, 500_000, 500.0)
        e = solve_evosax(CARTPOLE, "CartPole-v1", seed, 60, 500_000, 500.0)
        record["plastix"].append(p)
        record["evosax"].append(e)
        rows.append((seed, p[0], p[1], f"{p[2]:.2f}", e[0], e[1], f"{e[2]:.2f}"))
        print(f"seed {seed}: plastix {p}, evosax {e}", flush=True)
    table(
        "ES on CartPole-v1 (population 32, σ 0.1, Adam 0.05): generations / steps / seconds "
        "to a 20-episode mean of 500 (None: not within 60 generations and 0.5M steps)",
        ["seed", "plastix gens", "steps", "s", "evosax gens", "steps", "s"],
        rows,
    )
    ours_eps, theirs_eps = evaluations_per_second(CARTPOLE, "CartPole-v1")

    def stats(runs):
        solved = [r for r in runs if r[0] is not None]
        return {
            "solved": len(solved),
            "seeds": len(runs),
            "median_generations": float(np.median([r[0] for r in solved])) if solved else None,
            "median_steps": float(np.median([r[1] for r in solved])) if solved else None,
            "median_seconds": float(np.median([r[2] for r in solved])) if solved else None,
        }

    summary = {
        "plastix": stats(record["plastix"]),
        "evosax": stats(record["evosax"]),
        "evaluations_per_second": {"plastix": ours_eps, "evosax": theirs_eps},
        "ratio_evaluations_per_second": ours_eps / theirs_eps,
        "runs": record,
        "config": CARTPOLE.__dict__,
    }
    p, e = summary["plastix"], summary["evosax"]
    table(
        "plastix vs evosax (same problem, one run)",
        ["", "plastix", "evosax", "ratio plastix/evosax"],
        [
            ("solved", f"{p['solved']}/{p['seeds']}", f"{e['solved']}/{e['seeds']}", "-"),
            (
                "median generations",
                p["median_generations"],
                e["median_generations"],
                _ratio(p["median_generations"], e["median_generations"]),
            ),
            (
                "median seconds",
                _fmt(p["median_seconds"]),
                _fmt(e["median_seconds"]),
                _ratio(p["median_seconds"], e["median_seconds"]),
            ),
            (
                "evaluations / s",
                f"{ours_eps:,.0f}",
                f"{theirs_eps:,.0f}",
                f"{ours_eps / theirs_eps:.2f}",
            ),
        ],
    )
    return summary


def pendulum(seeds: int, budget: int):
    config = ESConfig(population=64, sigma=0.1, learning_rate=0.02, obs_norm=True)
    rows, runs = [], []
    for seed in range(seeds):
        r = solve_plastix(config, "Pendulum-v1", seed, 10**9, budget, -200.0)
        runs.append(r)
        rows.append((seed, r[0], r[1], f"{r[2]:.1f}", f"{r[3]:.1f}"))
        print(f"seed {seed}: {r}", flush=True)
    table(
        f"ES on Pendulum-v1 (population 64, obs. normalisation): to a 20-episode mean of -200 "
        f"within {budget:,} steps",
        ["seed", "generations", "steps", "seconds", "last eval"],
        rows,
    )
    return {"runs": runs, "solved": sum(r[0] is not None for r in runs), "config": config.__dict__}


def ray_speedup(generations: int = 20):
    import ray

    from plastix.distributed.ray_es import RayESBackend

    config = ESConfig(population=64, sigma=0.1, learning_rate=0.05)
    es = OpenAIES(config, make_env("CartPole-v1"))
    out = {}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for workers in (1, 2):
            backend = RayESBackend(es, "CartPole-v1", workers=workers)
            backend._budget = 10**12
            state = jax.vmap(es.init)(jnp.stack([jax.random.key(0)]))
            backend.setup(state)
            state, _ = backend.advance(state, None, 2)  # warm: first messages, caches
            backend.generation_seconds.clear()
            backend.bytes_per_generation.clear()
            backend.advance(state, None, generations)
            info = backend.summary()
            backend.close()
            out[workers] = info
        for hidden in ((12,), (1000, 1000)):
            cfg = ESConfig(population=4, hidden_sizes=hidden)
            big = OpenAIES(cfg, make_env("CartPole-v1"))
            backend = RayESBackend(big, "CartPole-v1", workers=2)
            backend._budget = 10**12
            state = jax.vmap(big.init)(jnp.stack([jax.random.key(0)]))
            backend.setup(state)
            backend.advance(state, None, 2)
            out[f"params_{big.num_params}"] = backend.summary()
            backend.close()
    finally:
        ray.shutdown()
    one, two = out[1]["generation_seconds_median"], out[2]["generation_seconds_median"]
    table(
        "ES on Ray, CartPole-v1, population 64 (median seconds per generation; start-up apart)",
        ["workers", "s / generation", "start-up s", "bytes / generation"],
        [
            (
                w,
                f"{out[w]['generation_seconds_median']:.3f}",
                f"{out[w]['startup_seconds']:.1f}",
                f"{out[w]['bytes_per_generation_mean']:,.0f}",
            )
            for w in (1, 2)
        ],
    )
    print(f"speed-up of 2 workers over 1: {one / two:.2f}x")
    rows = [
        (k.split("_")[1], f"{v['bytes_per_generation_mean']:,.0f}", f"{v['join_bytes']:,}")
        for k, v in out.items()
        if str(k).startswith("params_")
    ]
    table(
        "bytes exchanged by parameter count (population 4, 2 workers)",
        ["parameters", "bytes / generation", "bytes on joining (once)"],
        rows,
    )
    out["speedup"] = one / two
    return out


def _fmt(x):
    return "-" if x is None else f"{x:.2f}"


def _ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["cartpole", "pendulum", "ray"])
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--budget", type=int, default=20_000_000)
    args = parser.parse_args()
    if args.what == "cartpole":
        result = cartpole(args.seeds or 10)
    elif args.what == "pendulum":
        result = pendulum(args.seeds or 3, args.budget)
    else:
        result = ray_speedup()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"es_{args.what}.json"
    path.write_text(json.dumps(result, indent=1, default=str))
    print(f"written: {path}")


if __name__ == "__main__":
    main()
