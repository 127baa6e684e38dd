"""XLA settings plastix needs before JAX starts its CPU backend.

XLA's CPU runtime in jaxlib 0.10 can wedge its intra-op (Eigen) thread pool: a compiled call
never completes and every thread sleeps. plastix's seed-vmapped training chunks hit it often on
small machines (4 of 5 runs of a 6,000-step SAC test hung on 2 cores; 0 of 5 with the flag
below, at the same speed). The same hang and the same cure are reported elsewhere
(PyAutoFit #1528). So unless the user has set the option, plastix turns that pool off. The
flag only concerns the CPU backend (GPU runs are unaffected); ``XLA_FLAGS`` is read when JAX
first starts a backend, so this must run before any array is made, which importing plastix
first ensures. Set ``PLASTIX_KEEP_XLA_FLAGS=1`` to leave ``XLA_FLAGS`` alone.
"""

from __future__ import annotations

import os

FLAG = "--xla_cpu_multi_thread_eigen=false"


def configure() -> None:
    if os.environ.get("PLASTIX_KEEP_XLA_FLAGS"):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {FLAG}".strip()


configure()
