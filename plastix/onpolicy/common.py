"""What the on-policy methods share: networks, action distributions, compiled roll-outs.

A policy is an ``actor`` network (logits for a discrete action space; the mean of a Gaussian
and a learned, state-independent log standard deviation for a ``Box`` one) and, where a method
wants one, a ``critic`` (state value). Both are plastix networks (``encoder`` -> ``torso`` ->
``head``, activations sown), so the plasticity diagnostics read them as they read DQN's or
SAC's. Continuous actions are sampled unbounded and clipped to the action box when they are
sent to the environment; the log-probability is that of the unclipped sample.

Roll-outs run on jittable environments (``JaxEnv``) only, ``num_envs`` copies vmapped:

- ``rollout``: ``T`` steps of every copy, episodes continuing across calls (PPO);
- ``episodes``: one whole episode per copy from a fresh reset, up to the environment's time
  limit, steps after the episode's end masked out (REINFORCE, evaluation, ES).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from plastix import optim
from plastix.envs.spaces import Box, Discrete, Space
from plastix.errors import ConfigError, check_types
from plastix.nets import (
    ACTIVATIONS,
    NetSpec,
    after_encoder,
    check_network_fields,
    encode,
    is_injection_branch,
    layer_outputs,
    net_spec_of,
)


@dataclass(frozen=True)
class NetworkFields:
    """The network fields every on-policy method has."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    """units of the dense hidden layers (the ``torso``) of the actor and the critic."""
    layer_norm: bool = False
    """LayerNorm before each hidden non-linearity."""
    encoder: Literal["auto", "mlp", "cnn"] = "auto"
    """``cnn`` puts convolutions before the torso; ``auto`` uses them for (H, W, C) observations."""
    conv_channels: tuple[int, ...] = (16,)
    """channels of each convolution."""
    conv_kernel_sizes: tuple[int, ...] = (3,)
    """kernel size of each convolution."""
    conv_strides: tuple[int, ...] = (1,)
    """stride of each convolution."""

    def check_network(self):
        check_types(self)
        check_network_fields(self)

    def net_spec(self, obs_space: Space) -> NetSpec:
        return net_spec_of(self, obs_space)


class ActorNet(nn.Module):
    """Logits (discrete) or ``(mean, log_std)`` (continuous) of the policy."""

    spec: NetSpec
    action_dim: int
    discrete: bool

    @nn.compact
    def __call__(self, obs):
        out = after_encoder(self, self.spec, encode(self.spec, obs), self.action_dim, 0.01)
        if self.discrete:
            return out
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        return out, jnp.broadcast_to(log_std, out.shape)


class ValueNet(nn.Module):
    """The state value ``V(s)``."""

    spec: NetSpec

    @nn.compact
    def __call__(self, obs):
        return after_encoder(self, self.spec, encode(self.spec, obs), 1, 1.0)[..., 0]


def optimizer(learning_rate, max_grad_norm: float, eps: float = 1e-8, wraps=()):
    """Adam (with a count per parameter array, so interventions can restart any part of it)
    after a global-norm clip, then each of ``wraps`` (the optimizer-side cures: ``wrap(tx) ->
    tx``), behind per-array freeze switches (injection branches start frozen): ``optax.adam``
    otherwise."""
    tx = optax.chain(optim.scale_by_adam(eps=eps), optax.scale_by_learning_rate(learning_rate))
    if max_grad_norm != float("inf"):
        tx = optax.chain(optax.clip_by_global_norm(max_grad_norm), tx)
    for wrap in wraps:
        tx = wrap(tx)
    return optim.freezable(tx, frozen_at_init=is_injection_branch)


def check_spaces(name: str, observation_space: Space, action_space: Space) -> None:
    if not isinstance(observation_space, Box):
        raise ConfigError(f"{name} needs Box observations, got {observation_space}")
    if not isinstance(action_space, Discrete | Box):
        raise ConfigError(f"{name} needs Discrete or Box actions, got {action_space}")
    if isinstance(action_space, Box) and len(action_space.shape) != 1:
        raise ConfigError(f"{name} needs 1-d Box actions, got shape {action_space.shape}")


class Policy:
    """The actor (and optional critic) networks and the action distribution."""

    def __init__(
        self,
        spec: NetSpec,
        observation_space: Space,
        action_space: Space,
        injection: tuple[str, ...] = (),
        body: dict | None = None,
    ):
        """``injection`` names the networks built with plasticity-injection branches; ``body``
        overrides fields of both networks' ``NetSpec`` (the cures' ``activation``,
        ``layer_norm``)."""
        spec = dataclasses.replace(spec, **(body or {}))
        self.observation_space = observation_space
        self.action_space = action_space
        self.discrete = isinstance(action_space, Discrete)
        action_dim = action_space.n if self.discrete else action_space.shape[0]

        def body(network):
            return dataclasses.replace(spec, injection=network in injection)

        self.actor = ActorNet(body("actor"), action_dim, self.discrete)
        self.critic = ValueNet(body("critic"))

    def init(self, key: jax.Array, with_critic: bool) -> dict[str, Any]:
        obs = jnp.zeros((1,) + tuple(self.observation_space.shape), jnp.float32)
        actor_key, critic_key = jax.random.split(key)
        params = {"actor": self.actor.init(actor_key, obs)["params"]}
        if with_critic:
            params["critic"] = self.critic.init(critic_key, obs)["params"]
        return params

    def dist(self, actor_params, obs):
        return self.actor.apply({"params": actor_params}, obs)

    def value(self, critic_params, obs):
        return self.critic.apply({"params": critic_params}, obs)

    def sample(self, dist, key):
        if self.discrete:
            return jax.random.categorical(key, dist).astype(jnp.int32)
        mean, log_std = dist
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)

    def mode(self, dist):
        return jnp.argmax(dist, axis=-1).astype(jnp.int32) if self.discrete else dist[0]

    def log_prob(self, dist, action):
        if self.discrete:
            logp = jax.nn.log_softmax(dist)
            return jnp.take_along_axis(logp, action[..., None], axis=-1)[..., 0]
        mean, log_std = dist
        z = (action - mean) / jnp.exp(log_std)
        return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)

    def entropy(self, dist):
        if self.discrete:
            logp = jax.nn.log_softmax(dist)
            return -jnp.sum(jnp.exp(logp) * logp, axis=-1)
        _, log_std = dist
        return jnp.sum(log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e), axis=-1)

    def to_env(self, action):
        """The action as the environment takes it (continuous ones clipped to the box)."""
        if self.discrete:
            return action
        return jnp.clip(action, self.action_space.low_array, self.action_space.high_array)

    def activations(self, params, obs) -> dict[str, list[dict]]:
        """``{network: [layers]}`` for the diagnostics, on a batch of observations."""
        out = {}
        for name, net in (("actor", self.actor), ("critic", self.critic)):
            if name in params:
                _, sown = net.apply({"params": params[name]}, obs, mutable=[ACTIVATIONS])
                out[name] = [layer_outputs(sown[ACTIVATIONS])]
        return out


# roll-outs -----------------------------------------------------------------------------------


@struct.dataclass
class EnvCarry:
    """The vectorised environments between roll-outs, with the running episode statistics."""

    state: Any
    obs: jax.Array
    episode_return: jax.Array
    episode_length: jax.Array


@struct.dataclass
class Trajectory:
    """``[T, num_envs, ...]`` arrays of one roll-out."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array
    next_obs: jax.Array
    """the observation after the step, before any automatic reset."""
    episode_return: jax.Array
    """the episode's return where ``done``."""
    episode_length: jax.Array


