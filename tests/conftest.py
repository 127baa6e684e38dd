import os

# Tests run on the CPU; keep XLA from grabbing every core for a single compile.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import plastix  # noqa: E402,F401  (sets XLA_FLAGS before any test starts a JAX backend)
