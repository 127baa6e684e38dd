"""The off-policy training loop as pure functions: one learn step shared by both environment
kinds, a compiled chunk of environment steps for jittable environments, and evaluation.

For a jittable environment a chunk of the run (act, step, store, update ``replay_ratio`` times,
track episodes) is one ``jax.lax.scan``; the off-policy programs (``training.offpolicy``)
``vmap`` it over seeds and compile it once. For a host environment the same ``learn`` function
is compiled and called between host steps.

Replay ratio: every environment step adds ``replay_ratio * num_envs`` to an update credit (once
``learning_starts`` is reached); the step then performs ``floor(credit)`` updates and keeps the
fractional rest. Over time the number of updates is exactly ``replay_ratio`` times the number of
environment steps (up to the one fractional update still owed), for 0.25 as for 32.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from plastix import framereplay, replay
from plastix.agents.base import Agent, AgentState
from plastix.config import RunConfig
from plastix.envs.base import TimeStep
from plastix.envs.continual import pinned
from plastix.plasticity.augment import random_shift


@struct.dataclass
class LoopState:
    """Everything one seed's run carries from step to step."""

    agent: AgentState
    buffer: replay.ReplayBuffer
    env_state: Any  # None for host environments
    obs: Any  # [num_envs, ...]
    episode_return: jax.Array  # [num_envs]
    episode_length: jax.Array  # [num_envs]
    env_steps: jax.Array  # transitions collected so far
    update_credit: jax.Array  # updates owed, fractional
    replay_ratio: jax.Array  # updates per environment step (a value, so schedules can move it)
    augment: jax.Array  # whether updates see randomly shifted images (switchable mid-run)
    key: jax.Array


@struct.dataclass
class StepOutput:
    """Per environment step: which episodes ended, with their return and length."""

    done: jax.Array
    episode_return: jax.Array
    episode_length: jax.Array


