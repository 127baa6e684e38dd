import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plastix.nets import NetSpec, QNetwork
from plastix.plasticity import metrics


def test_fraction_active_units_hand_computed():
    layers = {
        "torso/dense_0": jnp.array([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]]),  # 3 of 6 active
        "torso/dense_1": jnp.array([[0.5], [0.0]]),  # 1 of 2 active
    }
    assert float(metrics.fraction_active_units(layers)) == pytest.approx(4 / 8)


def test_dormant_ratio_hand_computed():
    # E|h| per unit: [1, 0, 2, 0.05] -> mean 0.7625 -> scores [1.31, 0, 2.62, 0.066]
    h = jnp.array([[1.0, 0.0, 2.0, 0.1], [1.0, 0.0, 2.0, 0.0]])
    layers = {"torso/dense_0": h}
    np.testing.assert_allclose(
        metrics.unit_scores(h), [1 / 0.7625, 0, 2 / 0.7625, 0.05 / 0.7625], rtol=1e-5
    )
    assert float(metrics.dormant_ratio(layers, tau=0.0)) == pytest.approx(1 / 4)
    assert float(metrics.dormant_ratio(layers, tau=0.1)) == pytest.approx(2 / 4)


def test_conv_units_are_channels_averaged_over_batch_and_space():
    h = jnp.zeros((2, 3, 3, 2)).at[0, 1, 1, 0].set(9.0)  # channel 0 fires once, channel 1 never
    np.testing.assert_array_equal(metrics.dormant_mask(h, 0.0), [False, True])
    # FAU counts every spatial position of every channel: 1 active of 36.
    assert float(metrics.fraction_active_units({"encoder/conv_0": h})) == pytest.approx(1 / 36)


def test_effective_rank_and_srank_hand_computed():
    features = jnp.diag(jnp.array([3.0, 1.0, 0.0]))  # singular values 3, 1, 0
    p = np.array([0.75, 0.25])
    expected = np.exp(-(p * np.log(p)).sum())
    assert float(metrics.effective_rank(features)) == pytest.approx(expected, rel=1e-5)
    assert int(metrics.srank(features)) == 2
    assert int(metrics.srank(jnp.eye(4))) == 4
    assert float(metrics.effective_rank(jnp.eye(4))) == pytest.approx(4.0, rel=1e-5)


def test_norms_and_distance():
    a = {"w": jnp.array([3.0, 4.0])}
    b = {"w": jnp.array([0.0, 0.0])}
    assert float(metrics.tree_norm(a)) == pytest.approx(5.0)
    assert float(metrics.distance(a, b)) == pytest.approx(5.0)
    assert float(metrics.feature_norm(jnp.array([[3.0, 4.0], [0.0, 0.0]]))) == pytest.approx(2.5)


def test_layer_outputs_are_keyed_by_parameter_path():
    net = QNetwork(3, NetSpec((8, 4), (2,), (3,), (1,)))
    params = net.init(jax.random.key(0), jnp.zeros((6, 6, 1)))["params"]
    _, state = net.apply({"params": params}, jnp.ones((5, 6, 6, 1)), mutable=["activations"])
    layers = metrics.layer_outputs(state["activations"])
    assert set(layers) == {"encoder/conv_0", "torso/dense_0", "torso/dense_1"}
    for path in layers:
        scope, name = path.split("/")
        assert name in params[scope]
    assert layers["encoder/conv_0"].shape == (5, 4, 4, 2)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**16))
def test_metric_ranges_on_random_relu_layers(batch, units, seed):
    h = jax.nn.relu(jax.random.normal(jax.random.key(seed), (batch, units)))
    fau = float(metrics.fraction_active_units({"l": h}))
    assert 0.0 <= fau <= 1.0
    # a unit that is never active is 0-dormant, and every 0-dormant unit is never active
    never_active = np.asarray((h > 0).sum(0) == 0)
    np.testing.assert_array_equal(np.asarray(metrics.dormant_mask(h, 0.0)), never_active)
    assert 1.0 <= float(metrics.effective_rank(h)) <= min(batch, units) + 1e-4 or not h.any()
