import os
import tempfile

# Tests run on the CPU with plastix's defaults (nothing pinned, XLA's own flags; see
# plastix/_xla.py); under pytest-xdist each worker takes its own core, so workers do not take
# turns. The cores are noted once and handed to the workers through the environment.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Programs compiled by one test (or one process) are loaded by the next that needs them.
os.environ.setdefault(
    "PLASTIX_COMPILATION_CACHE",
    os.path.join(tempfile.gettempdir(), f"plastix-tests-{os.getuid()}", "jax-cache"),
)
if hasattr(os, "sched_setaffinity"):
    if "PLASTIX_TEST_CORES" not in os.environ:
        os.environ["PLASTIX_TEST_CORES"] = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    _cores = [int(c) for c in os.environ["PLASTIX_TEST_CORES"].split(",")]
    _worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if _worker.startswith("gw"):
        os.sched_setaffinity(0, {_cores[int(_worker[2:]) % len(_cores)]})

import plastix  # noqa: E402,F401  (PLASTIX_CPU_CORES, if the user set it, before any backend)