class Learner:
    """The pure functions of one run: ``init``, ``learn``, ``chunk`` and ``evaluate``."""

    def __init__(
        self,
        agent: Agent,
        env,
        run: RunConfig,
        jittable: bool,
        augment_pad: int = 0,
        augment_at_start: bool = True,
    ):
        self.agent = agent
        self.augment_pad = augment_pad
        self.augment_at_start = augment_at_start
        self.env = env
        self.run = run
        self.jittable = jittable
        self.num_envs = run.num_envs
        self.total_iterations = run.steps // run.num_envs
        c = agent.config
        self.memory = framereplay.memory_for(
            env.observation_space,
            getattr(env, "frame_stack", None),
            getattr(env, "max_episode_steps", None),
        )
        # Sampling needs n_step stored rows (and a frame memory a few more); updates start once
        # both conditions hold.
        rows = c.n_step + self.memory.extra_rows
        self.update_start = max(c.learning_starts, rows * run.num_envs)
        self.capacity = max(
            rows, min(math.ceil(c.buffer_size / run.num_envs), self.total_iterations)
        )
        self.obs_dtype = env.observation_space.dtype
        self.metric_names = self._metric_names()

    # INIT
    def example_transition(self) -> replay.Transition:
        space, e = self.env.observation_space, self.num_envs
        obs = jnp.zeros((e,) + space.shape, self.obs_dtype)
        action = jnp.zeros((e,) + self.agent.action_space.shape, self.agent.action_space.dtype)
        flags = jnp.zeros((e,), bool)
        return replay.Transition(obs, action, jnp.zeros((e,), jnp.float32), obs, flags, flags)

    def init(self, key: jax.Array, obs=None) -> LoopState:
        agent_key, env_key, loop_key = jax.random.split(key, 3)
        env_state = None
        if self.jittable:
            obs, env_state = jax.vmap(self.env.reset)(jax.random.split(env_key, self.num_envs))
        return LoopState(
            agent=self.agent.init(agent_key),
            buffer=self.memory.init(self.example_transition(), self.capacity),
            env_state=env_state,
            obs=jnp.asarray(obs, self.obs_dtype),
            episode_return=jnp.zeros((self.num_envs,), jnp.float32),
            episode_length=jnp.zeros((self.num_envs,), jnp.int32),
            env_steps=jnp.int32(0),
            update_credit=jnp.float32(0.0),
            replay_ratio=jnp.float32(self.run.replay_ratio),
            augment=jnp.bool_(self.augment_pad > 0 and self.augment_at_start),
            key=loop_key,
        )

    def _metric_names(self) -> tuple[str, ...]:
        state = jax.eval_shape(
            self.init,
            jax.random.key(0),
            jnp.zeros((self.num_envs,) + self.env.observation_space.shape, self.obs_dtype),
        )
        batch = jax.eval_shape(self.sample, state.buffer, jax.random.key(0))
        _, metrics = jax.eval_shape(self.agent.update, state.agent, batch, jax.random.key(0))
        return tuple(sorted(metrics))

    def zero_metrics(self) -> dict[str, jax.Array]:
        return {name: jnp.float32(0.0) for name in self.metric_names}

    # ACT
    def explore(self, state: LoopState, key: jax.Array) -> jax.Array:
        """The behaviour policy: uniform random actions until ``learning_starts``."""
        policy_key, random_key = jax.random.split(key)
        action = self.agent.act(state.agent, state.obs, policy_key, state.env_steps)
        random = self.agent.action_space.sample(random_key, (self.num_envs,))
        return jnp.where(
            state.env_steps < self.agent.config.learning_starts, random.astype(action.dtype), action
        )

    # LEARN
    def sample(self, buffer, key):
        c = self.agent.config
        return self.memory.sample(buffer, key, c.batch_size, c.n_step, c.gamma)

    def augmented(self, batch: replay.Batch, augment, key) -> replay.Batch:
        """DrQ's random shift of ``obs`` and ``next_obs`` (independently) when ``augment``."""
        if not self.augment_pad:
            return batch
        obs_key, next_key = jax.random.split(key)
        shifted = batch.replace(
            obs=random_shift(obs_key, batch.obs, self.augment_pad),
            next_obs=random_shift(next_key, batch.next_obs, self.augment_pad),
        )
        return jax.tree.map(lambda a, b: jnp.where(augment, a, b), shifted, batch)

    def update_step(self, agent_state: AgentState, buffer, key, augment, env_step):
        """One gradient update on a fresh batch: ``(agent_state, metrics, next key)``."""
        key, sample_key, augment_key, update_key = jax.random.split(key, 4)
        batch = self.augmented(self.sample(buffer, sample_key), augment, augment_key)
        agent_state, metrics = self.agent.update(agent_state, batch, update_key, env_step)
        return agent_state, metrics, key

    def update_many(
        self, agent_state: AgentState, buffer, num_updates, key, augment=False, env_step=0
    ):
        """``num_updates`` (a traced integer) gradient updates at environment step
        ``env_step`` (for the agents' schedules); returns summed metrics."""

        def body(_, carry):
            agent_state, sums, key = carry
            agent_state, metrics, key = self.update_step(
                agent_state, buffer, key, augment, env_step
            )
            sums = {name: sums[name] + metrics[name] for name in sums}
            return agent_state, sums, key

        agent_state, sums, _ = jax.lax.fori_loop(
            0, num_updates, body, (agent_state, self.zero_metrics(), key)
        )
        return agent_state, sums

    def learn(
        self, state: LoopState, action, timestep: TimeStep, key: jax.Array, inline: bool = True
    ):
        """Store the transition, do the updates owed, track episodes. Pure; both loops use it.

        ``inline=False`` leaves the updates owed (returned) to the caller: the host loop runs
        them as separate calls of ``update_step``, since XLA's CPU backend runs convolutions
        inside a loop or a conditional several times slower than outside one (a DrQ(ε) update
        at batch 32: 0.07 s alone, 0.5 s in a one-iteration ``fori_loop``).

        A lost life (``timestep.life_loss``) is stored as a termination; the episode goes on."""
        terminated = timestep.terminated
        if timestep.life_loss is not None:
            terminated = jnp.logical_or(terminated, timestep.life_loss)
        transition = replay.Transition(
            obs=state.obs,
            action=action,
            reward=timestep.reward,
            next_obs=timestep.final_obs,
            terminated=terminated,
            truncated=timestep.truncated,
        )
        buffer = self.memory.add(state.buffer, transition, state.episode_length == 0)
        env_steps = state.env_steps + self.num_envs
        credit = state.update_credit + jnp.where(
            env_steps >= self.update_start, state.replay_ratio * self.num_envs, 0.0
        )
        num_updates = jnp.floor(credit).astype(jnp.int32)
        if inline:
            agent_state, sums = self.update_many(
                state.agent, buffer, num_updates, key, state.augment, env_steps
            )
        else:
            agent_state, sums = state.agent, self.zero_metrics()

        episode_return = state.episode_return + timestep.reward
        episode_length = state.episode_length + 1
        done = jnp.logical_or(timestep.terminated, timestep.truncated)
        output = StepOutput(done, episode_return, episode_length)
        state = state.replace(
            agent=agent_state,
            buffer=buffer,
            obs=jnp.asarray(timestep.obs, self.obs_dtype),
            episode_return=jnp.where(done, 0.0, episode_return),
            episode_length=jnp.where(done, 0, episode_length),
            env_steps=env_steps,
            update_credit=credit - num_updates,
        )
        return state, output, sums, num_updates

    # COMPILED CHUNK (jittable environments)
    def env_iteration(self, carry, _):
        state, sums, count = carry
        key, act_key, env_key, learn_key = jax.random.split(state.key, 4)
        state = state.replace(key=key)
        action = self.explore(state, act_key)
        timestep, env_state = jax.vmap(self.env.step)(
            jax.random.split(env_key, self.num_envs), state.env_state, action
        )
        state = state.replace(env_state=env_state)
        state, output, step_sums, num_updates = self.learn(state, action, timestep, learn_key)
        sums = {name: sums[name] + step_sums[name] for name in sums}
        return (state, sums, count + num_updates), output

    def chunk(self, state: LoopState, iterations: int):
        """``iterations`` environment steps; returns the state, per-step episode ends, and the
        metrics summed over the chunk's updates with their count."""
        (state, sums, count), outputs = jax.lax.scan(
            self.env_iteration, (state, self.zero_metrics(), jnp.int32(0)), None, iterations
        )
        return state, outputs, sums, count

    # EVALUATION
    def evaluate(self, agent_state: AgentState, key: jax.Array, clock=0) -> jax.Array:
        """Returns of ``eval_episodes`` episodes of the deterministic policy, run in parallel
        (in a scenario: on the task of ``clock``)."""
        n = self.run.eval_episodes
        env = pinned(self.env, clock)
        reset_key, key = jax.random.split(key)
        obs, env_state = jax.vmap(env.reset)(jax.random.split(reset_key, n))

        def step(carry, _):
            obs, env_state, returns, finished, key = carry
            key, act_key, env_key = jax.random.split(key, 3)
            action = self.agent.act(agent_state, obs, act_key, self.run.steps, deterministic=True)
            timestep, env_state = jax.vmap(env.step)(
                jax.random.split(env_key, n), env_state, action
            )
            returns = returns + jnp.where(finished, 0.0, timestep.reward)
            finished = finished | timestep.terminated | timestep.truncated
            return (timestep.obs, env_state, returns, finished, key), None

        init = (obs, env_state, jnp.zeros((n,), jnp.float32), jnp.zeros((n,), bool), key)
        (_, _, returns, _, _), _ = jax.lax.scan(step, init, None, self.env.max_episode_steps)
        return returns
