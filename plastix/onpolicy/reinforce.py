"""REINFORCE (Williams 1992): the likelihood-ratio policy gradient with reward-to-go.

Each iteration plays ``episodes_per_iteration`` whole episodes in vmapped environment copies
(from a fresh reset, up to the time limit) and takes one gradient step on

    - Σ_t log π(a_t | s_t) (G_t - b_t) / N  -  entropy_coef · H[π(· | s_t)]

where ``G_t`` is the discounted reward-to-go and ``N`` the number of valid steps. The baseline
``b_t`` is one of

- ``none``: 0;
- ``mean``: a running mean of the reward-to-go *at time step t*, from earlier iterations only
  (so it does not depend on the current batch and the estimator stays unbiased);
- ``value``: a learned state value ``V(s_t)`` (the ``critic``), regressed on ``G_t`` in the
  same step.

``normalize_advantages`` standardises ``G_t - b_t`` over the batch (the usual variance-for-bias
trade). Discrete and continuous (Gaussian) actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp
import optax
from flax import struct

from plastix.envs.continual import pinned
from plastix.errors import require
from plastix.onpolicy.common import (
    NetworkFields,
    Policy,
    check_spaces,
    discounted_reward_to_go,
    episodes,
    evaluate,
    normalize,
    optimizer,
    reset_envs,
    rollout,
)

BASELINES = ("none", "mean", "value")


@dataclass(frozen=True)
class REINFORCEConfig(NetworkFields):
    """REINFORCE's hyperparameters."""

    learning_rate: float = 3e-3
    """Adam step size."""
    episodes_per_iteration: int = 8
    """episodes per iteration (one per environment copy, vmapped)."""
    gamma: float = 0.99
    """discount factor of the reward-to-go."""
    baseline: Literal["none", "mean", "value"] = "value"
    """none, mean (running mean of the reward-to-go per time step) or value (learned V(s))."""
    baseline_decay: float = 0.9
    """``mean`` baseline: b_t <- decay · b_t + (1 - decay) · batch mean of G_t."""
    value_coef: float = 0.5
    """weight of the value regression loss (``value`` baseline)."""
    normalize_advantages: bool = True
    """standardise G_t - b_t over the batch."""
    entropy_coef: float = 0.0
    """weight of the entropy bonus."""
    max_grad_norm: float = 1.0
    """clip gradients to this global norm (``inf``: no clipping)."""

    def __post_init__(self):
        self.check_network()
        require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        require(
            self.episodes_per_iteration >= 1,
            f"episodes_per_iteration must be >= 1, got {self.episodes_per_iteration}",
        )
        require(0.0 <= self.gamma <= 1.0, f"gamma must be in [0, 1], got {self.gamma}")
        require(
            self.baseline in BASELINES,
            f"baseline must be one of {', '.join(BASELINES)}; got {self.baseline!r}",
        )
        require(
            0.0 <= self.baseline_decay < 1.0,
            f"baseline_decay must be in [0, 1), got {self.baseline_decay}",
        )
        require(self.entropy_coef >= 0, f"entropy_coef must be >= 0, got {self.entropy_coef}")
        require(self.max_grad_norm > 0, f"max_grad_norm must be > 0, got {self.max_grad_norm}")


@struct.dataclass
class PGState:
    params: dict[str, Any]
    opt_state: Any
    baseline: jax.Array
    """the ``mean`` baseline per time step (unused otherwise)."""
    env_steps: jax.Array
    iteration: jax.Array


