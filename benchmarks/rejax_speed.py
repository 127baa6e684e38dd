"""The rejax half of benchmarks/speed.py; run by rejax's own interpreter (it needs gymnax<1).

Prints one JSON line: {"compile_seconds": ..., "steps_per_second": ...}.
"""

import json
import sys

import jax
import jax.numpy as jnp
from peer_timing import compile_and_run


def main():
    spec = json.loads(sys.argv[1])
    import rejax

    algo_cls = {"dqn": rejax.DQN, "sac": rejax.SAC}[spec.pop("algo")]
    seeds = spec.pop("seeds", 1)
    algo = algo_cls.create(**spec)
    # Time training only: replace the evaluation callback with one that does nothing.
    algo = algo.replace(eval_callback=lambda algo, ts, rng: jnp.zeros(()))
    train = jax.jit(jax.vmap(algo.train)) if seeds > 1 else jax.jit(algo.train)
    keys = jax.random.split(jax.random.key(0), seeds) if seeds > 1 else jax.random.key(0)
    compile_seconds, seconds = compile_and_run(train, keys)
    print(
        json.dumps(
            {
                "compile_seconds": compile_seconds,
                "steps_per_second": spec["total_timesteps"] * seeds / seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
