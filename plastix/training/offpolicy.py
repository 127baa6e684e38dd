"""The off-policy programs (DQN, SAC): a jittable environment, where a chunk of environment steps
is one compiled, seed-vmapped ``scan``, and a host environment (Gymnasium), stepped on the host
between compiled act and learn calls. Both run ``training.loop.Learner``'s pure functions."""

from __future__ import annotations

import pickle
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from plastix import replay
from plastix._xla import available_memory
from plastix.agents.base import AgentState
from plastix.config import RunConfig
from plastix.envs import (
    GymnasiumEnv,
    check_observations,
    host_env,
    is_jittable,
    make_run_env,
    scenario_of,
)
from plastix.errors import ConfigError
from plastix.plasticity.interventions.base import AUGMENT, NETWORKS, REPLAY, REPLAY_RATIO
from plastix.training.loop import Learner, LoopState, StepOutput
from plastix.training.program import ChunkLog, FixedClock, Program, model_options

# An evaluation episode of a host environment without a time limit is cut here.
MAX_HOST_EVAL_STEPS = 100_000


def build(agent_cls, config, run: RunConfig, env, options: dict) -> OffPolicyProgram:
    """The program for ``agent_cls`` on ``env`` (an id, a ``gymnasium.Env`` or a plastix env):
    jittable when the environment is."""
    probe = make_run_env(env, run, stride=run.num_envs)
    jittable = is_jittable(probe)
    try:
        check_observations(probe)
        pad = getattr(config, "augment_pad", 0)
        if pad and len(probe.observation_space.shape) != 3:
            raise ConfigError(
                f"augment_pad ({pad}) shifts images (H, W, C); {probe.name}'s observations "
                f"have shape {tuple(probe.observation_space.shape)}. Set augment_pad 0"
            )
        agent = agent_cls(
            config,
            probe.observation_space,
            probe.action_space,
            run.steps,
            **model_options(options),
        )
    finally:
        if not jittable:
            probe.close()
    learner = Learner(
        agent,
        probe,
        run,
        jittable,
        augment_pad=options.get("augment_pad", getattr(config, "augment_pad", 0)),
        augment_at_start=options.get("augment_at_start", True),
    )
    check_sizes(agent, learner, run)
    return (JittableProgram if jittable else HostProgram)(agent, learner, run, env)


def _itemsize(dtype) -> int:
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        return 8  # a key's raw data: two 32-bit words
    return np.dtype(dtype).itemsize


def check_sizes(agent, learner: Learner, run: RunConfig) -> None:
    """A batch that fits in the buffer, and every seed's state (its replay buffer mostly) in
    the memory the device has free — before anything is allocated."""
    transitions = learner.capacity * run.num_envs
    if agent.config.batch_size > transitions:
        raise ConfigError(
            f"batch_size ({agent.config.batch_size}) is larger than the replay buffer "
            f"({transitions:,} transitions: the smaller of buffer_size and steps); lower "
            "batch_size or raise buffer_size"
        )
    shape = (run.seeds, run.num_envs) + tuple(agent.observation_space.shape)
    keys = jnp.stack([jax.random.key(0)] * run.seeds)
    state = jax.eval_shape(jax.vmap(learner.init), keys, jnp.zeros(shape, learner.obs_dtype))
    need = sum(x.size * _itemsize(x.dtype) for x in jax.tree.leaves(state))
    free = available_memory()
    if free is not None and need > free:
        raise ConfigError(
            f"the state of {run.seeds} seed(s), replay buffers of {transitions:,} transitions "
            f"each, needs {need / 2**30:.1f} GiB, more than the {free / 2**30:.1f} GiB free; "
            "lower buffer_size, seeds or num_envs"
        )


