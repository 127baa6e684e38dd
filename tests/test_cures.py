"""The cures built into networks and optimizers, each against its published definition computed
by hand, and on every agent through the CLI."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.special

from plastix import optim
from plastix.errors import ConfigError
from plastix.nets import activate
from plastix.plasticity import scheduler
from plastix.plasticity.config import PlasticityConfig
from plastix.plasticity.interventions import (
    CReLUConfig,
    FourierConfig,
    L2Config,
    NaPConfig,
    TRACConfig,
    WeightClipConfig,
    redo_masks,
)
from plastix.plasticity.interventions.l2 import l2_gradient, l2_init_gradient
from plastix.plasticity.interventions.nap import nap_projection
from plastix.plasticity.interventions.parseval import parseval_gradient
from plastix.plasticity.interventions.trac import BETAS, TracState, erfi, trac
from plastix.plasticity.interventions.weight_clip import clip_bounds

SGD = optax.sgd(1.0)  # update = -gradient: what a wrap adds to the gradient shows directly


def params_tree(seed=0):
    r = np.random.default_rng(seed)
    f = lambda *s: jnp.asarray(r.normal(size=s), jnp.float32)  # noqa: E731
    return {
        "encoder": {"conv_0": {"kernel": f(2, 2, 3, 4), "bias": f(4)}},
        "torso": {
            "dense_0": {"kernel": f(5, 3), "bias": f(3)},
            "norm_0": {"scale": 1.0 + 0.1 * f(3), "bias": 0.1 * f(3)},
            "dense_1": {"kernel": f(3, 3), "bias": f(3)},
        },
        "head": {"kernel": f(3, 2), "bias": f(2)},
        "log_std": f(2),
    }


def step(wrap, params, grads, moved=None):
    """One update of ``wrap(sgd(1))`` initialised at ``params``, taken at ``moved``."""
    tx = wrap(SGD)
    state = tx.init(params)
    at = params if moved is None else moved
    updates, state = tx.update(grads, state, at)
    return optax.apply_updates(at, updates), state


def test_activations_by_definition():
    x = jnp.array([-2.0, 0.5, 0.0])
    np.testing.assert_array_equal(activate("relu", x), [0.0, 0.5, 0.0])
    np.testing.assert_array_equal(activate("crelu", x), [0.0, 0.5, 0.0, 2.0, 0.0, 0.0])
    np.testing.assert_allclose(
        activate("fourier", x), np.r_[np.sin([-2, 0.5, 0]), np.cos([-2, 0.5, 0])], rtol=1e-6
    )
    with pytest.raises(ConfigError, match="valid choices: relu, crelu, fourier"):
        activate("tanh", x)


def test_l2_adds_lambda_theta_and_l2_init_two_lambda_theta_minus_theta0():
    p = params_tree()
    g = jax.tree.map(jnp.ones_like, p)
    new, _ = step(optim.add_gradient(l2_gradient(0.1)), p, g)
    for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(p), strict=True):
        np.testing.assert_allclose(a, b - (1.0 + 0.1 * b), rtol=1e-6)
    moved = jax.tree.map(lambda x: x + 0.5, p)
    copy = lambda t: jax.tree.map(jnp.array, t)  # noqa: E731
    new, _ = step(optim.add_gradient(l2_init_gradient(0.1), anchor=copy), p, g, moved)
    for a, m in zip(jax.tree.leaves(new), jax.tree.leaves(moved), strict=True):
        np.testing.assert_allclose(a, m - (1.0 + 2 * 0.1 * 0.5), rtol=1e-6)


def test_parseval_gradient_is_four_lambda_k_gram_minus_s_on_hidden_dense_kernels_only():
    p = params_tree()
    g = jax.tree.map(jnp.zeros_like, p)
    new, _ = step(optim.add_gradient(parseval_gradient(0.01, 2.0)), p, g)
    for layer in ("dense_0", "dense_1"):
        k = np.asarray(p["torso"][layer]["kernel"], np.float64)
        width = k.shape[1]
        # d/dK (64/w)²‖KᵀK − sI‖² = (64/w)² · 4K(KᵀK − sI)
        grad = (64 / width) ** 2 * 4 * k @ (k.T @ k - 2.0 * np.eye(width))
        np.testing.assert_allclose(new["torso"][layer]["kernel"], k - 0.01 * grad, rtol=1e-4)
    for path in (("head", "kernel"), ("torso", "dense_0", "bias"), ("encoder", "conv_0", "kernel")):
        a, b = new, p
        for key in path:
            a, b = a[key], b[key]
        np.testing.assert_array_equal(a, b)


def test_weight_clip_bounds_are_kappa_over_sqrt_fan_in_for_weights_and_biases():
    p = params_tree()
    bounds = clip_bounds(p, 3.0)
    assert float(bounds["torso"]["dense_0"]["kernel"]) == pytest.approx(3 / math.sqrt(5))
    assert float(bounds["torso"]["dense_0"]["bias"]) == pytest.approx(3 / math.sqrt(5))
    assert float(bounds["encoder"]["conv_0"]["kernel"]) == pytest.approx(3 / math.sqrt(12))
    assert float(bounds["head"]["bias"]) == pytest.approx(3 / math.sqrt(3))
    assert math.isinf(float(bounds["torso"]["norm_0"]["scale"]))
    assert math.isinf(float(bounds["log_std"]))
    ensemble = {"torso": {"dense_0": {"kernel": jnp.ones((2, 7, 3)), "bias": jnp.ones((2, 3))}}}
    assert float(clip_bounds(ensemble, 1.0)["torso"]["dense_0"]["kernel"]) == pytest.approx(
        1 / math.sqrt(7)
    )
    from plastix.plasticity.interventions.weight_clip import WeightClip

    g = jax.tree.map(lambda x: -10.0 * jnp.ones_like(x), p)  # pushes everything up by 10
    new, _ = step(WeightClip.wrap(WeightClipConfig(kappa=3.0)), p, g)
    np.testing.assert_allclose(new["torso"]["dense_1"]["kernel"], 3 / math.sqrt(3), rtol=1e-6)
    np.testing.assert_allclose(new["torso"]["norm_0"]["scale"], p["torso"]["norm_0"]["scale"] + 10)


def test_nap_projects_kernels_to_their_initial_norm_and_layernorm_jointly_to_sqrt_d():
    p = params_tree()
    initial, project = nap_projection(project_head=False)
    g = jax.tree.map(lambda x: jnp.full_like(x, -0.7), p)
    from plastix.plasticity.interventions.nap import NaP

    new, _ = step(NaP.wrap(NaPConfig(on=True)), p, g)
    for path in (("torso", "dense_0"), ("torso", "dense_1"), ("encoder", "conv_0")):
        a, b = new[path[0]][path[1]]["kernel"], p[path[0]][path[1]]["kernel"]
        assert float(jnp.linalg.norm(a)) == pytest.approx(float(jnp.linalg.norm(b)), rel=1e-5)
        # the direction is that of the plain step's result
        stepped = b + 0.7
        np.testing.assert_allclose(
            a, stepped * jnp.linalg.norm(b) / jnp.linalg.norm(stepped), rtol=1e-5
        )
    norm = new["torso"]["norm_0"]
    joint = math.sqrt(float(jnp.sum(norm["scale"] ** 2) + jnp.sum(norm["bias"] ** 2)))
    assert joint == pytest.approx(math.sqrt(3), rel=1e-5)
    np.testing.assert_allclose(new["head"]["kernel"], p["head"]["kernel"] + 0.7, rtol=1e-6)
    np.testing.assert_allclose(new["torso"]["dense_0"]["bias"], p["torso"]["dense_0"]["bias"] + 0.7)
    new, _ = step(NaP.wrap(NaPConfig(on=True, project_head=True)), p, g)
    assert float(jnp.linalg.norm(new["head"]["kernel"])) == pytest.approx(
        float(jnp.linalg.norm(p["head"]["kernel"])), rel=1e-5
    )
    # an ensemble (SAC's twin critics) keeps each member's norm
    twin = {"torso": {"dense_0": {"kernel": jnp.stack([jnp.eye(3), 2 * jnp.eye(3)])}}}
    moved = {"torso": {"dense_0": {"kernel": 5 * twin["torso"]["dense_0"]["kernel"]}}}
    norms = initial(twin)
    out = project(moved, norms)["torso"]["dense_0"]["kernel"]
    np.testing.assert_allclose(
        jnp.linalg.norm(out, axis=(1, 2)), [math.sqrt(3), 2 * math.sqrt(3)], rtol=1e-6
    )


def test_erfi_matches_scipy():
    x = np.array([-9, -3.5, -1, -0.2, 0, 1e-4, 0.3, 1 / math.sqrt(2), 1, 2, 4.5, 8, 9], np.float32)
    np.testing.assert_allclose(erfi(jnp.asarray(x)), scipy.special.erfi(x.astype(float)), rtol=2e-5)


def reference_trac(params, grads_seq, lr, s_prior=1e-8, eps=1e-8):
    """The authors' PyTorch TRAC step (trac_optimizer/trac.py), transcribed in numpy with SGD as
    the base optimizer, including its recovery of Δ from the parameters."""
    betas = np.asarray(BETAS)
    theta = np.asarray(params, np.float64)
    ref = theta.copy()
    s, v, sigma = np.zeros(6), np.zeros(6), np.full(6, 1e-8)
    for g in grads_seq:
        delta_prev = (theta - ref) / (s.sum() + eps)
        u = -lr * g
        h = float(np.dot(delta_prev, g))
        delta = delta_prev + u
        v = betas**2 * v + h**2
        sigma = betas * sigma - h
        f = s_prior / scipy.special.erfi(1 / math.sqrt(2))
        s = f * scipy.special.erfi(sigma / (math.sqrt(2) * np.sqrt(v) + eps))
        theta = ref + max(s.sum(), 0.0) * delta
    return theta


def test_trac_follows_the_reference_update():
    rng = np.random.default_rng(0)
    theta0 = rng.normal(size=6).astype(np.float32)
    # gradients that keep one sign for a while (S grows), then turn
    grads = [np.abs(rng.normal(size=6)) + 0.5 for _ in range(30)] + [
        -np.abs(rng.normal(size=6)) for _ in range(10)
    ]
    tx = trac(s_prior=1e-2)(optax.sgd(0.1))  # a large prior, so that it moves in 40 steps
    p = {"w": jnp.asarray(theta0)}
    state = tx.init(p)
    for g in grads:
        u, state = tx.update({"w": jnp.asarray(g, jnp.float32)}, state, p)
        p = optax.apply_updates(p, u)
    expected = reference_trac(theta0, grads, 0.1, s_prior=1e-2)
    assert np.abs(expected - theta0).max() > 1e-3  # it did move
    np.testing.assert_allclose(p["w"], expected, rtol=1e-4, atol=1e-6)


def test_trac_rebases_what_an_intervention_resets():
    tx = trac()(optax.sgd(0.1))
    p = {"a": jnp.ones(3), "b": jnp.ones(2)}
    state = tx.init(p)
    for _ in range(5):
        u, state = tx.update({"a": jnp.ones(3), "b": jnp.ones(2)}, state, p)
        p = optax.apply_updates(p, u)
    mask = {"a": jnp.array([True, False, False]), "b": False}
    state = optim.reset_where(state, mask)
    assert isinstance(state, TracState)
    p = {"a": p["a"].at[0].set(7.0), "b": p["b"]}  # the reset's new value
    u, state = tx.update({"a": jnp.zeros(3), "b": jnp.zeros(2)}, state, p)
    assert float(state.ref["a"][0]) == 7.0 and float(state.ref["a"][1]) == 1.0
    assert float(state.delta["a"][0]) == 0.0 and float(state.delta["a"][1]) != 0.0
    assert float(optax.apply_updates(p, u)["a"][0]) == 7.0  # kept, not pulled back


def test_conflicting_cures_are_refused_before_building():
    both = PlasticityConfig(crelu=CReLUConfig(on=True), fourier=FourierConfig(on=True))
    with pytest.raises(ConfigError, match="activation"):
        scheduler.build_options(both)
    with pytest.raises(ConfigError, match="trac cannot be combined with nap"):
        scheduler.build_options(PlasticityConfig(trac=TRACConfig(on=True), nap=NaPConfig(on=True)))
    options = scheduler.build_options(
        PlasticityConfig(nap=NaPConfig(on=True), l2=L2Config(coef=1e-3), crelu=CReLUConfig(on=True))
    )
    assert options["body"] == {"layer_norm": True, "activation": "crelu"}
    assert len(options["wraps"]) == 2


def test_redo_treats_a_crelu_unit_as_dormant_only_when_both_halves_are():
    params = {
        "critic": {
            "torso": {"dense_0": {"kernel": jnp.ones((4, 3)), "bias": jnp.ones(3)}},
            "head": {"kernel": jnp.ones((6, 2)), "bias": jnp.ones(2)},
        }
    }
    h = np.ones((8, 6), np.float32)
    h[:, 0] = h[:, 3] = 0.0  # unit 0: both relu(x) and relu(-x) silent -> dormant
    h[:, 1] = 0.0  # unit 1: only one half silent -> alive
    incoming, outgoing = redo_masks(
        params, {"critic": [{"torso/dense_0": jnp.asarray(h)}]}, 0.1, ["critic"]
    )
    np.testing.assert_array_equal(
        incoming["critic"]["torso"]["dense_0"]["bias"], [True, False, False]
    )
    rows = np.asarray(outgoing["critic"]["head"]["kernel"])[:, 0]
    np.testing.assert_array_equal(rows, [True, False, False, True, False, False])


def test_cbp_replaces_the_lowest_utility_mature_units_by_definition():
    from plastix.plasticity.interventions.cbp import lowest, replace_units, utility

    h = jnp.asarray([[1.0, 2.0, 0.5], [3.0, 0.0, 0.5]])  # E|h| = 2, 1, 0.5
    k = jnp.asarray([[1.0, 1.0], [4.0, 0.0], [1.0, 3.0]])  # mean|w_out| = 1, 2, 2
    np.testing.assert_allclose(utility(h, k, 3), [2.0, 2.0, 1.0])
    # CReLU copies: a unit sums its two outputs' contributions
    np.testing.assert_allclose(utility(jnp.ones((2, 4)), jnp.ones((4, 1)), 2), [2.0, 2.0])
    scores = jnp.asarray([0.3, 0.1, 0.2, 0.05])
    eligible = jnp.asarray([True, True, True, False])
    np.testing.assert_array_equal(lowest(scores, eligible, 2), [False, True, True, False])
    np.testing.assert_array_equal(lowest(scores, eligible, 0), [False] * 4)

    class Toy:
        def init(self, key):
            return type("S", (), {"params": fresh})()

        def activations(self, state, batch):
            return {"critic": [{"torso/dense_0": jnp.asarray([[1.0, 0.1, 2.0]])}]}

    ones = lambda *s: jnp.ones(s)  # noqa: E731
    params = {
        "critic": {
            "torso": {"dense_0": {"kernel": ones(2, 3), "bias": ones(3)}},
            "head": {"kernel": ones(3, 2), "bias": ones(2)},
        }
    }
    fresh = jax.tree.map(lambda p: 5 * p, params)
    from plastix.agents.base import AgentState

    tx = optim.adam(0.1)
    state = AgentState(params, {}, {"critic": tx.init(params["critic"])}, jnp.int32(0))
    eligible = {"critic/torso/dense_0": jnp.asarray([True, True, False])}
    new, replaced = replace_units(
        Toy(), state, None, None, eligible, {"critic/torso/dense_0": jnp.int32(1)}, ["critic"]
    )
    # utilities 1·1 = 1, 0.1·1 = 0.1, 2·1 = 2 (head rows of ones); unit 2 is not mature
    np.testing.assert_array_equal(replaced["critic/torso/dense_0"], [False, True, False])
    np.testing.assert_array_equal(new.params["critic"]["torso"]["dense_0"]["kernel"][:, 1], 5.0)
    np.testing.assert_array_equal(new.params["critic"]["torso"]["dense_0"]["kernel"][:, 0], 1.0)
    np.testing.assert_array_equal(new.params["critic"]["head"]["kernel"][1], 0.0)
    np.testing.assert_array_equal(new.params["critic"]["head"]["kernel"][0], 1.0)


def test_cbp_in_a_run_renews_mature_units_at_its_rate(tmp_path):
    import plastix
    from plastix.plasticity.interventions import CBPConfig

    r = plastix.train(
        "dqn",
        "CartPole-v1",
        steps=1_500,
        seeds=2,
        eval_every=1_500,
        eval_episodes=1,
        progress=False,
        hidden_sizes=(16, 16),
        learning_starts=500,
        batch_size=16,
        plasticity=PlasticityConfig(
            cbp=CBPConfig(every=100, replacement_rate=0.01, maturity=200, batch_size=16)
        ),
    )
    rows = r.metrics[r.metrics.metric == "intervention/cbp"]
    per_step = rows.pivot_table(index="step", columns="seed", values="value")
    # updates start at step 500, so the boundary at step 500 + 100j has had 100j + 1 updates.
    # Units mature at age > 200: at the second application (age 201) every unit of both
    # layers is mature and ρ·100·16 = 16 are owed per layer, so all 32 are replaced; they
    # are mature again three applications later (ages 100, 200, 300).
    expected = [0, 32, 0, 0, 32, 0, 0, 32, 0]
    assert list(per_step.index) == list(range(600, 1500, 100))
    for seed in per_step.columns:
        assert per_step[seed].tolist() == expected
    assert np.isfinite(r.metrics.value.to_numpy()).all()


def test_parseval_diag_layers_add_unregularised_per_unit_scales_that_redo_restarts():
    """``--parseval.diag-layers``: a scale (from 1) and offset (from 0) per unit after every
    hidden layer, before the activation; the penalty leaves them alone; ReDo and continual
    backprop restart them with their unit."""
    import plastix
    from plastix.plasticity.interventions import ParsevalConfig

    parseval = ParsevalConfig(coef=1e-3, diag_layers=True)
    options = scheduler.build_options(PlasticityConfig(parseval=parseval))
    assert options["body"] == {"diag": True}
    result = plastix.train(
        "dqn",
        "CartPole-v1",
        steps=300,
        hidden_sizes=(8, 8),
        batch_size=8,
        learning_starts=100,
        eval_every=300,
        eval_episodes=1,
        progress=False,
        plasticity=PlasticityConfig(parseval=parseval),
    )
    params = jax.tree.map(lambda x: x[0], result.state.agent.params["critic"])
    diag = params["torso"]["diag_0"]
    assert diag["scale"].shape == (8,) and diag["bias"].shape == (8,)
    assert not np.allclose(diag["scale"], 1.0)  # learned: the gradient reaches it
    g = jax.tree.map(jnp.zeros_like, params)
    new, _ = step(optim.add_gradient(parseval_gradient(0.1, 2.0)), params, g)
    np.testing.assert_array_equal(new["torso"]["diag_0"]["scale"], diag["scale"])
    dormant = np.zeros((4, 8), np.float32)
    dormant[:, 1:] = 1.0  # unit 0 dormant
    incoming, _ = redo_masks(
        {"critic": params}, {"critic": [{"torso/dense_0": jnp.asarray(dormant)}]}, 0.1, ["critic"]
    )
    mask = incoming["critic"]["torso"]["diag_0"]
    np.testing.assert_array_equal(mask["scale"], [True] + [False] * 7)
    np.testing.assert_array_equal(mask["bias"], [True] + [False] * 7)
