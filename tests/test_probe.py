"""The supervised plasticity probes: their problems by definition, switches at the exact update,
cures applied to the learner, the CLI."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cli import main
from plastix.errors import ConfigError
from plastix.plasticity.config import PlasticityConfig
from plastix.plasticity.interventions import CReLUConfig, ResetConfig
from plastix.probe import ProbeConfig, Problem, run_probe, target_network, target_output


def test_the_target_network_is_the_authors_ltu_net():
    config = ProbeConfig(inputs=4, flipping_bits=2, target_units=3, beta=0.7)
    target = target_network(jax.random.key(0), config)
    w, b = np.asarray(target["w"]), np.asarray(target["b"])
    assert set(np.unique(w)) <= {-1.0, 1.0} and set(np.unique(b)) <= {-1.0, 1.0}
    # S = (m - Σw + b)/2; τ = β(m + 1) - S; a unit fires when x·w + b > τ
    tau = 0.7 * 5 - (4 - w.sum(0) + b) / 2
    np.testing.assert_allclose(target["tau"], tau, rtol=1e-6)
    x = np.array([[1, 0, 1, 1], [0, 0, 0, 0]], np.float32)
    fires = (x @ w + b > tau).astype(np.float32)
    expected = fires @ np.asarray(target["v"]) + float(target["c"])
    np.testing.assert_allclose(target_output(target, jnp.asarray(x)), expected)


def test_a_bitflip_switch_flips_exactly_one_held_bit():
    problem = Problem(ProbeConfig())
    state = problem.init(jax.random.key(1))
    for i in range(5):
        x, _ = problem.sample(state, jax.random.key(10 + i), 64)
        assert (np.asarray(x[:, :15]) == np.asarray(state["bits"])).all()  # held in the task
        assert 0 < np.asarray(x[:, 15:]).mean() < 1  # the rest random
        new = problem.switch(state, jax.random.key(i))
        assert int(np.sum(np.asarray(new["bits"]) != np.asarray(state["bits"]))) == 1
        state = new


def test_digits_tasks_are_permutations_of_the_pixels():
    problem = Problem(ProbeConfig(problem="digits"))
    state = problem.init(jax.random.key(0))
    perm = np.asarray(state["perm"])
    assert sorted(perm.tolist()) == list(range(64))
    x, y = problem.sample(state, jax.random.key(1), 8)
    assert x.shape == (8, 64) and y.shape == (8,)
    assert not (np.asarray(problem.switch(state, jax.random.key(2))["perm"]) == perm).all()


def test_switches_happen_at_the_task_boundary_for_every_seed():
    """Bitflip with every bit held and a learner that cannot move (a learning rate of 1e-12):
    within a task every update sees the same input and target, so its error is the same; it
    changes exactly where a task ends, for every vmapped seed."""
    config = ProbeConfig(
        tasks=4, task_steps=50, seeds=3, flipping_bits=20, hidden_sizes=(16,), learning_rate=1e-12
    )
    result = run_probe(config)
    assert result.curve.shape == (3, 200) and result.per_task.shape == (3, 4)
    changes = np.abs(np.diff(result.curve, axis=1)) > 1e-6
    for seed in range(3):
        assert np.flatnonzero(changes[seed]).tolist() == [49, 99, 149]
    for name in ("fraction_active_units", "dormant_ratio", "effective_rank"):
        assert result.diagnostics[name].shape == (3, 4)


def test_the_learner_learns_and_cures_reach_it():
    config = ProbeConfig(
        problem="digits", tasks=2, task_steps=400, seeds=2, hidden_sizes=(32,), batch_size=16
    )
    plain = run_probe(config)
    assert (plain.per_task > 0.5).all()  # well above the 0.1 of chance on every task
    crelu = run_probe(config, PlasticityConfig(crelu=CReLUConfig(on=True)))
    assert not np.allclose(crelu.per_task, plain.per_task)
    with pytest.raises(ConfigError, match="the cures built into every update"):
        run_probe(config, PlasticityConfig(reset=ResetConfig(every=100)))


def test_probe_cli(tmp_path, capsys):
    out = tmp_path / "probe.json"
    argv = ["probe", "bitflip", "--tasks", "2", "--task-steps", "200", "--seeds", "2"]
    assert main([*argv, "--l2-init.coef", "1e-2", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["cures"] == {"l2_init": {"coef": 0.01}}
    assert np.asarray(data["per_task"]).shape == (2, 2)
    assert main([*argv, "--out", str(out)]) == 2  # never overwritten
    assert main(["probe", "mnist"]) == 2
    assert main([*argv, "--tasks", "0"]) == 2
    assert "valid choices: bitflip, digits" in capsys.readouterr().err