def reset_envs(env, key: jax.Array, num_envs: int) -> EnvCarry:
    obs, state = jax.vmap(env.reset)(jax.random.split(key, num_envs))
    zeros = jnp.zeros(num_envs, jnp.float32)
    return EnvCarry(state, obs, zeros, zeros.astype(jnp.int32))


def rollout(env, policy: Policy, actor_params, carry: EnvCarry, key: jax.Array, steps: int):
    """``steps`` steps of every environment copy with the sampling policy."""

    def step(carry: EnvCarry, key):
        act_key, env_key = jax.random.split(key)
        dist = policy.dist(actor_params, carry.obs)
        action = policy.sample(dist, act_key)
        log_prob = policy.log_prob(dist, action)
        n = carry.obs.shape[0]
        ts, state = jax.vmap(env.step)(
            jax.random.split(env_key, n), carry.state, policy.to_env(action)
        )
        return record_step(carry, action, log_prob, ts, state)

    return jax.lax.scan(step, carry, jax.random.split(key, steps))


def record_step(carry: EnvCarry, action, log_prob, ts, state) -> tuple[EnvCarry, Trajectory]:
    """One roll-out step's transition, and the environments after it with their running
    episode statistics (restarted where an episode ended)."""
    done = ts.terminated | ts.truncated
    ret = carry.episode_return + ts.reward
    length = carry.episode_length + 1
    traj = Trajectory(
        carry.obs, action, log_prob, ts.reward, ts.terminated, done, ts.final_obs, ret, length
    )
    new = EnvCarry(state, ts.obs, jnp.where(done, 0.0, ret), jnp.where(done, 0, length))
    return new, traj


