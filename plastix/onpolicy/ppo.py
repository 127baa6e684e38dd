"""PPO (Schulman et al. 2017): the clipped surrogate objective, GAE, minibatch epochs.

Each iteration rolls ``parallel_envs`` environment copies ``rollout_steps`` steps (episodes carry on
across iterations), computes GAE(λ) advantages — a truncated episode is bootstrapped from the
value of its true last state, a terminated one is not — and takes ``epochs`` passes of
``minibatches`` Adam steps over the shuffled batch. Everything, roll-out included, is one
compiled function; seeds are vmapped over it by the iterative runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from plastix.envs.continual import pinned
from plastix.errors import require
from plastix.onpolicy.common import (
    EnvCarry,
    NetworkFields,
    Policy,
    check_spaces,
    evaluate,
    gae,
    normalize,
    optimizer,
    reset_envs,
    rollout,
)
from plastix.onpolicy.reinforce import policy_activations


@dataclass(frozen=True)
class PPOConfig(NetworkFields):
    """PPO's hyperparameters (defaults: the classic-control settings of CleanRL/PureJaxRL)."""

    learning_rate: float = 2.5e-3
    """Adam step size."""
    anneal_lr: bool = True
    """decay the step size linearly to 0 over the run."""
    parallel_envs: int = 4
    """parallel environment copies (vmapped)."""
    rollout_steps: int = 128
    """steps of every copy per iteration."""
    epochs: int = 4
    """passes over each iteration's batch."""
    minibatches: int = 4
    """minibatches per pass."""
    gamma: float = 0.99
    """discount factor."""
    gae_lambda: float = 0.95
    """λ of the generalised advantage estimate."""
    clip_eps: float = 0.2
    """ε of the clipped probability ratio."""
    value_coef: float = 0.5
    """weight of the value loss."""
    entropy_coef: float = 0.01
    """weight of the entropy bonus."""
    normalize_advantages: bool = True
    """standardise the advantages per minibatch."""
    max_grad_norm: float = 0.5
    """clip gradients to this global norm (``inf``: no clipping)."""

    def __post_init__(self):
        self.check_network()
        require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        require(self.parallel_envs >= 1, f"parallel_envs must be >= 1, got {self.parallel_envs}")
        require(self.rollout_steps >= 1, f"rollout_steps must be >= 1, got {self.rollout_steps}")
        require(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        require(
            self.minibatches >= 1
            and (self.parallel_envs * self.rollout_steps) % self.minibatches == 0,
            f"minibatches must be >= 1 and divide parallel_envs × rollout_steps "
            f"({self.parallel_envs * self.rollout_steps}), got {self.minibatches}",
        )
        require(0.0 <= self.gamma <= 1.0, f"gamma must be in [0, 1], got {self.gamma}")
        require(
            0.0 <= self.gae_lambda <= 1.0, f"gae_lambda must be in [0, 1], got {self.gae_lambda}"
        )
        require(self.clip_eps > 0, f"clip_eps must be > 0, got {self.clip_eps}")
        require(self.entropy_coef >= 0, f"entropy_coef must be >= 0, got {self.entropy_coef}")
        require(self.max_grad_norm > 0, f"max_grad_norm must be > 0, got {self.max_grad_norm}")


@struct.dataclass
class PPOState:
    params: dict[str, Any]
    opt_state: Any
    envs: EnvCarry
    env_steps: jax.Array
    iteration: jax.Array


class PPO:
    name = "ppo"
    Config = PPOConfig
    networks = ("actor", "critic")

    @staticmethod
    def scenario_stride(config: PPOConfig) -> int:
        """The roll-out steps every copy at once: a scenario's clock moves by their number."""
        return config.parallel_envs

    @staticmethod
    def scenario_align(config: PPOConfig) -> tuple[int, str]:
        """A switch falls between roll-outs (the task that ended is evaluated there)."""
        return config.parallel_envs * config.rollout_steps, "ppo's parallel_envs × rollout_steps"

    def __init__(
        self,
        config: PPOConfig,
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
        self.policy = Policy(
            config.net_spec(env.observation_space),
            env.observation_space,
            env.action_space,
            injection,
            body,
        )
        self.max_steps_per_iteration = config.parallel_envs * config.rollout_steps
        iterations = max(1, -(-int(total_steps) // self.max_steps_per_iteration))
        updates = iterations * config.epochs * config.minibatches
        lr = (
            optax.linear_schedule(config.learning_rate, 0.0, updates)
            if config.anneal_lr
            else config.learning_rate
        )
        self.tx = optimizer(lr, config.max_grad_norm, eps=1e-5, wraps=wraps)

    def init(self, key) -> PPOState:
        net_key, env_key = jax.random.split(key)
        params = self.policy.init(net_key, with_critic=True)
        envs = reset_envs(self.env, env_key, self.config.parallel_envs)
        zero = jnp.zeros((), jnp.int32)
        return PPOState(params, self.tx.init(params), envs, zero, zero)

    def loss(self, params, mb):
        obs, action, old_logp, adv, target = mb
        dist = self.policy.dist(params["actor"], obs)
        value = self.policy.value(params["critic"], obs)
        return self.objective(dist, value, action, old_logp, adv, target)

    def objective(self, dist, value, action, old_logp, adv, target):
        """The clipped surrogate, value and entropy terms, averaged over every sample."""
        c, policy = self.config, self.policy
        logp = policy.log_prob(dist, action)
        ratio = jnp.exp(logp - old_logp)
        if c.normalize_advantages:
            adv = normalize(adv)
        pg = -jnp.mean(
            jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - c.clip_eps, 1 + c.clip_eps) * adv)
        )
        value_loss = 0.5 * jnp.mean((value - target) ** 2)
        entropy = jnp.mean(policy.entropy(dist))
        loss = pg + c.value_coef * value_loss - c.entropy_coef * entropy
        approx_kl = jnp.mean((ratio - 1) - (logp - old_logp))
        clip_frac = jnp.mean(jnp.abs(ratio - 1) > c.clip_eps)
        return loss, {
            "policy_loss": pg,
            "value_loss": value_loss,
            "entropy": entropy,
            "approx_kl": approx_kl,
            "clip_fraction": clip_frac,
        }

    def iterate(self, state: PPOState, key):
        c, policy = self.config, self.policy
        roll_key, perm_key = jax.random.split(key)
        envs, traj = rollout(
            self.env, policy, state.params["actor"], state.envs, roll_key, c.rollout_steps
        )
        values = policy.value(state.params["critic"], traj.obs)
        next_values = policy.value(state.params["critic"], traj.next_obs)
        adv, target = gae(traj, values, next_values, c.gamma, c.gae_lambda)
        n = c.parallel_envs * c.rollout_steps
        flat = jax.tree.map(
            lambda x: x.reshape((n,) + x.shape[2:]),
            (traj.obs, traj.action, traj.log_prob, adv, target),
        )
        (params, opt_state), aux = self.epochs(state, flat, n, perm_key)
        metrics = {k: v.mean() for k, v in aux.items()}
        metrics["episodes"] = traj.done.sum().astype(jnp.float32)
        metrics["episode_return_sum"] = jnp.sum(traj.episode_return * traj.done)
        new = PPOState(params, opt_state, envs, state.env_steps + n, state.iteration + 1)
        return new, metrics

    def epochs(self, state, data: tuple, n: int, key, axes: tuple | None = None):
        """``epochs`` passes of ``minibatches`` Adam steps over ``data``, a tuple whose entries
        hold ``n`` samples along their axis in ``axes`` (default 0 for all; a recurrent batch
        holds its sequences along axis 1 of its time-major arrays)."""
        c = self.config
        axes = axes or (0,) * len(data)

        def batches_of(perm, along, x):
            x = jnp.take(x, perm, axis=along)
            shape = x.shape[:along] + (c.minibatches, n // c.minibatches) + x.shape[along + 1 :]
            return jnp.moveaxis(x.reshape(shape), along, 0)

        def epoch(carry, key):
            perm = jax.random.permutation(key, n)
            batches = tuple(
                jax.tree.map(lambda x, a=a: batches_of(perm, a, x), d)
                for d, a in zip(data, axes, strict=True)
            )

            def step(carry, mb):
                params, opt_state = carry
                grads, aux = jax.grad(self.loss, has_aux=True)(params, mb)
                updates, opt_state = self.tx.update(grads, opt_state, params)
                aux["grad_norm"] = optax.tree.norm(grads)
                return (optax.apply_updates(params, updates), opt_state), aux

            return jax.lax.scan(step, carry, batches)

        return jax.lax.scan(epoch, (state.params, state.opt_state), jax.random.split(key, c.epochs))

    def evaluate(self, state: PPOState, key, num_episodes: int, clock=None):
        """Returns of the deterministic policy; in a scenario, on the task of ``clock``
        (default: the current one)."""
        env = pinned(self.env, state.env_steps if clock is None else clock)
        return evaluate(env, self.policy, state.params["actor"], key, num_episodes)

    def act(self, state: PPOState, obs, key, env_step, deterministic: bool = True):
        """Actions for a batch of observations: the mode of the policy, or a sample."""
        dist = self.policy.dist(state.params["actor"], obs)
        action = self.policy.mode(dist) if deterministic else self.policy.sample(dist, key)
        return self.policy.to_env(action)

    def params(self, state: PPOState):
        return state.params

    def activations(self, state: PPOState, key):
        env = pinned(self.env, state.env_steps)
        return policy_activations(env, self.policy, state.params, key)
