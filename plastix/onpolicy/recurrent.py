"""PPO with a memory: a GRU or LSTM cell in the actor and the critic, truncated BPTT.

Each network is ``torso`` (the dense layers, activations sown as in PPO) -> ``memory`` (the
cell) -> ``head``. Actor and critic keep their own memory state. A state is set to zero where
an episode starts, inside the network, so the roll-out and the training unroll reset at the
same steps. The roll-out stores each copy's memory as it was before every step. Training cuts
every copy's ``rollout_steps`` into sequences of ``bptt`` steps. Each sequence unrolls from
the memory stored at its first step, and its gradient flows back through those ``bptt`` steps
and no further (truncated backpropagation through time). Minibatches are whole sequences.
GAE, the clipped objective and the epochs are PPO's. A truncated episode is bootstrapped
from the critic's value of its true last observation, with the memory that led there.

``act`` (``load_policy(...).predict``) and the diagnostics see one step from a zero memory,
as at the start of an episode. Evaluation runs whole episodes with the memory carried along.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from plastix.envs.continual import pinned
from plastix.errors import ConfigError, require
from plastix.nets import ACTIVATIONS, MLPTorso, NetSpec, default_init, encode, layer_outputs
from plastix.onpolicy.common import EnvCarry, Policy, episodes, gae, record_step, reset_envs
from plastix.onpolicy.ppo import PPO, PPOConfig, PPOState

CELLS = ("gru", "lstm")


@dataclass(frozen=True)
class RecurrentPPOConfig(PPOConfig):
    """PPO's hyperparameters and the memory's."""

    cell: str = "gru"
    """the memory cell: ``gru`` or ``lstm``."""
    memory_size: int = 64
    """units of the memory cell."""
    bptt: int = 16
    """steps of each training sequence: how far back gradients flow (divides rollout_steps)."""

    def __post_init__(self):
        super().__post_init__()
        require(self.cell in CELLS, f"cell must be one of {', '.join(CELLS)}; got {self.cell!r}")
        require(self.memory_size >= 1, f"memory_size must be >= 1, got {self.memory_size}")
        require(
            self.bptt >= 1 and self.rollout_steps % self.bptt == 0,
            f"bptt must be >= 1 and divide rollout_steps ({self.rollout_steps}), got {self.bptt}",
        )
        sequences = self.parallel_envs * (self.rollout_steps // self.bptt)
        require(
            sequences % self.minibatches == 0,
            f"minibatches ({self.minibatches}) must divide the number of training sequences, "
            f"parallel_envs × rollout_steps / bptt = {sequences}",
        )


class RecurrentNet(nn.Module):
    """One step: ``(memory, obs, start) -> (memory, output)``; ``start`` zeroes the memory."""

    spec: NetSpec
    cell: str
    memory_size: int
    outputs: int
    head_scale: float
    log_std: bool = False
    """also return a learned, state-independent log standard deviation (a Gaussian actor)."""

    @nn.compact
    def __call__(self, memory, obs, start):
        memory = jax.tree.map(lambda m: jnp.where(start[..., None], 0.0, m), memory)
        s = self.spec
        x = MLPTorso(s.hidden_sizes, s.layer_norm, True, s.activation, s.diag, name="torso")(
            encode(s, obs)
        )
        cell = nn.GRUCell if self.cell == "gru" else nn.OptimizedLSTMCell
        memory, y = cell(self.memory_size, name="memory")(memory, x)
        out = nn.Dense(self.outputs, kernel_init=default_init(self.head_scale), name="head")(y)
        if self.log_std:
            log_std = self.param("log_std", nn.initializers.zeros, (self.outputs,))
            out = (out, jnp.broadcast_to(log_std, out.shape))
        elif self.outputs == 1:
            out = out[..., 0]
        return memory, out


class RecurrentPolicy(Policy):
    """``Policy``'s action distribution on recurrent actor and critic networks."""

    def __init__(self, spec, observation_space, action_space, cell, memory_size, body=None):
        super().__init__(spec, observation_space, action_space, (), body)
        spec = self.actor.spec
        dim = action_space.n if self.discrete else action_space.shape[0]
        self.memory_size, self.cell = memory_size, cell
        self.actor = RecurrentNet(spec, cell, memory_size, dim, 0.01, not self.discrete)
        self.critic = RecurrentNet(spec, cell, memory_size, 1, 1.0)

    def zero_memory(self, batch: int):
        zeros = jnp.zeros((batch, self.memory_size), jnp.float32)
        return zeros if self.cell == "gru" else (zeros, zeros)

    def init(self, key, with_critic: bool = True) -> dict[str, Any]:
        obs = jnp.zeros((1,) + tuple(self.observation_space.shape), jnp.float32)
        args = (self.zero_memory(1), obs, jnp.ones(1, bool))
        actor_key, critic_key = jax.random.split(key)
        params = {"actor": self.actor.init(actor_key, *args)["params"]}
        if with_critic:
            params["critic"] = self.critic.init(critic_key, *args)["params"]
        return params

    def step(self, net, params, memory, obs, start):
        return net.apply({"params": params}, memory, obs, start)

    def unroll(self, net, params, memory, obs, start):
        """Outputs ``[T, B, ...]`` of ``T`` steps from ``memory``."""

        def body(memory, x):
            return self.step(net, params, memory, *x)

        return jax.lax.scan(body, memory, (obs, start))[1]

    def fresh(self, obs):
        return self.zero_memory(obs.shape[0]), jnp.ones(obs.shape[0], bool)

    def dist(self, actor_params, obs):
        """The distribution of one step from a zero memory, as at an episode's start."""
        return self.step(self.actor, actor_params, *self._first(obs))[1]

    def value(self, critic_params, obs):
        return self.step(self.critic, critic_params, *self._first(obs))[1]

    def _first(self, obs):
        memory, start = self.fresh(obs)
        return memory, obs, start

    def activations(self, params, obs) -> dict[str, list[dict]]:
        out = {}
        for name, net in (("actor", self.actor), ("critic", self.critic)):
            if name in params:
                memory, start = self.fresh(obs)
                _, sown = net.apply(
                    {"params": params[name]}, memory, obs, start, mutable=[ACTIVATIONS]
                )
                out[name] = [layer_outputs(sown[ACTIVATIONS])]
        return out


