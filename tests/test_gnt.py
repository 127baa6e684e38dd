"""Continual backprop inside the probe's compiled loop (``plasticity.gnt``): the running
utility, the maturity threshold, the rate with carry-over and the edit, checked by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import plastix
from plastix import optim
from plastix.cli import main
from plastix.plasticity import gnt
from plastix.probe import ProbeConfig, run_probe


def params_of(rng):
    return {
        "torso": {"dense_0": {"kernel": rng.normal(size=(3, 4)), "bias": rng.normal(size=4)}},
        "head": {"kernel": rng.normal(size=(4, 2)), "bias": rng.normal(size=2)},
    }


def test_one_step_replaces_the_mature_unit_of_lowest_running_utility():
    rng = np.random.default_rng(0)
    params = jax.tree.map(jnp.asarray, params_of(rng))
    fresh = jax.tree.map(jnp.asarray, params_of(rng))
    tx = optim.adam(1e-3)
    opt_state = tx.init(params)
    grads = jax.tree.map(jnp.ones_like, params)
    _, opt_state = tx.update(grads, opt_state, params)  # moments now nonzero
    state = gnt.init(params)
    # unit ages 0, 50, 200, 300; maturity 100: units 2 and 3 are mature
    state = state.replace(
        age={"torso/dense_0": jnp.array([0, 50, 200, 300], jnp.int32)},
        utility={"torso/dense_0": jnp.array([0.0, 0.0, 5.0, 5.0])},
        owed={"torso/dense_0": jnp.float32(0.95)},
    )
    h = jnp.array([[1.0, 1.0, 2.0, 0.5], [1.0, 3.0, 2.0, 0.5]])  # [batch, units]
    config = plastix.CBPConfig(every=1, replacement_rate=0.05, maturity=100)
    new, p, o = gnt.step(state, params, opt_state, {"torso/dense_0": h}, fresh, config, True)
    # by hand: instantaneous utility mean|h| · mean|w_out| per unit, running average, age + 1
    w_out = np.abs(np.asarray(params["head"]["kernel"])).mean(axis=1)
    now = np.abs(np.asarray(h)).mean(axis=0) * w_out
    u = 0.99 * np.array([0.0, 0.0, 5.0, 5.0]) + 0.01 * now
    age = np.array([1, 51, 201, 301])
    corrected = u / (1 - 0.99**age)
    owed = 0.95 + 0.05 * 2  # two mature units: 1.05 owed -> one replaced, 0.05 carried
    loser = 2 + int(np.argmin(corrected[2:]))
    assert int(new.replaced) == 1 and float(new.owed["torso/dense_0"]) == pytest.approx(owed - 1)
    expect_age = np.where(np.arange(4) == loser, 0, age)
    np.testing.assert_array_equal(np.asarray(new.age["torso/dense_0"]), expect_age)
    np.testing.assert_allclose(
        np.asarray(new.utility["torso/dense_0"]), np.where(np.arange(4) == loser, 0.0, u), 1e-6
    )
    k, k0 = (
        np.asarray(p["torso"]["dense_0"]["kernel"]),
        np.asarray(params["torso"]["dense_0"]["kernel"]),
    )
    np.testing.assert_array_equal(
        k[:, loser], np.asarray(fresh["torso"]["dense_0"]["kernel"])[:, loser]
    )
    others = [i for i in range(4) if i != loser]
    np.testing.assert_array_equal(k[:, others], k0[:, others])
    head = np.asarray(p["head"]["kernel"])
    assert not head[loser].any() and np.array_equal(
        head[others], np.asarray(params["head"]["kernel"])[others]
    )
    mu = o.mu["torso"]["dense_0"]["kernel"]
    assert not np.asarray(mu)[:, loser].any() and np.asarray(mu)[:, others].all()
    # not due: nothing moves
    same, p2, _ = gnt.step(state, params, opt_state, {"torso/dense_0": h}, fresh, config, False)
    assert jax.tree.all(jax.tree.map(jnp.array_equal, same, state))
    assert jax.tree.all(jax.tree.map(jnp.array_equal, p2, params))


def test_the_probe_runs_continual_backprop_at_its_rate():
    """Bitflip's 5 hidden units, ρ = 1e-3 per update, maturity 100: 5 · 1e-3 replacements
    are owed per update once the units are mature, so ~10 per 2,000-update task (fewer in the
    first, whose first 100 updates are immature)."""
    config = ProbeConfig(problem="bitflip", tasks=3, task_steps=2000, seeds=2)
    cbp = plastix.CBPConfig(every=1, maturity=100, replacement_rate=1e-3)
    result = run_probe(config, plastix.PlasticityConfig(cbp=cbp))
    replaced = result.diagnostics["cbp_replaced"]  # cumulative, [seeds, tasks]
    per_task = np.diff(np.concatenate([np.zeros((2, 1)), replaced], axis=1), axis=1)
    assert (per_task[:, 0] >= 8).all() and (per_task[:, 0] <= 10).all()
    assert (per_task[:, 1:] >= 8).all() and (per_task[:, 1:] <= 10).all()
    assert np.isfinite(result.per_task).all()


def test_the_probe_cli_takes_continual_backprop(tmp_path):
    out = tmp_path / "p.json"
    argv = ["probe", "bitflip", "--tasks", "2", "--task-steps", "200", "--seeds", "2"]
    argv += ["--cbp.every", "1", "--cbp.maturity", "10", "--cbp.replacement-rate", "0.01"]
    assert main([*argv, "--out", str(out)]) == 0
    assert '"cbp_replaced"' in out.read_text()
    assert main(["probe", "bitflip", "--reset.every", "100"]) == 2
