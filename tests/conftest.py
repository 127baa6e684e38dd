import os

# Tests run on the CPU; keep XLA from grabbing every core for a single compile.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
