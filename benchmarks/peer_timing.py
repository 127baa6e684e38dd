"""The timing the peers' halves of benchmarks/speed.py share; plain JAX, so every peer's own
environment can import it from beside its script."""

import time

import jax


def compile_and_run(train, keys) -> tuple[float, float]:
    """``(compile seconds, run seconds)`` of a jitted ``train(keys)``: lowered and compiled
    first, then run once to completion."""
    start = time.perf_counter()
    compiled = train.lower(keys).compile()
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(compiled(keys))
    return compile_seconds, time.perf_counter() - start