class OffPolicyProgram(Program):
    capabilities = frozenset({NETWORKS, REPLAY, REPLAY_RATIO, AUGMENT})

    def __init__(self, agent, learner: Learner, run: RunConfig, env_spec):
        self.algorithm = agent.name
        self.agent = self.model = agent
        self.learner = learner
        self.run = run
        self.env_spec = env_spec
        self.jittable = learner.jittable
        self.networks = agent.networks
        self.injection = agent.injection
        self.observation_shape = tuple(agent.observation_space.shape)
        self.clock = FixedClock(learner.total_iterations, run.num_envs)
        self.scenario = scenario_of(learner.env)

    def state_shapes(self, keys):
        """The shapes of ``init(keys)``'s state, without building anything."""
        shape = (len(keys), self.run.num_envs) + self.observation_shape
        zeros = jnp.zeros(shape, self.learner.obs_dtype)
        return jax.eval_shape(jax.vmap(self.learner.init), keys, zeros)

    # counters ----------------------------------------------------------------------------------

    def env_steps(self, state: LoopState) -> np.ndarray:
        return np.asarray(state.env_steps).astype(np.int64)

    def updates(self, state: LoopState) -> np.ndarray:
        return np.asarray(state.agent.num_updates).astype(np.int64)

    # one chunk's outputs -----------------------------------------------------------------------

    def chunk_log(self, state, outputs: StepOutput, sums, counts, first_step: int) -> ChunkLog:
        done = np.asarray(outputs.done)  # [seeds, iters, envs]
        returns = np.asarray(outputs.episode_return)
        lengths = np.asarray(outputs.episode_length)
        e = self.run.num_envs
        episodes = [
            (int(k), first_step + (int(t) + 1) * e, returns[k, t, i], lengths[k, t, i])
            for k, t, i in zip(*np.nonzero(done), strict=True)
        ]
        counts = np.asarray(counts)
        metrics = {name: np.asarray(total) / np.maximum(counts, 1) for name, total in sums.items()}
        return ChunkLog(
            steps=self.env_steps(state),
            episodes=episodes,
            metrics=metrics,
            counted=counts > 0,
            update_counts=counts.astype(np.int64),
            extra={"updates": self.updates(state)},
        )

    # diagnostics and interventions (one seed) ------------------------------------------------

    def inputs(self, state: LoopState, key, size: int) -> replay.Batch:
        return self.learner.memory.sample(state.buffer, key, size, 1, self.agent.config.gamma)

    def activations(self, state: LoopState, key, size: int):
        return self.agent.activations(state.agent, self.inputs(state, key, size))

    def params(self, state: LoopState):
        return state.agent.params

    def param_shapes(self) -> dict:
        return jax.eval_shape(self.agent.init, jax.random.key(0)).params

    def agent_state(self, state: LoopState) -> AgentState:
        return state.agent

    def with_agent_state(self, state: LoopState, agent_state) -> LoopState:
        return state.replace(agent=agent_state)

    def replay_updates(self, state: LoopState, updates: int, key) -> AgentState:
        new, _ = self.learner.update_many(
            state.agent, state.buffer, updates, key, state.augment, state.env_steps
        )
        return new

    def replay_ratios(self, state: LoopState):
        return state.replay_ratio

    def with_replay_ratios(self, state: LoopState, ratios) -> LoopState:
        return state.replace(replay_ratio=ratios)

    def with_augment(self, state: LoopState, on: bool) -> LoopState:
        return state.replace(augment=jnp.full(state.augment.shape, on))

    # acting ------------------------------------------------------------------------------------

    def policy_state(self, state: LoopState):
        return state.agent.params

    def act(self, policy_params, obs, key, deterministic: bool = True):
        # only the parameters are needed to act; the optimizer and targets stay out
        state = AgentState(policy_params, {}, {}, jnp.int32(0))
        return self.agent.act(state, obs, key, self.agent.total_steps, deterministic)


class JittableProgram(OffPolicyProgram):
    """A jittable environment: every chunk is one compiled, seed-vmapped ``scan``."""

    def init(self, keys) -> LoopState:
        return jax.jit(jax.vmap(self.learner.init))(keys)

    def compile(self, state: LoopState, lengths) -> None:
        learner = self.learner
        self._chunks = {}
        for n in sorted(lengths):
            fn = jax.jit(jax.vmap(partial(learner.chunk, iterations=n)), donate_argnums=0)
            self._chunks[n] = fn.lower(state).compile()
        eval_keys = jnp.stack([jax.random.key(0)] * self.run.seeds)
        clocks = jnp.zeros(self.run.seeds, jnp.int32)
        self._evaluate = (
            jax.jit(jax.vmap(learner.evaluate)).lower(state.agent, eval_keys, clocks).compile()
        )

    def advance(self, state: LoopState, n: int, iteration: int):
        state, outputs, sums, counts = self._chunks[n](state)
        return state, self.chunk_log(state, outputs, sums, counts, iteration * self.run.num_envs)

    def evaluate(self, state: LoopState, index: int, keys, clock=None) -> np.ndarray:
        clock = state.env_steps if clock is None else jnp.asarray(clock, jnp.int32)
        return np.asarray(self._evaluate(state.agent, keys, clock))


