"""Stochastic stateful policies (``ppo-s2pg``): the internal state sampled like an action gives
an unbiased gradient without backpropagation through time, and the environment wrapper keeps
the state as the paper's augmented problem does."""

import json

import jax
import jax.numpy as jnp
import numpy as np

import plastix
from plastix.cli import main
from plastix.envs import make_env
from plastix.envs.spaces import Box
from plastix.nets import NetSpec
from plastix.onpolicy.stateful import StatefulEnv, StatefulPolicy
from plastix.onpolicy.variance import bias_test


def exact_objective(theta):
    """A cue ``s0 = ±1`` at step 0, then nothing: ``z1 ~ N(w s0, σz²)`` is the only memory of
    it and ``a1 ~ N(v z1, σa²)`` is scored ``-(a1 - s0)²``, so
    ``J = -((v w - 1)² + v² σz² + σa²)``."""
    w, v, log_sz, log_sa = theta
    return -((v * w - 1) ** 2 + v**2 * jnp.exp(2 * log_sz) + jnp.exp(2 * log_sa))


def episode_gradients(theta, key, n, with_state_term=True):
    """Per-episode likelihood-ratio gradients of the two-step problem, sampled and scored by
    ``StatefulPolicy`` (its joint distribution of action and next internal state)."""
    policy = StatefulPolicy(
        NetSpec(hidden_sizes=(4,)), Box.from_bounds(-1, 1, (2,)), Box.from_bounds(-9, 9, (1,)), 1, 0
    )

    def first_step(theta, s0):  # (action dist, next state dist) seeing the cue
        w, _, log_sz, log_sa = theta
        return (0.0 * s0, log_sa * jnp.ones(1)), (w * s0, log_sz * jnp.ones(1))

    def second_step(theta, z1):  # seeing nothing but its state
        _, v, log_sz, log_sa = theta
        return (v * z1, log_sa * jnp.ones(1)), (0.0 * z1, log_sz * jnp.ones(1))

    def one(key):
        cue_key, k0, k1 = jax.random.split(key, 3)
        s0 = jnp.where(jax.random.bernoulli(cue_key), 1.0, -1.0) * jnp.ones(1)
        act0 = policy.sample(first_step(theta, s0), k0)
        act1 = policy.sample(second_step(theta, act0[1]), k1)
        reward = -jnp.sum((act1[0] - s0) ** 2)

        def logp(theta):
            first, second = first_step(theta, s0), second_step(theta, act0[1])
            if with_state_term:
                return policy.log_prob(first, act0) + policy.log_prob(second, act1)
            # the action terms only: z treated as given (no BPTT either), which is biased
            base = super(StatefulPolicy, policy).log_prob
            return base(first[0], act0[0]) + base(second[0], act1[0])

        return jax.grad(logp)(theta) * reward

    return np.asarray(jax.jit(jax.vmap(one))(jax.random.split(key, n)))


def test_the_s2pg_gradient_is_unbiased_and_dropping_the_state_term_is_not():
    theta = jnp.array([0.5, 0.8, np.log(0.6), np.log(0.4)])
    exact = np.asarray(jax.grad(exact_objective)(theta))
    key = jax.random.key(0)
    s2pg = bias_test(episode_gradients(theta, key, 20_000) - exact)
    assert s2pg["bias_p"] > 0.01, s2pg
    dropped = bias_test(episode_gradients(theta, key, 20_000, with_state_term=False) - exact)
    assert dropped["bias_p"] < 1e-6, dropped


def test_the_wrapper_appends_the_state_and_zeroes_it_at_each_episode_start():
    env = StatefulEnv(make_env("CartPole-v1"), 3)
    assert env.observation_space.shape == (7,)
    obs, state = env.reset(jax.random.key(0))
    assert (obs[4:] == 0).all()
    step = jax.jit(env.step)
    z = jnp.array([0.3, -2.0, 0.9])  # clipped to [-1, 1]
    for t in range(200):
        ts, state = step(jax.random.key(t), state, (jnp.int32(t % 2), z))
        assert ts.final_obs[4:].tolist() == [0.30000001192092896, -1.0, 0.8999999761581421]
        if ts.terminated | ts.truncated:
            assert (ts.obs[4:] == 0).all() and (state.z == 0).all()
            break
        assert (ts.obs[4:] == ts.final_obs[4:]).all()
    else:
        raise AssertionError("alternating actions ended no CartPole episode in 200 steps")


def test_ppo_s2pg_trains_and_acts_on_the_augmented_observation(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "ppo-s2pg", "--env", "pomdp:CueRoom-9x9", "--steps", "1024", "--seeds", "2"]
    argv += ["--hidden-sizes", "16", "--state-size", "4", "--rollout-steps", "32"]
    assert main([*argv, "--reset.every", "512", "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and len(summary["per_seed"]) == 2
    policy = plastix.load_policy(out)
    action, next_state = policy.predict(np.zeros(5 + 4, np.float32))
    assert action.shape == () and next_state.shape == (4,)