@struct.dataclass
class MemoryCarry:
    """The environments and both networks' memories between roll-outs."""

    envs: EnvCarry
    actor: Any
    critic: Any
    start: jax.Array
    """``[num_envs]``: the current observation is an episode's first."""


class RecurrentPPO(PPO):
    name = "ppo-gru"
    Config = RecurrentPPOConfig

    def __init__(self, config, env, total_steps, injection=(), body=None, wraps=()):
        if injection:
            raise ConfigError(
                "ppo-gru does not take plasticity injection (its networks end in a memory "
                "cell, not in the torso and head injection copies); use ppo, or another cure"
            )
        super().__init__(config, env, total_steps, (), body, wraps)
        self.policy = RecurrentPolicy(
            config.net_spec(env.observation_space),
            env.observation_space,
            env.action_space,
            config.cell,
            config.memory_size,
            body,
        )

    def init(self, key) -> PPOState:
        net_key, env_key = jax.random.split(key)
        params = self.policy.init(net_key, with_critic=True)
        n = self.config.parallel_envs
        memory = self.policy.zero_memory(n)
        envs = MemoryCarry(reset_envs(self.env, env_key, n), memory, memory, jnp.ones(n, bool))
        zero = jnp.zeros((), jnp.int32)
        return PPOState(params, self.tx.init(params), envs, zero, zero)

    def rollout(self, params, carry: MemoryCarry, key):
        policy, env = self.policy, self.env

        def step(c: MemoryCarry, key):
            act_key, env_key = jax.random.split(key)
            obs = c.envs.obs
            actor, dist = policy.step(policy.actor, params["actor"], c.actor, obs, c.start)
            critic, value = policy.step(policy.critic, params["critic"], c.critic, obs, c.start)
            action = policy.sample(dist, act_key)
            n = obs.shape[0]
            ts, state = jax.vmap(env.step)(
                jax.random.split(env_key, n), c.envs.state, policy.to_env(action)
            )
            # the true last observation's value, from the memory that led there
            _, next_value = policy.step(
                policy.critic, params["critic"], critic, ts.final_obs, jnp.zeros(n, bool)
            )
            envs, traj = record_step(c.envs, action, policy.log_prob(dist, action), ts, state)
            record = (traj, c.start, value, next_value, c.actor, c.critic)
            return MemoryCarry(envs, actor, critic, traj.done), record

        steps = self.config.rollout_steps
        return jax.lax.scan(step, carry, jax.random.split(key, steps))

    def loss(self, params, mb):
        obs, start, action, old_logp, adv, target, actor0, critic0 = mb
        policy = self.policy
        dist = policy.unroll(policy.actor, params["actor"], actor0, obs, start)
        value = policy.unroll(policy.critic, params["critic"], critic0, obs, start)
        return self.objective(dist, value, action, old_logp, adv, target)

    def iterate(self, state: PPOState, key):
        c = self.config
        roll_key, perm_key = jax.random.split(key)
        carry, (traj, start, values, next_values, actor, critic) = self.rollout(
            state.params, state.envs, roll_key
        )
        adv, target = gae(traj, values, next_values, c.gamma, c.gae_lambda)
        length, chunks = c.bptt, c.rollout_steps // c.bptt
        sequences = chunks * c.parallel_envs

        def cut(x):  # [T, E, ...] -> [bptt, chunks × E, ...]: sequence k·E + e
            x = x.reshape((chunks, length) + x.shape[1:])
            return jnp.swapaxes(x, 0, 1).reshape((length, sequences) + x.shape[3:])

        def first(x):  # the memory at each sequence's first step: [chunks × E, ...]
            return x[::length].reshape((sequences,) + x.shape[2:])

        steps = tuple(map(cut, (traj.obs, start, traj.action, traj.log_prob, adv, target)))
        memories = (jax.tree.map(first, actor), jax.tree.map(first, critic))
        data = steps + memories
        axes = (1,) * len(steps) + (0,) * len(memories)
        (params, opt_state), aux = self.epochs(state, data, sequences, perm_key, axes)
        metrics = {k: v.mean() for k, v in aux.items()}
        metrics["episodes"] = traj.done.sum().astype(jnp.float32)
        metrics["episode_return_sum"] = jnp.sum(traj.episode_return * traj.done)
        n = c.parallel_envs * c.rollout_steps
        new = PPOState(params, opt_state, carry, state.env_steps + n, state.iteration + 1)
        return new, metrics

    def evaluate(self, state: PPOState, key, num_episodes: int, clock=None):
        """Returns of the deterministic policy, its memory carried through each episode."""
        env = pinned(self.env, state.env_steps if clock is None else clock)
        policy, params = self.policy, state.params["actor"]

        def act(obs, _, memory):
            start = jnp.zeros(obs.shape[0], bool)
            memory, dist = policy.step(policy.actor, params, memory, obs, start)
            return policy.to_env(policy.mode(dist)), memory

        memory = policy.zero_memory(num_episodes)
        return episodes(env, act, key, num_episodes, memory=memory).returns