class HostProgram(OffPolicyProgram):
    """A host environment: Gymnasium steps on the host between compiled act and learn calls."""

    def _make(self, copies: int) -> GymnasiumEnv:
        return host_env(self.env_spec, copies)

    def env_seeds(self, offset: int, per_seed: int) -> list[int]:
        # Seed s's environment copy i uses 1000 * s + i, so seed s alone reproduces it.
        return [offset + 1000 * s + i for s in self.seed_ids for i in range(per_seed)]

    def init(self, keys) -> LoopState:
        run = self.run
        self.seed_ids = [run.seed + k for k in range(run.seeds)]
        self.env = self._make(run.seeds * run.num_envs)
        obs = self.env.reset(self.env_seeds(0, run.num_envs))
        obs = obs.reshape((run.seeds, run.num_envs) + obs.shape[1:])
        self.eval_env = None
        return jax.jit(jax.vmap(self.learner.init))(keys, obs)

    def compile(self, state: LoopState, lengths) -> None:
        learner, run = self.learner, self.run

        def act(state: LoopState):
            key, act_key, _, learn_key = jax.random.split(state.key, 4)
            state = state.replace(key=key)
            return state, learner.explore(state, act_key), learn_key

        self._act = jax.jit(jax.vmap(act), donate_argnums=0)
        self._learn = jax.jit(
            jax.vmap(lambda s, a, t, k: learner.learn(s, a, t, k, inline=False)),
            donate_argnums=0,
        )

        def update(agent, buffer, key, augment, env_step, active):
            new, metrics, key = learner.update_step(agent, buffer, key, augment, env_step)
            new = jax.tree.map(lambda a, b: jnp.where(active, a, b), new, agent)
            metrics = {n: jnp.where(active, metrics[n], 0.0) for n in learner.metric_names}
            return new, metrics, key

        self._update = jax.jit(jax.vmap(update), donate_argnums=0)
        self._deterministic = jax.jit(
            jax.vmap(lambda a, o, k: learner.agent.act(a, o, k, run.steps, True))
        )

    def advance(self, state: LoopState, n: int, iteration: int):
        run = self.run
        shape = (run.seeds, run.num_envs)
        sums = {name: np.zeros(run.seeds) for name in self.learner.metric_names}
        counts = np.zeros(run.seeds, np.int64)
        outputs = []
        for _ in range(n):
            state, action, learn_key = self._act(state)
            flat = np.asarray(action).reshape((-1,) + np.shape(action)[2:])
            ts = self.env.step(flat)
            ts = jax.tree.map(lambda x: x.reshape(shape + x.shape[1:]), ts)
            state, out, _, num_updates = self._learn(state, action, ts, learn_key)
            outputs.append(out)
            owed = np.asarray(num_updates)
            counts += owed
            if owed.any():  # the updates, one call each (see Learner.learn)
                agent, key = state.agent, learn_key
                for i in range(int(owed.max())):
                    agent, metrics, key = self._update(
                        agent, state.buffer, key, state.augment, state.env_steps, i < owed
                    )
                    for name in sums:
                        sums[name] += np.asarray(metrics[name])
                state = state.replace(agent=agent)
        outputs = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs], axis=1), *outputs)
        return state, self.chunk_log(state, outputs, sums, counts, iteration * run.num_envs)

    def evaluate(self, state: LoopState, index: int, keys, clock=None) -> np.ndarray:
        run = self.run
        n = run.eval_episodes
        if self.eval_env is None:
            self.eval_env = self._make(run.seeds * n)
        obs = self.eval_env.reset(self.env_seeds(10_000_000 * (index + 1), n))
        returns = np.zeros(run.seeds * n)
        finished = np.zeros(run.seeds * n, bool)
        for _ in range(MAX_HOST_EVAL_STEPS):
            keys, act_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
            batched = obs.reshape((run.seeds, n) + obs.shape[1:])
            action = self._deterministic(state.agent, batched, act_keys)
            ts = self.eval_env.step(np.asarray(action).reshape((-1,) + np.shape(action)[2:]))
            returns += np.where(finished, 0.0, ts.reward)
            finished |= ts.terminated | ts.truncated
            obs = ts.obs
            if finished.all():
                break
        return returns.reshape(run.seeds, n)

    def host_state(self) -> bytes | None:
        # the environments mid-episode, so a resumed run continues them exactly
        try:
            return pickle.dumps(self.env)
        except Exception:  # one that cannot be pickled (e.g. Box2D): resumed from fresh episodes
            return None

    def restore_host(self, state: LoopState, data: bytes | None):
        if data is not None:
            self.env.close()
            self.env = pickle.loads(data)
            return state, True
        # fresh episodes from here on (new seeds, so they are not the first ones again)
        run = self.run
        # the episodes cut here end, for learning, as truncations at the last stored step
        buffer = jax.vmap(self.learner.memory.cut)(state.buffer, state.obs)
        obs = self.env.reset(self.env_seeds(5_000_000, run.num_envs))
        obs = jnp.asarray(obs.reshape((run.seeds, run.num_envs) + obs.shape[1:]), state.obs.dtype)
        zeros = jnp.zeros_like(state.episode_return)
        state = state.replace(
            obs=obs, buffer=buffer, episode_return=zeros, episode_length=zeros.astype(jnp.int32)
        )
        return state, False

    def close(self) -> None:
        for env in (getattr(self, "env", None), getattr(self, "eval_env", None)):
            if env is not None:
                env.close()
