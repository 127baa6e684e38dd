"""Stochastic stateful policies (S2PG, Al-Hafez et al., ICLR 2024) trained with PPO.

The policy keeps an internal state ``z`` (``state_size`` numbers, zero at an episode's start)
and samples it like an action: ``(a_t, z_{t+1}) ~ π(· | s_t, z_t)``, the action from the
usual distribution and the next state from a Gaussian whose mean the actor outputs (its log
standard deviation is learned, state-independent, starting at ``state_log_std``). Seen
this way the policy is memory-free on the augmented problem whose state is ``(s, z)`` and whose
action is ``(a, z')``. Its likelihood-ratio gradient
``Σ_t ∇ log π(a_t, z_{t+1} | s_t, z_t) · (return)`` is therefore unbiased, with no
backpropagation through time and no truncation length. The critic is ``V(s, z)``, as the
paper's is.

Here that is literal. ``StatefulEnv`` appends ``z`` (kept in ``[-1, 1]``) to the observation
and takes ``(a, z')`` as its action, and ``StatefulPolicy`` is the joint distribution. PPO
runs unchanged on top: its roll-out, GAE, clipped objective and epochs. ``load_policy(...).
predict`` takes the augmented observation (the environment's, then ``z``).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct

from plastix.envs.continual import scenario_of
from plastix.envs.spaces import Box
from plastix.errors import ConfigError, require
from plastix.onpolicy.common import Policy
from plastix.onpolicy.ppo import PPO, PPOConfig

LOG_2PI = jnp.log(2 * jnp.pi)


@dataclass(frozen=True)
class StatefulPPOConfig(PPOConfig):
    """PPO's hyperparameters and the internal state's."""

    state_size: int = 8
    """numbers in the policy's internal state."""
    state_log_std: float = -1.0
    """initial log standard deviation of the next internal state (learned afterwards)."""

    def __post_init__(self):
        super().__post_init__()
        require(self.state_size >= 1, f"state_size must be >= 1, got {self.state_size}")


@struct.dataclass
class StatefulState:
    inner: object
    z: jax.Array


class StatefulEnv:
    """``env`` with the policy's internal state appended to its observation; the action is
    ``(env action, next internal state)``. The state is clipped to ``[-1, 1]`` and is zero at
    every episode's start."""

    def __init__(self, env, size: int):
        self.env, self.size = env, size
        self.name = f"{env.name}+state{size}"
        space = env.observation_space
        require(len(space.shape) == 1, f"{env.name}: S2PG needs flat observations")
        self.observation_space = Box.from_bounds(
            (*space.low, *(-1.0,) * size), (*space.high, *(1.0,) * size), (space.shape[0] + size,)
        )
        self.action_space = env.action_space
        self.max_episode_steps = env.max_episode_steps

    def reset(self, key):
        obs, inner = self.env.reset(key)
        z = jnp.zeros(self.size, jnp.float32)
        return jnp.concatenate([obs, z]), StatefulState(inner, z)

    def step(self, key, state: StatefulState, action):
        env_action, z = action
        timestep, inner = self.env.step(key, state.inner, env_action)
        z = jnp.clip(z, -1.0, 1.0)
        done = timestep.terminated | timestep.truncated
        kept = jnp.where(done, 0.0, z)
        timestep = timestep.replace(
            obs=jnp.concatenate([timestep.obs, kept]),
            final_obs=jnp.concatenate([timestep.final_obs, z]),
        )
        return timestep, StatefulState(inner, kept)


class StatefulPolicy(Policy):
    """The joint distribution of ``(action, next internal state)``; the actor's output is the
    action's logits (or mean) followed by the next state's mean."""

    def __init__(self, spec, observation_space, action_space, state_size, log_std, body=None):
        super().__init__(spec, observation_space, action_space, (), body)
        self.action_dim = action_space.n if self.discrete else action_space.shape[0]
        self.state_size, self.log_std_init = state_size, log_std
        # a Gaussian head over action and state (a discrete action ignores its log stds)
        self.actor = type(self.actor)(self.actor.spec, self.action_dim + state_size, False)

    def init(self, key, with_critic: bool):
        params = super().init(key, with_critic)
        actor = dict(params["actor"])
        log_std = actor["log_std"]
        # the action's log std (continuous actions) starts at 0, the state's at log_std_init
        actor["log_std"] = log_std.at[self.action_dim :].set(self.log_std_init)
        return dict(params, actor=actor)

    def dist(self, actor_params, obs):
        out, log_std = self.actor.apply({"params": actor_params}, obs)
        a, z = out[..., : self.action_dim], out[..., self.action_dim :]
        action = a if self.discrete else (a, log_std[..., : self.action_dim])
        return action, (z, log_std[..., self.action_dim :])

    def sample(self, dist, key):
        action_key, state_key = jax.random.split(key)
        mean, log_std = dist[1]
        z = mean + jnp.exp(log_std) * jax.random.normal(state_key, mean.shape)
        return super().sample(dist[0], action_key), z

    def mode(self, dist):
        return super().mode(dist[0]), dist[1][0]

    def log_prob(self, dist, action):
        mean, log_std = dist[1]
        u = (action[1] - mean) / jnp.exp(log_std)
        state = jnp.sum(-0.5 * u**2 - log_std - 0.5 * LOG_2PI, axis=-1)
        return super().log_prob(dist[0], action[0]) + state

    def entropy(self, dist):
        state = jnp.sum(dist[1][1] + 0.5 * (LOG_2PI + 1.0), axis=-1)
        return super().entropy(dist[0]) + state

    def to_env(self, action):
        return super().to_env(action[0]), action[1]


class StatefulPPO(PPO):
    name = "ppo-s2pg"
    Config = StatefulPPOConfig

    def __init__(self, config, env, total_steps, injection=(), body=None, wraps=()):
        if injection:
            raise ConfigError(
                "ppo-s2pg does not take plasticity injection (its actor's head is split "
                "between the action and the internal state); use ppo, or another cure"
            )
        if scenario_of(env) is not None:
            raise ConfigError("ppo-s2pg does not run continual scenarios")
        wrapped = StatefulEnv(env, config.state_size)
        super().__init__(config, wrapped, total_steps, (), body, wraps)
        self.policy = StatefulPolicy(
            config.net_spec(wrapped.observation_space),
            wrapped.observation_space,
            env.action_space,
            config.state_size,
            config.state_log_std,
            body,
        )
