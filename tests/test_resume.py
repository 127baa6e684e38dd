"""Runs that are killed or interrupted continue from their checkpoint to the result an
uninterrupted run gives, bit for bit; a killed run is shown as dead, not running."""

import json
import signal
import subprocess
import sys
import time

import flax.serialization
import jax
import numpy as np
import pytest

import plastix
from plastix import runs
from plastix.cli import main
from plastix.training.checkpoint import CHECKPOINT_FILE

COMMON = dict(seeds=2, eval_episodes=2, log_every=250, progress=False, checkpoint_seconds=0)


def flags(options: dict) -> list[str]:
    out = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-").replace("diagnostics-", "diagnostics.")
        if value is False:
            out.append("--no-" + flag[2:])
        elif isinstance(value, tuple):
            out += [flag, *map(str, value)]
        else:
            out += [flag, str(value)]
    return out


def checkpoint_iteration(run_dir) -> int | None:
    try:
        data = flax.serialization.msgpack_restore((run_dir / CHECKPOINT_FILE).read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return json.loads(data["meta"])["iteration"]


def start_and_stop(agent, options, out, sig, after_iteration, extra=()):
    """Starts ``plastix train`` in a subprocess and sends ``sig`` once it has checkpointed
    past ``after_iteration``; returns the exit code."""
    argv = [sys.executable, "-m", "plastix", "train", agent, "--out", str(out), *flags(options)]
    argv += list(extra)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while (checkpoint_iteration(out) or 0) < after_iteration:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline
        time.sleep(0.01)
    proc.send_signal(sig)
    proc.wait(timeout=120)
    return proc.returncode


def same_run(a, b):
    keep = lambda m: m[m.metric != "steps_per_second"].reset_index(drop=True)  # noqa: E731
    x, y = keep(a.metrics), keep(b.metrics)
    assert x[["seed", "step", "metric"]].equals(y[["seed", "step", "metric"]])
    np.testing.assert_array_equal(x.value.to_numpy(), y.value.to_numpy())
    for p, q in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state), strict=True):
        if jax.dtypes.issubdtype(p.dtype, jax.dtypes.prng_key):
            p, q = jax.random.key_data(p), jax.random.key_data(q)
        np.testing.assert_array_equal(np.asarray(p), np.asarray(q))


@pytest.mark.parametrize(
    "agent, env, options, kill_after",
    [
        ("dqn", "CartPole-v1", dict(steps=6000, hidden_sizes=(16,), learning_starts=100), 1000),
        (
            "sac",
            "Pendulum-v1",
            dict(steps=2000, hidden_sizes=(16,), batch_size=32, learning_starts=100),
            500,
        ),
    ],
)
def test_a_killed_run_resumes_to_the_uninterrupted_result(
    tmp_path, capsys, agent, env, options, kill_after
):
    options = dict(options, env=env, eval_every=1000, diagnostics_every=1000, **COMMON)
    out = tmp_path / "killed"
    start_and_stop(agent, options, out, signal.SIGKILL, kill_after)
    summary = runs.load_summary(out)
    assert summary["status"] in runs.LIVE and runs.run_status(out) == "dead"
    assert main(["ls", str(out)]) == 0
    assert "dead" in capsys.readouterr().out
    resumed = plastix.resume(out, progress=False)
    reference = plastix.train(
        agent,
        **{k: v for k, v in options.items() if k != "diagnostics_every"},
        diagnostics=plastix.DiagnosticsConfig(every=1000),
    )
    assert resumed.summary["status"] == "completed"
    (resumed_at,) = runs.load_summary(out)["resumed_at"]
    assert 0 < resumed_at < options["steps"]
    same_run(resumed, reference)
    stored = plastix.load_policy(out)
    obs = np.random.default_rng(0).normal(size=(8,) + reference.program.observation_shape)
    np.testing.assert_array_equal(stored.predict(obs, seed=1), reference.predict(obs, seed=1))


def test_sigterm_stops_at_a_chunk_boundary_with_a_checkpoint(tmp_path):
    options = dict(env="CartPole-v1", steps=30_720, eval_every=5120, diagnostics_every=10_240)
    options = dict(COMMON, **options, log_every=512, hidden_sizes=(16,))
    out = tmp_path / "ppo"
    assert start_and_stop("ppo", options, out, signal.SIGTERM, 5) == 128 + signal.SIGTERM
    summary = runs.load_summary(out)
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGTERM"
    assert runs.run_status(out) == "interrupted"
    assert checkpoint_iteration(out) == summary["iterations"]
    assert 0 < summary["steps_done"] < 30_720
    resumed = plastix.resume(out, progress=False)
    reference = plastix.train(
        "ppo",
        **{k: v for k, v in options.items() if k != "diagnostics_every"},
        diagnostics=plastix.DiagnosticsConfig(every=10_240),
    )
    same_run(resumed, reference)


def test_a_run_with_cures_resumes_to_the_uninterrupted_result(tmp_path):
    """TRAC's state, L2-init's anchor and continual backprop's unit ages survive a SIGTERM."""
    options = dict(env="CartPole-v1", steps=15_360, eval_every=5120, diagnostics_every=5120)
    options = dict(COMMON, **options, log_every=512, hidden_sizes=(16,))
    cures = ["--trac.on", "--l2-init.coef", "1e-3", "--cbp.every", "16", "--cbp.maturity", "0"]
    cures += ["--cbp.replacement-rate", "0.01"]
    out = tmp_path / "ppo"
    assert start_and_stop("ppo", options, out, signal.SIGTERM, 3, cures) == 128 + signal.SIGTERM
    assert 0 < runs.load_summary(out)["steps_done"] < 15_360
    resumed = plastix.resume(out, progress=False)
    plasticity = plastix.PlasticityConfig(
        trac=plastix.TRACConfig(on=True),
        l2_init=plastix.L2InitConfig(coef=1e-3),
        cbp=plastix.CBPConfig(every=16, maturity=0, replacement_rate=0.01),
    )
    reference = plastix.train(
        "ppo",
        **{k: v for k, v in options.items() if k != "diagnostics_every"},
        diagnostics=plastix.DiagnosticsConfig(every=5120),
        plasticity=plasticity,
    )
    assert reference.metrics[reference.metrics.metric == "intervention/cbp"].value.sum() > 0
    same_run(resumed, reference)


def test_resume_refuses_what_it_cannot_continue(tmp_path):
    out = tmp_path / "done"
    plastix.train("dqn", steps=400, out=out, hidden_sizes=(8,), learning_starts=100, **COMMON)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(plastix.ConfigError, match="completed its 400 steps"):
        plastix.resume(out, progress=False)
    with pytest.raises(plastix.ConfigError, match="sized by its step budget"):
        plastix.resume(out, steps=800, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing rewritten
    assert main(["resume", str(tmp_path / "nope")]) == 2