class REINFORCE:
    name = "reinforce"
    Config = REINFORCEConfig

    @staticmethod
    def scenario_stride(config: REINFORCEConfig) -> int:
        """0: a batch of whole episodes runs in the task of the step it starts at (a switch
        lands on the first batch that starts at or after it)."""
        return 0

    def __init__(
        self,
        config: REINFORCEConfig,
        env,
        total_steps: int,
        injection: tuple[str, ...] = (),
        body: dict | None = None,
        wraps: tuple = (),
    ):
        check_spaces(self.name, env.observation_space, env.action_space)
        self.config = config
        self.env = env
        self.observation_space, self.action_space = env.observation_space, env.action_space
        self.total_steps = int(total_steps)
        self.horizon = env.max_episode_steps
        self.networks = ("actor", "critic") if config.baseline == "value" else ("actor",)
        spec = config.net_spec(env.observation_space)
        self.policy = Policy(spec, *_spaces(env), injection, body)
        self.max_steps_per_iteration = config.episodes_per_iteration * self.horizon
        self.tx = optimizer(config.learning_rate, config.max_grad_norm, wraps=wraps)

    def init(self, key) -> PGState:
        params = self.policy.init(key, with_critic=self.config.baseline == "value")
        return PGState(
            params,
            self.tx.init(params),
            jnp.zeros(self.horizon, jnp.float32),
            jnp.zeros((), jnp.int32),
            jnp.zeros((), jnp.int32),
        )

    def sample_episodes(self, params, key, num_envs: int | None = None, clock=0):
        """A batch of whole episodes; in a scenario, in the task of ``clock``."""
        policy = self.policy

        def act(obs, k):
            dist = policy.dist(params["actor"], obs)
            return policy.sample(dist, k)

        # the raw (unclipped) action is what the log-probability is of; clip only for the env
        env = _ClippedActions(pinned(self.env, clock), policy)
        return episodes(env, act, key, num_envs or self.config.episodes_per_iteration, self.horizon)

    def advantages(self, params, baseline, batch):
        """``(G - b, G)``, masked to the valid steps, ``[horizon, num_envs]``."""
        c = self.config
        g = discounted_reward_to_go(batch.reward, batch.valid, c.gamma)
        if c.baseline == "value":
            b = jax.lax.stop_gradient(self.policy.value(params["critic"], batch.obs))
        elif c.baseline == "mean":
            b = baseline[:, None]
        else:
            b = 0.0
        adv = (g - b) * batch.valid
        if c.normalize_advantages:
            adv = normalize(adv, batch.valid)
        return adv, g

    def loss(self, params, baseline, batch):
        c, policy = self.config, self.policy
        adv, g = self.advantages(params, baseline, batch)
        dist = policy.dist(params["actor"], batch.obs)
        logp = policy.log_prob(dist, batch.action)
        n = jnp.maximum(batch.valid.sum(), 1.0)
        pg = -jnp.sum(logp * jax.lax.stop_gradient(adv)) / n
        entropy = jnp.sum(policy.entropy(dist) * batch.valid) / n
        loss = pg - c.entropy_coef * entropy
        aux = {"policy_loss": pg, "entropy": entropy}
        if c.baseline == "value":
            v = policy.value(params["critic"], batch.obs)
            value_loss = jnp.sum(((v - g) * batch.valid) ** 2) / n
            loss = loss + c.value_coef * value_loss
            aux["value_loss"] = value_loss
        return loss, aux

    def iterate(self, state: PGState, key):
        c = self.config
        batch = self.sample_episodes(state.params, key, clock=state.env_steps)
        grads, aux = jax.grad(self.loss, has_aux=True)(state.params, state.baseline, batch)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        baseline = state.baseline
        if c.baseline == "mean":
            g = discounted_reward_to_go(batch.reward, batch.valid, c.gamma)
            count = batch.valid.sum(axis=1)
            mean_g = jnp.sum(g * batch.valid, axis=1) / jnp.maximum(count, 1.0)
            moved = c.baseline_decay * baseline + (1 - c.baseline_decay) * mean_g
            baseline = jnp.where(count > 0, moved, baseline)
        returns = batch.returns
        metrics = dict(
            aux,
            grad_norm=optax.tree.norm(grads),
            episodes=jnp.asarray(returns.shape[0], jnp.float32),
            episode_return_sum=returns.sum(),
        )
        new = PGState(
            params,
            opt_state,
            baseline,
            state.env_steps + batch.lengths.sum(),
            state.iteration + 1,
        )
        return new, metrics

    def evaluate(self, state: PGState, key, num_episodes: int, clock=None):
        """Returns of the deterministic policy; in a scenario, on the task of ``clock``
        (default: the current one)."""
        env = pinned(self.env, state.env_steps if clock is None else clock)
        return evaluate(env, self.policy, state.params["actor"], key, num_episodes)

    def act(self, state: PGState, obs, key, env_step, deterministic: bool = True):
        """Actions for a batch of observations: the mode of the policy, or a sample."""
        dist = self.policy.dist(state.params["actor"], obs)
        action = self.policy.mode(dist) if deterministic else self.policy.sample(dist, key)
        return self.policy.to_env(action)

    def params(self, state: PGState):
        return state.params

    def activations(self, state: PGState, key):
        env = pinned(self.env, state.env_steps)
        return policy_activations(env, self.policy, state.params, key)


def policy_activations(env, policy: Policy, params, key, num_envs: int = 8, steps: int = 32):
    """Activations of the networks on the states the sampling policy visits (a short roll-out
    of ``num_envs`` copies: ``num_envs × steps`` observations)."""
    reset_key, key = jax.random.split(key)
    carry = reset_envs(env, reset_key, num_envs)
    _, traj = rollout(env, policy, params["actor"], carry, key, steps)
    obs = traj.obs.reshape((-1,) + traj.obs.shape[2:])
    return policy.activations(params, obs)


def _spaces(env):
    return env.observation_space, env.action_space


class _ClippedActions:
    """``env`` with continuous actions clipped to the action box before they are applied."""

    def __init__(self, env, policy: Policy):
        self.env, self.policy = env, policy
        self.max_episode_steps = env.max_episode_steps

    def reset(self, key):
        return self.env.reset(key)

    def step(self, key, state, action):
        return self.env.step(key, state, self.policy.to_env(action))
