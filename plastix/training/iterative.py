"""Programs of the methods that learn in *iterations* without a replay buffer: PPO, REINFORCE
(``IterativeProgram``) and OpenAI-ES (``ESProgram``, whose generations run on a local or Ray
backend).

A method is an object with ``init(key)``, ``iterate(state, key) -> (state, metrics)`` (the
names ``episodes`` and ``episode_return_sum`` become the logged ``episode_return``),
``evaluate(state, key, episodes)``, ``act``, ``params(state)``, ``activations(state, key)`` and
``max_steps_per_iteration``; ``state.env_steps`` counts environment steps. Seeds are a
``vmap`` and a chunk of iterations is one compiled ``scan``. Iteration ``i`` of a seed uses the
key ``fold_in(fold_in(seed key, Stream.ITERATION), i)``, so results do not depend on how the
run is cut into chunks (how often it logs or evaluates). Each seed stops at its step budget (an
iteration that starts below the budget runs to its end, so a seed can pass the budget by less
than one iteration; the summary says how many steps each seed took).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from plastix.agents.base import AgentState, tree_where
from plastix.config import RunConfig
from plastix.envs import check_observations, is_jittable, make_run_env, pinned, scenario_of
from plastix.errors import ConfigError
from plastix.keys import Stream, derive_keys
from plastix.onpolicy.common import reset_envs, rollout
from plastix.plasticity.interventions.base import NETWORKS
from plastix.training.program import ChunkLog, FixedClock, Program, StepClock, model_options

ROLLOUT_ENVS = 8
"""environment copies of the roll-out whose observations the diagnostics and ReDo see."""


@struct.dataclass
class Observations:
    """A batch of observations (what the networks' activations are measured on)."""

    obs: jax.Array


@struct.dataclass
class PolicyParams:
    """What acting needs of a policy-gradient method's state."""

    params: Any


def check_run(name: str, run: RunConfig, env, stride: int | None = None, align=None) -> Any:
    """The jittable environment an iterative method runs on; refuses run options it has no
    use for. ``stride``: environment copies that step together in a scenario (None: the
    method cannot run one)."""
    if run.replay_ratio != 1.0:
        raise ConfigError(
            f"replay_ratio is for the off-policy agents (dqn, sac); {name} reuses its data by "
            "its own options (PPO: epochs × minibatches)"
        )
    if run.num_envs != 1:
        raise ConfigError(
            f"{name} sets its parallel environments with its own option "
            "(reinforce: episodes_per_iteration, ppo: parallel_envs), not num_envs"
        )
    if stride is None and run.scenario != "none":
        raise ConfigError(
            f"{name} does not run continual scenarios (it trains on whole generations of "
            "fresh episodes); scenarios run on dqn, sac, ppo and reinforce"
        )
    env_obj = make_run_env(env, run, stride or 0, align)
    check_observations(env_obj)
    if not is_jittable(env_obj):
        env_obj.close()
        raise ConfigError(
            f"{name} runs on jittable environments only (compiled end to end); "
            f"{run.env!r} is a Gymnasium environment (`plastix envs` lists the jittable ones)"
        )
    return env_obj


class PolicyModel:
    """A policy-gradient method seen as the interventions see an agent: fresh parameters
    (``init(key).params``) and activations on a batch of observations."""

    def __init__(self, method):
        self.method = method

    def init(self, key):
        return self.method.init(key)

    def activations(self, agent_state, batch):
        return self.method.policy.activations(agent_state.params, batch.obs)


def build(method_cls, config, run: RunConfig, env, options: dict, fixed: bool, per_update: int):
    """The program of a policy-gradient method; ``fixed``: every iteration takes the same number
    of environment steps; ``per_update``: gradient updates per iteration."""
    stride = method_cls.scenario_stride(config)
    align = getattr(method_cls, "scenario_align", lambda config: None)(config)
    env_obj = check_run(method_cls.name, run, env, stride, align)
    injection = tuple(options.get("injection", ()))
    method = method_cls(config, env_obj, run.steps, **model_options(options))
    if not fixed and run.scenario != "none":
        longest = method.max_steps_per_iteration
        if run.switch_every < longest:
            raise ConfigError(
                f"switch_every ({run.switch_every}) must be at least the steps of "
                f"{method_cls.name}'s longest iteration ({longest:,}: its episodes × the time "
                "limit), so no batch skips a task"
            )
    unknown = [n for n in injection if n not in method.networks]
    if unknown:
        raise ConfigError(
            f"{method.name} has no network {', '.join(map(repr, unknown))} to inject into; "
            f"valid choices: {', '.join(method.networks)}"
        )
    return IterativeProgram(method, run, fixed, per_update, injection)


class IterativeProgram(Program):
    """PPO and REINFORCE: chunks of iterations compiled as one seed-vmapped ``scan``."""

    capabilities = frozenset({NETWORKS})

    def __init__(self, method, run: RunConfig, fixed: bool, per_update: int, injection=()):
        self.algorithm = method.name
        self.agent = method
        self.model = PolicyModel(method)
        self.run = run
        self.networks = tuple(method.networks)
        self.injection = tuple(injection)
        self.observation_shape = tuple(method.observation_space.shape)
        self.per_update = int(per_update)
        per = int(method.max_steps_per_iteration)
        self.clock = (
            FixedClock(math.ceil(run.steps / per), per) if fixed else StepClock(run.steps, per)
        )
        self.fixed = fixed
        self.scenario = scenario_of(getattr(method, "env", None))

    def state_shapes(self, keys):
        """The shapes of ``init(keys)``'s state, without building anything."""
        return jax.eval_shape(jax.vmap(self.agent.init), keys)

    # counters ----------------------------------------------------------------------------------

    def env_steps(self, state) -> np.ndarray:
        return np.asarray(state.env_steps).astype(np.int64)

    def updates(self, state) -> np.ndarray:
        return np.asarray(state.iteration).astype(np.int64) * self.per_update

    def updates_per_step(self, max_replay_ratio: float) -> float:
        per = self.clock.iteration_steps if self.fixed else self.min_iteration_steps()
        return self.per_update / max(per, 1)

    def min_iteration_steps(self) -> int:
        # whole episodes of at least one step each
        return int(getattr(self.agent.config, "episodes_per_iteration", 1))

    # compiled pieces ---------------------------------------------------------------------------

    def init(self, keys):
        self.base_keys = derive_keys(keys, Stream.ITERATION)
        return jax.jit(jax.vmap(self.agent.init))(keys)

    def compile(self, state, lengths) -> None:
        """One program serves every chunk length: a scan as long as the longest, whose
        iterations from the chunk's own ``count`` on are skipped. ``count`` is the same for
        every seed, so the skip is a real conditional under ``vmap`` (nothing computed), and a
        run's last, shorter chunk compiles nothing more."""
        method, budget = self.agent, self.run.steps

        def chunk(state, base_key, start, limit, count, n):
            def iterate(state, i):
                new, metrics = method.iterate(state, jax.random.fold_in(base_key, start + i))
                active = state.env_steps < jnp.minimum(budget, limit)
                metrics = {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
                return tree_where(active, new, state), (active, metrics)

            def skip(state, i):
                _, outputs = jax.eval_shape(iterate, state, i)
                return state, jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), outputs)

            def body(state, i):
                return jax.lax.cond(i < count, iterate, skip, state, i)

            return jax.lax.scan(body, state, jnp.arange(n))

        n = max(lengths)
        fn = jax.vmap(partial(chunk, n=n), in_axes=(0, 0, None, None, None))
        start = limit = jnp.int32(0)
        self._chunk = jax.jit(fn).lower(state, self.base_keys, start, limit, start).compile()
        self._compile_evaluate(state)

    def _compile_evaluate(self, state) -> None:
        episodes, method = self.run.eval_episodes, self.agent
        scenario = self.scenario

        def evaluate(state, key, clock):
            if scenario is None:
                return method.evaluate(state, key, episodes)
            return method.evaluate(state, key, episodes, clock)

        keys = jnp.stack([jax.random.key(0)] * self.run.seeds)
        clocks = jnp.zeros(self.run.seeds, jnp.int32)
        self._evaluate = jax.jit(jax.vmap(evaluate)).lower(state, keys, clocks).compile()

    def limit(self, state) -> int:
        """The step no seed passes in this chunk: the budget, or in a scenario whose batches
        vary in length the next switch (a seed there waits for the others, so every seed
        trains on every task and is evaluated at its end)."""
        budget = self.run.steps
        if self.scenario is None or self.fixed:
            return budget
        every = self.scenario.every
        return min(budget, (int(self.env_steps(state).min()) // every + 1) * every)

    def advance(self, state, n: int, iteration: int):
        limit = jnp.int32(self.limit(state))
        state, (active, metrics) = self._chunk(
            state, self.base_keys, jnp.int32(iteration), limit, jnp.int32(n)
        )
        active, metrics = (
            np.asarray(active)[:, :n],
            {k: np.asarray(v)[:, :n] for k, v in metrics.items()},
        )
        return state, self.chunk_log(state, active, metrics)

    def chunk_log(self, state, active, metrics) -> ChunkLog:
        """Per seed: metrics averaged over the iterations it was active in, the mean return of
        the episodes that ended in them."""
        active = np.asarray(active)  # [seeds, n]
        metrics = {k: np.asarray(v) for k, v in metrics.items()}
        steps = self.env_steps(state)
        counted = active.any(axis=1)
        count = np.maximum(active.sum(axis=1), 1)
        averaged = {
            name: np.where(active, values, 0.0).sum(axis=1, dtype=np.float64) / count
            for name, values in metrics.items()
            if name not in ("episodes", "episode_return_sum")
        }
        episodes = []
        if "episodes" in metrics:
            for k in np.flatnonzero(counted):
                n = metrics["episodes"][k][active[k]].sum()
                if n > 0:
                    total = metrics["episode_return_sum"][k][active[k]].sum()
                    episodes.append((int(k), int(steps[k]), float(total / n), None))
        return ChunkLog(steps, episodes, averaged, counted)

    def evaluate(self, state, index: int, keys, clock=None) -> np.ndarray:
        clock = self.env_steps(state) if clock is None else clock
        return np.asarray(self._evaluate(state, keys, jnp.asarray(clock, jnp.int32)))

    # diagnostics and interventions (one seed) ------------------------------------------------

    def inputs(self, state, key, size: int) -> Observations:
        """Observations of a short roll-out of the current policy."""
        method = self.agent
        env = pinned(method.env, state.env_steps)  # a scenario's current task
        reset_key, key = jax.random.split(key)
        carry = reset_envs(env, reset_key, ROLLOUT_ENVS)
        steps = -(-size // ROLLOUT_ENVS)
        _, traj = rollout(env, method.policy, state.params["actor"], carry, key, steps)
        return Observations(traj.obs.reshape((-1,) + traj.obs.shape[2:])[:size])

    def activations(self, state, key, size: int):
        return self.agent.policy.activations(state.params, self.inputs(state, key, size).obs)

    def params(self, state):
        return self.agent.params(state)

    def param_shapes(self) -> dict:
        return jax.eval_shape(self.agent.init, jax.random.key(0)).params

    def agent_state(self, state) -> AgentState:
        return AgentState(state.params, {}, state.opt_state, state.iteration)

    def with_agent_state(self, state, agent_state):
        return state.replace(params=agent_state.params, opt_state=agent_state.opt_state)

    # acting ------------------------------------------------------------------------------------

    def policy_state(self, state):
        return state.params

    def act(self, params, obs, key, deterministic: bool = True):
        return self.agent.act(PolicyParams(params), obs, key, 0, deterministic)


class ESProgram(IterativeProgram):
    """OpenAI-ES: every seed's generation on a backend (one vmapped program locally, or Ray
    workers that exchange indices and scalars); ES has no per-layer optimizer state, so the
    network interventions do not apply to it."""

    capabilities = frozenset()

    def __init__(self, method, run: RunConfig, backend):
        super().__init__(method, run, fixed=False, per_update=1)
        self.backend = backend
        backend._budget = run.steps

    def min_iteration_steps(self) -> int:
        return self.agent.config.population * self.agent.config.episodes_per_member

    def updates(self, state) -> np.ndarray:
        return np.asarray(state.generation).astype(np.int64)

    def compile(self, state, lengths) -> None:
        self.backend.setup(state)
        self._compile_evaluate(state)

    def advance(self, state, n: int, iteration: int):
        state, (active, metrics) = self.backend.advance(state, None, n)
        return state, self.chunk_log(state, active, metrics)

    def activations(self, state, key, size: int):
        return self.agent.activations(state, key)

    def policy_state(self, state):
        return {"params": state.params, "obs_stats": state.obs_stats}

    def act(self, policy, obs, key, deterministic: bool = True):
        return self.agent.policy_action(policy["params"], policy["obs_stats"], obs)

    def summary(self) -> dict:
        return {"backend": self.backend.summary()}

    def close(self) -> None:
        self.backend.close()


def build_es(method_cls, config, run: RunConfig, env, options: dict) -> ESProgram:
    env_obj = check_run(method_cls.name, run, env)
    method = method_cls(config, env_obj, run.steps)
    if config.backend == "local":
        from plastix.es.backends import LocalESBackend

        return ESProgram(method, run, LocalESBackend(method))
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ConfigError("backend ray needs the ray package: pip install 'plastix[ray]'") from None
    from plastix.distributed.ray_es import RayESBackend

    return ESProgram(method, run, RayESBackend(method, run.env, config.workers, config.address))
