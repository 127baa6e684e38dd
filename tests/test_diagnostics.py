import numpy as np
import pytest

import plastix
from plastix.errors import ConfigError
from plastix.plasticity.diagnostics import DiagnosticsConfig

TINY = dict(
    steps=600,
    eval_every=600,
    eval_episodes=1,
    log_every=300,
    progress=False,
    hidden_sizes=(16, 16),
    batch_size=16,
    learning_starts=100,
)
PER_NETWORK = (
    "fau",
    "dormant_0",
    "dormant",
    "erank",
    "srank",
    "feature_norm",
    "weight_norm",
    "distance_from_init",
)


def wide(result):
    m = result.metrics
    return m.pivot_table(index=["seed", "step"], columns="metric", values="value")


@pytest.mark.parametrize(
    "agent, env, networks",
    [
        ("dqn", "MinAtar-Breakout", ("critic", "critic/encoder")),
        ("sac", "Pendulum-v1", ("critic", "actor")),
        ("dqn", "gymnasium:CartPole-v1", ("critic",)),
    ],
)
def test_diagnostics_are_logged_per_network_and_seed(agent, env, networks):
    options = dict(TINY, conv_channels=(4,)) if "MinAtar" in env else TINY
    result = plastix.train(agent, env, seeds=2, diagnostics=DiagnosticsConfig(every=300), **options)
    table = wide(result)
    for network in networks:
        for name in PER_NETWORK:
            column = f"{network}/{name}"
            assert column in table, column
            values = table[column].dropna()
            assert list(values.index.get_level_values("step").unique()) == [300, 600]
            assert set(values.index.get_level_values("seed")) == {0, 1}
            assert np.isfinite(values).all()
        fau = table[f"{network}/fau"].dropna()
        assert ((fau > 0) & (fau <= 1)).all()
        for name in ("dormant_0", "dormant"):
            ratio = table[f"{network}/{name}"].dropna()
            assert ((ratio >= 0) & (ratio <= 1)).all()
        pair = table[[f"{network}/dormant_0", f"{network}/dormant"]].dropna()
        assert (pair.iloc[:, 0] <= pair.iloc[:, 1] + 1e-9).all()  # τ = 0 counts fewer units
    root = networks[0]
    distance = table[f"{root}/distance_from_init"].dropna()
    assert (distance.xs(600, level="step") > 0).all()  # training moved the weights


def test_diagnostics_can_be_turned_off():
    result = plastix.train("dqn", "CartPole-v1", diagnostics=DiagnosticsConfig(every=None), **TINY)
    assert not any("/" in m for m in set(result.metrics.metric))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("every", 0, "diagnostics.every must be a positive interval"),
        ("dormant_tau", -0.1, "dormant_tau"),
    ],
)
def test_diagnostics_config_validation(field, value, message):
    with pytest.raises(ConfigError, match=message):
        DiagnosticsConfig(**{field: value})