@struct.dataclass
class Episodes:
    """``[horizon, num_envs, ...]`` arrays of one whole episode per copy; ``valid`` marks the
    steps before (and including) each episode's end."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    valid: jax.Array
    returns: jax.Array
    """``[num_envs]`` episode returns, summed step by step in order (so a copy's return does
    not depend on how many copies share the program)."""

    @property
    def lengths(self) -> jax.Array:
        return jnp.sum(self.valid, axis=0).astype(jnp.int32)


def episodes(
    env, act, key: jax.Array, num_envs: int, horizon: int | None = None, memory: Any = None
) -> Episodes:
    """One episode per environment copy, ``act(obs, key) -> env action`` for a batch; with a
    ``memory`` (a recurrent policy's initial state), ``act(obs, key, memory) -> (env action,
    memory)``.

    Runs ``horizon`` (default: the environment's time limit) steps; steps after an episode's
    end are computed (vmapped programs cannot stop early) and masked out by ``valid``.
    """
    horizon = horizon or env.max_episode_steps
    reset_key, key = jax.random.split(key)
    carry = reset_envs(env, reset_key, num_envs)

    def step(c, key):
        state, obs, alive, ret, mem = c
        act_key, env_key = jax.random.split(key)
        if memory is None:
            action = act(obs, act_key)
        else:
            action, mem = act(obs, act_key, mem)
        ts, state = jax.vmap(env.step)(jax.random.split(env_key, num_envs), state, action)
        done = ts.terminated | ts.truncated
        out = (obs, action, ts.reward, alive)
        ret = ret + jnp.where(alive, ts.reward, 0.0)
        return (state, ts.obs, alive & ~done, ret, mem), out

    alive = jnp.ones(num_envs, bool)
    zeros = jnp.zeros(num_envs, jnp.float32)
    (*_, returns, _), (obs, action, reward, valid) = jax.lax.scan(
        step, (carry.state, carry.obs, alive, zeros, memory), jax.random.split(key, horizon)
    )
    return Episodes(obs, action, reward, valid.astype(jnp.float32), returns)


def evaluate(env, policy: Policy, actor_params, key: jax.Array, num_episodes: int):
    """Returns ``[num_episodes]`` of the deterministic policy (the mode of its distribution)."""

    def act(obs, _):
        return policy.to_env(policy.mode(policy.dist(actor_params, obs)))

    return episodes(env, act, key, num_episodes).returns


def discounted_reward_to_go(reward, valid, gamma: float):
    """``G_t = Σ_{k ≥ t} γ^{k-t} r_k`` within each episode, ``[horizon, num_envs]``."""

    def back(g, x):
        r, v = x
        g = (r + gamma * g) * v
        return g, g

    _, g = jax.lax.scan(back, jnp.zeros(reward.shape[1:]), (reward, valid), reverse=True)
    return g


def gae(traj: Trajectory, values, next_values, gamma: float, lam: float):
    """Generalised advantage estimates and value targets (Schulman et al. 2016).

    ``next_values`` are the values of ``traj.next_obs`` (the true next state also at a time
    limit, so a truncated episode is bootstrapped and a terminated one is not).
    """
    delta = traj.reward + gamma * next_values * (1.0 - traj.terminated) - values

    def back(a, x):
        d, done = x
        a = d + gamma * lam * (1.0 - done) * a
        return a, a

    _, adv = jax.lax.scan(
        back, jnp.zeros(values.shape[1:]), (delta, traj.done.astype(jnp.float32)), reverse=True
    )
    return adv, adv + values


def normalize(x, mask=None):
    if mask is None:
        return (x - x.mean()) / (x.std() + 1e-8)
    n = jnp.maximum(mask.sum(), 1.0)
    mean = jnp.sum(x * mask) / n
    var = jnp.sum(((x - mean) * mask) ** 2) / n
    return (x - mean) / (jnp.sqrt(var) + 1e-8) * mask
