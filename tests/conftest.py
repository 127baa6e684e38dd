import os
import tempfile

# Tests run on the CPU. plastix pins a CPU-only process to one core (see plastix/_xla.py);
# under pytest-xdist each worker takes its own core, so the suite still uses every core. The
# controller pins itself too when it imports plastix, so the cores are noted before that and
# handed to the workers through the environment.
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

import plastix  # noqa: E402,F401  (sets up JAX before any test starts a backend)
