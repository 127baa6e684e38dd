"""Multi-armed bandits as jittable tasks, and the classic algorithms that solve them.

A task is the vector of arm means. ``BanditEnv`` follows the plastix environment protocol (one
pull per step, an episode of ``horizon`` pulls, a constant observation) with the task in its
state: ``reset(key)`` draws a task, ``reset_to(key, means)`` starts a given one. The means are
standard normal or uniform in [0, 1] (``means``; by default normal for Gaussian arms, uniform
for Bernoulli arms; Lee et al. 2023's bandits are Gaussian arms with uniform means).
Rewards: Bernoulli(μ_a), or Normal(μ_a, σ).

The baselines — uniform random, UCB1 and Thompson sampling (Beta-Bernoulli, or a Gaussian
prior with known σ that matches the means' distribution: N(0, 1), or N(1/2, 1/12) for
uniform means as in Lee et al.'s code) — run on a batch of tasks at once and return each
task's rewards and pseudo-regret (``max μ − μ_a`` per pull, summed).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct

from plastix.envs.base import TimeStep
from plastix.envs.spaces import Box, Discrete
from plastix.errors import require

KINDS = ("bernoulli", "gaussian")
MEANS = ("normal", "uniform")


@struct.dataclass
class BanditState:
    means: jax.Array
    t: jax.Array


@dataclass(frozen=True)
class BanditEnv:
    """``num_arms`` arms, ``horizon`` pulls per episode; ``kind`` bernoulli or gaussian."""

    num_arms: int = 5
    kind: str = "gaussian"
    sigma: float = 0.3
    horizon: int = 100
    means: str = ""
    """normal or uniform; empty: normal for gaussian arms, uniform for bernoulli arms."""

    def __post_init__(self):
        require(self.num_arms >= 2, f"num_arms must be >= 2, got {self.num_arms}")
        require(self.kind in KINDS, f"kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        if not self.means:
            object.__setattr__(self, "means", "uniform" if self.kind == "bernoulli" else "normal")
        require(self.means in MEANS, f"means must be one of {', '.join(MEANS)}; got {self.means!r}")
        require(
            self.kind == "gaussian" or self.means == "uniform",
            "bernoulli arms need means in [0, 1] (means uniform)",
        )
        require(self.sigma > 0, f"sigma must be > 0, got {self.sigma}")
        require(self.horizon >= 1, f"horizon must be >= 1, got {self.horizon}")

    @property
    def name(self) -> str:
        return f"bandit-{self.kind}-{self.num_arms}"

    @property
    def observation_space(self):
        return Box.from_bounds(0.0, 1.0, (1,))

    @property
    def action_space(self):
        return Discrete(self.num_arms)

    @property
    def max_episode_steps(self) -> int:
        return self.horizon

    def sample_tasks(self, key, count: int | None = None):
        shape = (self.num_arms,) if count is None else (count, self.num_arms)
        if self.means == "uniform":
            return jax.random.uniform(key, shape)
        return jax.random.normal(key, shape)

    def reset_to(self, key, means):
        return jnp.ones(1, jnp.float32), BanditState(means, jnp.int32(0))

    def reset(self, key):
        return self.reset_to(key, self.sample_tasks(key))

    def pull(self, key, means, action):
        mean = means[action]
        if self.kind == "bernoulli":
            return jax.random.bernoulli(key, mean).astype(jnp.float32)
        return mean + self.sigma * jax.random.normal(key)

    def step(self, key, state: BanditState, action):
        reward = self.pull(key, state.means, action)
        t1 = state.t + 1
        truncated = t1 >= self.horizon
        obs = jnp.ones(1, jnp.float32)
        # at the end of an episode the same task starts again (the task is the environment)
        new = BanditState(state.means, jnp.where(truncated, 0, t1))
        return TimeStep(obs, reward, jnp.bool_(False), truncated, obs), new


# baselines -------------------------------------------------------------------------------


def _run(env: BanditEnv, choose, update, init, means, key):
    """Runs one policy on one task for ``env.horizon`` pulls; returns
    ``(actions, rewards, regret)``, each ``[horizon]``."""

    def step(carry, key):
        stats = carry
        choose_key, pull_key = jax.random.split(key)
        action = choose(stats, choose_key)
        reward = env.pull(pull_key, means, action)
        out = (action.astype(jnp.int32), reward, jnp.max(means) - means[action])
        return update(stats, action, reward), out

    _, out = jax.lax.scan(step, init, jax.random.split(key, env.horizon))
    return out


def _counts_init(k):
    return (jnp.zeros(k), jnp.zeros(k), jnp.int32(0))  # pulls, reward sums, t


def _counts_update(stats, action, reward):
    n, s, t = stats
    return n.at[action].add(1.0), s.at[action].add(reward), t + 1


def random_policy(env: BanditEnv, means, key):
    k = env.num_arms
    return _run(
        env,
        lambda stats, key: jax.random.randint(key, (), 0, k),
        _counts_update,
        _counts_init(k),
        means,
        key,
    )


def ucb(env: BanditEnv, means, key, c: float | None = None):
    """UCB1: each arm once, then ``argmax mean + c·sqrt(2 ln t / n)`` (``c`` = σ for Gaussian
    arms, 1 for Bernoulli)."""
    k = env.num_arms
    c = (env.sigma if env.kind == "gaussian" else 1.0) if c is None else c

    def choose(stats, key):
        n, s, t = stats
        bonus = c * jnp.sqrt(2.0 * jnp.log(jnp.maximum(t, 1)) / jnp.maximum(n, 1e-9))
        score = jnp.where(n > 0, s / jnp.maximum(n, 1e-9) + bonus, jnp.inf)
        return jnp.argmax(score)

    return _run(env, choose, _counts_update, _counts_init(k), means, key)


def thompson(env: BanditEnv, means, key):
    """Thompson sampling: Beta(1, 1) priors (Bernoulli) or, with known σ, N(0, 1) priors
    (normal means) or N(1/2, 1/12) priors (uniform means)."""
    k = env.num_arms
    prior_mean, prior_var = (0.0, 1.0) if env.means == "normal" else (0.5, 1.0 / 12.0)

    def choose(stats, key):
        n, s, _ = stats
        if env.kind == "bernoulli":
            sample = jax.random.beta(key, 1.0 + s, 1.0 + n - s)
        else:
            precision = 1.0 / prior_var + n / env.sigma**2
            mean = (prior_mean / prior_var + s / env.sigma**2) / precision
            sample = mean + jax.random.normal(key, (k,)) / jnp.sqrt(precision)
        return jnp.argmax(sample)

    return _run(env, choose, _counts_update, _counts_init(k), means, key)


BASELINES = {"random": random_policy, "ucb": ucb, "thompson": thompson}


def baseline_regret(env: BanditEnv, name: str, tasks, key):
    """Cumulative pseudo-regret ``[tasks, horizon]`` of a baseline on a batch of tasks."""
    fn = BASELINES[name]
    keys = jax.random.split(key, tasks.shape[0])
    _, _, regret = jax.vmap(lambda m, k: fn(env, m, k))(tasks, keys)
    return jnp.cumsum(regret, axis=-1)
