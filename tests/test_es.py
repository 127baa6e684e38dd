"""OpenAI-ES: perturbations from seeds, the update's arithmetic, learning, checkpoints."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import plastix
from plastix.api import resume
from plastix.envs import make_env
from plastix.errors import ConfigError
from plastix.es import ESConfig, OpenAIES, params_hash
from plastix.plasticity.diagnostics import DiagnosticsConfig

ENV = make_env("CartPole-v1")
NO_DIAGNOSTICS = DiagnosticsConfig(every=None)


def test_mirrored_perturbations_are_regenerated_from_the_seed():
    es = OpenAIES(ESConfig(population=4, sigma=0.5, hidden_sizes=(8,)), ENV)
    state = es.init(jax.random.key(3))
    a, b = es.noise(state, 1), es.noise(state, 1)
    np.testing.assert_array_equal(a, b)  # the same (seed, generation, pair): the same noise
    assert not np.allclose(es.noise(state, 0), a)
    later = state.replace(generation=state.generation + 1)
    assert not np.allclose(es.noise(later, 1), a)
    assert a.shape == (es.num_params,)


def test_update_is_the_centred_rank_estimate():
    config = ESConfig(
        population=4,
        sigma=0.1,
        learning_rate=1.0,
        optimizer="sgd",
        momentum=0.0,
        weight_decay=0.0,
        hidden_sizes=(4,),
    )
    es = OpenAIES(config, ENV)
    state = es.init(jax.random.key(0))
    fitness = jnp.array([10.0, 0.0, 3.0, 5.0])  # ranks 3, 0, 1, 2 -> shaped .5, -.5, -1/6, 1/6
    new = es.update(state, fitness, jnp.ones(4, jnp.int32), jnp.zeros((4, 9)))
    shaped = np.array([0.5, -0.5, -1 / 6, 1 / 6])
    grad = (
        (shaped[0] - shaped[1]) * es.noise(state, 0) + (shaped[2] - shaped[3]) * es.noise(state, 1)
    ) / (4 * 0.1)
    np.testing.assert_allclose(new.params - state.params, grad, rtol=1e-5, atol=1e-6)
    assert int(new.generation) == 1 and int(new.env_steps) == 4
    # a subset of members gives the same results as the whole population
    all_members = es.evaluate_members(state, jnp.arange(4))
    first, second = (
        es.evaluate_members(state, jnp.arange(2)),
        es.evaluate_members(state, jnp.arange(2, 4)),
    )
    for whole, a, b in zip(all_members, first, second, strict=True):
        np.testing.assert_array_equal(whole, np.concatenate([a, b]))


def test_weight_decay_and_observation_statistics():
    config = ESConfig(
        population=2,
        optimizer="sgd",
        momentum=0.0,
        learning_rate=1.0,
        weight_decay=0.5,
        obs_norm=True,
        hidden_sizes=(4,),
    )
    es = OpenAIES(config, ENV)
    state = es.init(jax.random.key(1))
    sums = jnp.array([[2.0, 1, 2, 3, 4, 1, 4, 9, 16], [2.0, 1, 2, 3, 4, 1, 4, 9, 16]])
    new = es.update(state, jnp.array([1.0, 1.0]), jnp.ones(2, jnp.int32), sums)
    # equal fitness: ranks 0 and 1 still differ, so check decay through a zero-noise identity
    shaped = np.array([-0.5, 0.5])
    grad = (shaped[0] - shaped[1]) * es.noise(state, 0) / (2 * config.sigma)
    np.testing.assert_allclose(
        new.params, state.params - (-grad + 0.5 * state.params), rtol=1e-5, atol=1e-6
    )
    mean, std = es.normalizer(new.obs_stats)
    np.testing.assert_allclose(mean, [0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(std, np.sqrt([0.25, 1.0, 2.25, 4.0]), rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(population=5), "even number"),
        (dict(optimizer="rmsprop"), "adam, sgd"),
        (dict(backend="mpi"), "local, ray"),
    ],
)
def test_bad_config_names_the_choices(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ESConfig(**kwargs)


def test_es_solves_cartpole_with_the_local_backend(tmp_path):
    # measured: 10 of 10 seeds reach a mean of 500 over 20 episodes within 224k steps
    result = plastix.train(
        "es",
        env="CartPole-v1",
        steps=250_000,
        seeds=2,
        eval_every=20_000,
        eval_episodes=20,
        progress=False,
        diagnostics=DiagnosticsConfig(every=100_000),
        out=tmp_path / "es",
    )
    assert result.eval_returns().max().min() == 500
    summary = result.summary
    assert summary["backend"]["kind"] == "local" and summary["backend"]["num_params"] == 1282
    assert {"fitness_mean", "update_norm", "actor/fau"} <= set(result.metrics.metric)
    assert result.predict(np.zeros((5, 4), np.float32)).shape == (5,)


def test_resume_gives_the_uninterrupted_result(tmp_path):
    kw = dict(
        env="CartPole-v1",
        seeds=2,
        eval_every=1,
        eval_episodes=3,
        progress=False,
        diagnostics=NO_DIAGNOSTICS,
        population=8,
        hidden_sizes=(8,),
    )
    full = plastix.train("es", steps=3_000, out=tmp_path / "full", **kw)
    plastix.train("es", steps=1_500, out=tmp_path / "part", **kw)
    resumed = resume(tmp_path / "part", steps=3_000, progress=False)
    assert params_hash(full.state) == params_hash(resumed.state)
    a = full.metrics.sort_values(["seed", "step", "metric"]).reset_index(drop=True)
    b = resumed.metrics.sort_values(["seed", "step", "metric"]).reset_index(drop=True)
    timing = ["generation_seconds", "steps_per_second"]
    assert a[~a.metric.isin(timing)].seed.tolist() == b[~b.metric.isin(timing)].seed.tolist()
    evals = lambda m: m[m.metric == "eval_return"].value.to_numpy()  # noqa: E731
    np.testing.assert_array_equal(evals(a), evals(b))
    with pytest.raises(ConfigError, match="must be >="):
        resume(tmp_path / "part", steps=100, progress=False)
