"""JAX's persistent compilation cache (plastix/_xla.py): a rerun of the same configuration, in
a new process, loads its programs from the cache instead of compiling them, and the run's
summary says how many it loaded; ``PLASTIX_COMPILATION_CACHE=off`` turns the cache off."""

import json
import os
import subprocess
import sys

from tests.test_cli import TINY


def train(out, cache):
    environ = dict(os.environ, PLASTIX_COMPILATION_CACHE=str(cache))
    argv = ["train", "dqn", "--env", "CartPole-v1", *TINY, "--out", str(out)]
    subprocess.run([sys.executable, "-m", "plastix", *argv], check=True, env=environ)
    return json.loads((out / "summary.json").read_text())


def test_a_rerun_loads_its_programs_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    first = train(tmp_path / "first", cache)
    assert first["compilation_cache"]["dir"] == str(cache)
    assert first["compilation_cache"]["loaded"] == 0
    stored = first["compilation_cache"]["compiled"]
    assert stored >= 2 and len(list(cache.iterdir())) >= 2  # the training chunk, init, ...
    second = train(tmp_path / "second", cache)
    assert second["compilation_cache"]["loaded"] == stored
    assert second["compilation_cache"]["compiled"] == 0
    assert second["compile_seconds"] < first["compile_seconds"]
    assert second["status"] == "completed"
    print("compile s, first and second:", first["compile_seconds"], second["compile_seconds"])


def test_the_cache_can_be_turned_off():
    child = "from plastix import _xla; import jax; print(_xla.enable_compilation_cache(), "
    child += "jax.config.jax_compilation_cache_dir)"
    environ = dict(os.environ, PLASTIX_COMPILATION_CACHE="off")
    environ.pop("JAX_COMPILATION_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", child], env=environ, capture_output=True)
    assert out.stdout.split() == [b"None", b"None"]
