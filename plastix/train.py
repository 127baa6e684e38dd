"""``train``: validate, build, compile, run in chunks with progress, evaluate, store.

Everything that can be wrong with the input (agent, environment, config values, action space,
run directory) is checked before anything is compiled. A jittable environment runs as one
compiled, seed-vmapped ``scan`` per chunk; a host environment steps on the host with the same
compiled learn step. Between chunks the host updates the progress bar, evaluates when due,
checks the losses for NaN and writes the run directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from plastix import runs
from plastix.agents import ITERATIVE, OFF_POLICY, get_agent
from plastix.agents.base import Agent, ConfigError, OffPolicyConfig
from plastix.config import RunConfig
from plastix.envs import GYMNASIUM_PREFIX, GymnasiumEnv, check_env_name, is_jittable, make_env
from plastix.iterative import IterativeRunner
from plastix.loop import (
    DIAGNOSTICS_SALT,
    EVALUATION_SALT,
    Learner,
    LoopState,
    StepOutput,
    derive_keys,
)
from plastix.plasticity.config import PlasticityConfig
from plastix.plasticity.diagnostics import DiagnosticsConfig, diagnose
from plastix.plasticity.replay_ratio import ReplayRatioSchedule
from plastix.plasticity.schedule import Interventions

__version__ = "0.1.0"


# An evaluation episode of an environment without a time limit is cut here.
MAX_HOST_EVAL_STEPS = 100_000


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; everything up to that point has been written."""


@dataclass
class TrainResult:
    """What ``train`` returns: the metrics table, the summary, and the final state."""

    agent: Agent
    run_config: RunConfig
    metrics: pd.DataFrame
    summary: dict
    state: LoopState = field(repr=False)
    run_dir: Path | None = None

    def eval_returns(self) -> pd.DataFrame:
        """Evaluation return per step (rows) and seed (columns)."""
        rows = self.metrics[self.metrics.metric == "eval_return"]
        return rows.pivot_table(index="step", columns="seed", values="value")

    def predict(self, obs, seed: int = 0, deterministic: bool = True, key=None):
        """Actions of seed ``seed``'s final policy for a batch of observations."""
        state = getattr(self.state, "agent", self.state)  # iterative methods: their own state
        params = jax.tree.map(lambda x: x[seed], state)
        return _predict(self.agent, params, obs, deterministic, key)


def _predict(agent: Agent, agent_state, obs, deterministic: bool, key):
    obs = jnp.asarray(obs, jnp.float32)
    single = obs.shape == agent.observation_space.shape
    if single:
        obs = obs[None]
    key = jax.random.key(0) if key is None else key
    action = agent.act(agent_state, obs, key, agent.total_steps, deterministic=deterministic)
    return np.asarray(action[0] if single else action)


def agent_config_from_kwargs(agent_cls: type[Agent], overrides: dict) -> OffPolicyConfig:
    names = {f.name for f in dataclasses.fields(agent_cls.Config)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(
            f"unknown {agent_cls.name} option(s) {', '.join(unknown)}; valid options: "
            f"{', '.join(sorted(names))}"
        )
    return agent_cls.Config(**overrides)


def train(
    agent: str = "dqn",
    env: Any = "CartPole-v1",
    *,
    steps: int = 100_000,
    replay_ratio: float = 1.0,
    seeds: int = 1,
    seed: int = 0,
    num_envs: int = 1,
    eval_every: int = 5_000,
    eval_episodes: int = 10,
    log_every: int = 1_000,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    config: OffPolicyConfig | None = None,
    diagnostics: DiagnosticsConfig | None = None,
    plasticity: PlasticityConfig | None = None,
    replay_schedule: ReplayRatioSchedule | None = None,
    **agent_options,
) -> TrainResult:
    """Trains ``agent`` on ``env`` with ``seeds`` seeds at once; the Python face of
    ``plastix train``.

    ``env`` is an id (``"CartPole-v1"``, ``"MinAtar-Breakout"``, ``"gymnasium:LunarLander-v3"``)
    or a ``gymnasium.Env``. Agent hyperparameters are keyword arguments
    (``learning_rate=1e-3, n_step=3``) or a whole ``config`` (``DQNConfig(...)``);
    ``diagnostics`` sets when plasticity diagnostics are logged (``DiagnosticsConfig(every=None)``
    turns them off). ``plasticity`` holds the interventions (resets, shrink-and-perturb, ReDo,
    augmentation, replay-ratio schedules); ``replay_schedule`` may instead be a
    ``ReplayRatioSchedule`` object of your own.
    """
    agent_cls = get_agent(agent)
    if config is None:
        config = agent_config_from_kwargs(agent_cls, agent_options)
    elif agent_options:
        config = config.replace(**agent_options)
    env_name = env if isinstance(env, str) else f"custom:{_env_label(env)}"
    run_config = RunConfig(
        env=env_name,
        steps=steps,
        replay_ratio=replay_ratio,
        seeds=seeds,
        seed=seed,
        num_envs=num_envs,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
        log_every=log_every,
        out=None if out is None else str(out),
        overwrite=overwrite,
    )
    return run_training(
        agent,
        config,
        run_config,
        env=env,
        progress=progress,
        diagnostics=diagnostics,
        plasticity=plasticity,
        replay_schedule=replay_schedule,
    )


def _env_label(env) -> str:
    spec = getattr(env, "spec", None)
    return getattr(spec, "id", None) or getattr(env, "name", None) or type(env).__name__


def run_training(
    agent_name: str,
    agent_config: OffPolicyConfig,
    run: RunConfig,
    env: Any = None,
    progress: bool = True,
    console: Console | None = None,
    diagnostics: DiagnosticsConfig | None = None,
    plasticity: PlasticityConfig | None = None,
    replay_schedule: ReplayRatioSchedule | None = None,
) -> TrainResult:
    console = console or Console(stderr=True)
    diagnostics = DiagnosticsConfig() if diagnostics is None else diagnostics
    plasticity = PlasticityConfig() if plasticity is None else plasticity
    agent_cls = get_agent(agent_name)
    if not isinstance(agent_config, agent_cls.Config):
        raise ConfigError(
            f"{agent_name} needs a {agent_cls.Config.__name__}, got {type(agent_config).__name__}"
        )
    env = run.env if env is None else env
    if isinstance(env, str):
        check_env_name(env)
    if agent_name in ITERATIVE:
        return _run_iterative(
            agent_cls,
            agent_config,
            run,
            env,
            progress,
            console,
            diagnostics,
            plasticity,
            replay_schedule,
        )
    # Host environments are built with every seed's copies; one for probing the spaces first.
    probe = make_env(env, num_envs=1)
    jittable = is_jittable(probe)
    agent = agent_cls(
        agent_config,
        probe.observation_space,
        probe.action_space,
        run.steps,
        injection=plasticity.injected_networks(),
    )
    interventions = Interventions(agent, plasticity, run.replay_ratio, replay_schedule)
    run_dir = runs.prepare_run_dir(run.out, run.overwrite) if run.out else None

    learner = Learner(
        agent,
        probe,
        run,
        jittable,
        augment_pad=plasticity.augment.pad,
        augment_at_start=plasticity.augment.start == 0,
    )
    interventions.learner = learner
    if not jittable:
        probe.close()
    config_record = {
        "agent": agent_name,
        "agent_config": dataclasses.asdict(agent_config),
        "run": dataclasses.asdict(run),
        "diagnostics": dataclasses.asdict(diagnostics),
        "plasticity": dataclasses.asdict(plasticity),
        "replay_schedule_object": None if replay_schedule is None else repr(replay_schedule),
        "jittable_env": jittable,
        "plastix_version": __version__,
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
    }
    if run_dir is not None:
        runs.atomic_write_json(run_dir / runs.CONFIG_FILE, config_record)
    driver = (JaxDriver if jittable else HostDriver)(learner, env, diagnostics, interventions)
    return driver.run(agent, run, run_dir, config_record, progress, console)


def _run_iterative(
    agent_cls,
    agent_config,
    run: RunConfig,
    env,
    progress,
    console,
    diagnostics,
    plasticity,
    replay_schedule,
    resume_dir: Path | None = None,
) -> TrainResult:
    name = agent_cls.name
    if plasticity != PlasticityConfig() or replay_schedule is not None:
        raise ConfigError(
            f"{name} learns without a replay buffer; the plasticity interventions and "
            f"replay-ratio schedules apply to the off-policy agents ({', '.join(OFF_POLICY)})"
        )
    if run.replay_ratio != 1.0:
        raise ConfigError(
            f"replay_ratio is for the off-policy agents ({', '.join(OFF_POLICY)}); {name} "
            "reuses its data by its own options (PPO: epochs × minibatches)"
        )
    if run.num_envs != 1:
        raise ConfigError(
            f"{name} sets its parallel environments with its own option "
            "(reinforce: episodes_per_iteration, ppo: parallel_envs), not num_envs"
        )
    env_obj = make_env(env, num_envs=1)
    if not is_jittable(env_obj):
        env_obj.close()
        raise ConfigError(
            f"{name} runs on jittable environments only (compiled end to end); "
            f"{run.env!r} is a Gymnasium environment (`plastix envs` lists the jittable ones)"
        )
    method = agent_cls(agent_config, env_obj, run.steps)
    if resume_dir is not None:
        run_dir = Path(resume_dir)
        run = run.replace(out=str(run_dir))
    else:
        run_dir = runs.prepare_run_dir(run.out, run.overwrite) if run.out else None
    config_record = {
        "agent": name,
        "agent_config": dataclasses.asdict(agent_config),
        "run": dataclasses.asdict(run),
        "diagnostics": dataclasses.asdict(diagnostics),
        "jittable_env": True,
        "plastix_version": __version__,
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
    }
    if run_dir is not None:
        runs.atomic_write_json(run_dir / runs.CONFIG_FILE, config_record)
    backend = None
    if name == "es" and agent_config.backend == "local":
        from plastix.es.backends import LocalESBackend

        backend = LocalESBackend(method)
        backend._budget = run.steps
    elif name == "es":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ConfigError(
                "backend ray needs the ray package: pip install 'plastix[ray]'"
            ) from None
        from plastix.distributed.ray_es import RayESBackend

        backend = RayESBackend(method, run.env, agent_config.workers, agent_config.address)
        backend._budget = run.steps
    runner = IterativeRunner(method, run, diagnostics, backend)
    return runner.execute(run_dir, config_record, progress, console, resume=resume_dir is not None)


def resume(run_dir: str | Path, steps: int | None = None, progress: bool = True) -> TrainResult:
    """Continues an iterative run (``es``, ``ppo``, ``reinforce``) from its checkpoint, to its
    step budget or to ``steps`` per seed; the run directory is updated in place. The result is
    the one an uninterrupted run to the same budget gives."""
    run_dir = Path(run_dir)
    record = runs.load_config(run_dir)
    agent, agent_config, run_config, diagnostics, _ = configs_from_record(record)
    if agent not in ITERATIVE:
        raise ConfigError(
            f"{run_dir} is a {agent} run; resume works for {', '.join(ITERATIVE)} "
            "(their state is checkpointed)"
        )
    if steps is not None:
        if steps < run_config.steps:
            raise ConfigError(
                f"steps must be >= the run's budget ({run_config.steps}), got {steps}"
            )
        run_config = run_config.replace(steps=steps)
    return _run_iterative(
        get_agent(agent),
        agent_config,
        run_config,
        run_config.env,
        progress,
        Console(stderr=True),
        diagnostics,
        PlasticityConfig(),
        None,
        resume_dir=run_dir,
    )


class Driver:
    """Host side of a run: chunks, evaluation, logging, progress, the run directory."""

    def __init__(
        self,
        learner: Learner,
        env_spec,
        diagnostics: DiagnosticsConfig,
        interventions: Interventions,
    ):
        self.learner = learner
        self.env_spec = env_spec
        self.diagnostics = diagnostics
        self.interventions = interventions
        run = learner.run
        e = run.num_envs
        self.log_iters = max(1, run.log_every // e)
        self.eval_iters = max(1, run.eval_every // e)
        self.diagnostics_iters = max(1, diagnostics.every // e) if diagnostics.every else 0
        # A chunk ends wherever something is due: its length divides every interval that can
        # occur within the run (a longer one never fires and must not shorten the chunks).
        intervals = [self.log_iters, self.eval_iters, self.diagnostics_iters] + [
            max(1, steps // e) for steps in interventions.intervals()
        ]
        self.chunk_iters = 0
        for interval in intervals:
            if 0 < interval <= learner.total_iterations:
                self.chunk_iters = math.gcd(self.chunk_iters, interval)
        self.chunk_iters = self.chunk_iters or learner.total_iterations
        self.seed_ids = [run.seed + k for k in range(run.seeds)]
        self.keys = jnp.stack([jax.random.key(s) for s in self.seed_ids])

    def setup(self) -> float:
        """Builds states and compiles; returns the compile time in seconds."""
        raise NotImplementedError

    def advance(self, iterations: int):
        """Runs ``iterations`` environment steps of every seed; returns per-step episode
        outputs ``[seeds, iterations, num_envs]`` and metric sums and counts per seed."""
        raise NotImplementedError

    def evaluate(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def compile_diagnostics(self) -> None:
        """Keeps the initial parameters and compiles the seed-vmapped diagnostics."""
        agent, config = self.learner.agent, self.diagnostics
        self.initial_params = jax.tree.map(jnp.copy, self.state.agent.params)

        def measure(state: LoopState, initial_params, key):
            return diagnose(agent, state.agent, initial_params, state.buffer, key, config)

        self._diagnose = jax.jit(jax.vmap(measure))

    def measure(self, index: int) -> dict[str, np.ndarray]:
        keys = derive_keys(self.keys, DIAGNOSTICS_SALT, index)
        values = self._diagnose(self.state, self.initial_params, keys)
        return {name: np.asarray(v) for name, v in values.items()}

    def run(self, agent, run: RunConfig, run_dir, config_record, show_progress, console):
        log = runs.MetricLog()
        seeds = self.seed_ids
        recent: list[list[float]] = [[] for _ in seeds]
        last_eval: list[float | None] = [None for _ in seeds]
        best_eval: list[float | None] = [None for _ in seeds]
        summary: dict[str, Any] = {
            "status": "compiling",
            "agent": config_record["agent"],
            "env": run.env,
            "seeds": seeds,
            "steps": run.steps,
        }
        if run_dir is not None:
            runs.atomic_write_json(run_dir / runs.SUMMARY_FILE, summary)

        wall_start = time.perf_counter()
        compiling = console.status("compiling ...") if show_progress else contextlib.nullcontext()
        with compiling:
            compile_seconds = self.setup()
            if self.diagnostics_iters:
                start = time.perf_counter()
                self.compile_diagnostics()
                compile_seconds += time.perf_counter() - start
            self.state = self.state.replace(
                replay_ratio=jnp.full(len(seeds), self.interventions.initial_ratio(), jnp.float32)
            )
        label = f"{config_record['agent']} {run.env}"
        progress = _make_progress(console) if show_progress else None
        task = (
            progress.add_task(label, total=run.steps, sps="-", ret="-", eval="-")
            if progress
            else None
        )
        train_seconds = 0.0
        loop_start = last_write = time.perf_counter()
        done_iters = 0
        eval_index = 0
        status = "running"
        try:
            if progress:
                progress.start()
            while done_iters < self.learner.total_iterations:
                iters = min(self.chunk_iters, self.learner.total_iterations - done_iters)
                start = time.perf_counter()
                outputs, sums, counts, updates = self.advance(iters)
                elapsed = time.perf_counter() - start
                train_seconds += elapsed
                first_step = done_iters * run.num_envs
                done_iters += iters
                step = done_iters * run.num_envs
                sps = iters * run.num_envs / max(elapsed, 1e-9)
                self._log_episodes(log, outputs, first_step, recent)
                diverged = []
                log.add_seeds(seeds, step, "steps_per_second", [sps] * len(seeds))
                log.add_seeds(seeds, step, "updates", updates)
                for k, s in enumerate(seeds):
                    if counts[k] > 0:
                        for name, total in sums.items():
                            value = total[k] / counts[k]
                            log.add(s, step, name, value)
                            if not np.isfinite(value):
                                diverged.append(f"{name} = {value} (seed {s})")
                if diverged:
                    status = "diverged"
                    raise TrainingDiverged(
                        f"training diverged at step {step}: {'; '.join(diverged)}. The run "
                        "stopped; metrics up to this point are kept"
                        + (f" in {run_dir}" if run_dir else "")
                    )
                if done_iters % self.eval_iters == 0 or done_iters == self.learner.total_iterations:
                    returns = self.evaluate(eval_index)
                    eval_index += 1
                    for k, s in enumerate(seeds):
                        mean = float(np.mean(returns[k]))
                        log.add(s, step, "eval_return", mean)
                        log.add(s, step, "eval_return_std", float(np.std(returns[k])))
                        last_eval[k] = mean
                        best_eval[k] = mean if best_eval[k] is None else max(best_eval[k], mean)
                if self.diagnostics_iters and done_iters % self.diagnostics_iters == 0:
                    for name, values in self.measure(done_iters).items():
                        log.add_seeds(seeds, step, name, values)
                if done_iters < self.learner.total_iterations:  # none after the last step
                    note = self.interventions.long_work_at(step)
                    if progress and note:
                        progress.update(task, description=f"{config_record['agent']} {note}")
                    self.state, applied = self.interventions.apply(self.state, step, self.keys)
                    if progress and note:
                        progress.update(task, description=label)
                    for name, values in applied.items():
                        log.add_seeds(seeds, step, name, values)
                if progress:
                    progress.update(
                        task,
                        completed=step,
                        sps=f"{sps * len(seeds):,.0f}",
                        ret=_fmt_mean([np.mean(r) for r in recent if r]),
                        eval=_fmt_mean([e for e in last_eval if e is not None]),
                    )
                if run_dir is not None and time.perf_counter() - last_write > 10.0:
                    log.write(run_dir)
                    summary.update(status="running", steps_done=step)
                    runs.atomic_write_json(run_dir / runs.SUMMARY_FILE, summary)
                    last_write = time.perf_counter()
            status = "completed"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except TrainingDiverged:
            raise
        except Exception:
            status = "failed"
            raise
        finally:
            if progress:
                progress.stop()
            steps_done = done_iters * run.num_envs
            summary.update(
                {
                    "status": status,
                    "steps_done": steps_done,
                    "wall_seconds": time.perf_counter() - wall_start,
                    "compile_seconds": compile_seconds,
                    # the compiled chunks alone; the loop adds evaluation, diagnostics,
                    # interventions and logging
                    "train_seconds": train_seconds,
                    "loop_seconds": time.perf_counter() - loop_start,
                    "steps_per_second_per_seed": steps_done / max(train_seconds, 1e-9),
                    "steps_per_second": steps_done * len(seeds) / max(train_seconds, 1e-9),
                    "per_seed": [
                        {
                            "seed": s,
                            "final_eval_return": last_eval[k],
                            "best_eval_return": best_eval[k],
                            "recent_episode_return": float(np.mean(recent[k]))
                            if recent[k]
                            else None,
                        }
                        for k, s in enumerate(seeds)
                    ],
                }
            )
            finals = [e for e in last_eval if e is not None]
            summary["final_eval_return_mean"] = float(np.mean(finals)) if finals else None
            if run_dir is not None:
                log.write(run_dir)
                runs.atomic_write_bytes(
                    run_dir / runs.PARAMS_FILE, flax.serialization.to_bytes(self.state.agent.params)
                )
                runs.atomic_write_json(run_dir / runs.SUMMARY_FILE, summary)
        if show_progress:
            console.print(seed_table(summary))
        return TrainResult(agent, run, log.frame(), summary, self.state, run_dir)

    def _log_episodes(self, log, outputs: StepOutput, first_step: int, recent):
        done = np.asarray(outputs.done)  # [seeds, iters, envs]
        returns = np.asarray(outputs.episode_return)
        lengths = np.asarray(outputs.episode_length)
        e = self.learner.num_envs
        for k, t, i in zip(*np.nonzero(done), strict=True):
            step = first_step + (t + 1) * e
            log.add(self.seed_ids[k], step, "episode_return", returns[k, t, i])
            log.add(self.seed_ids[k], step, "episode_length", lengths[k, t, i])
            recent[k].append(float(returns[k, t, i]))
            del recent[k][:-10]


class JaxDriver(Driver):
    """A jittable environment: every chunk is one compiled, seed-vmapped ``scan``."""

    def setup(self) -> float:
        learner = self.learner
        start = time.perf_counter()
        self.state = jax.jit(jax.vmap(learner.init))(self.keys)
        self._chunks = {}
        self._compile_chunk(self.chunk_iters)
        remainder = learner.total_iterations % self.chunk_iters
        if remainder:
            self._compile_chunk(remainder)
        eval_keys = derive_keys(self.keys, EVALUATION_SALT, 0)
        self._evaluate = (
            jax.jit(jax.vmap(learner.evaluate)).lower(self.state.agent, eval_keys).compile()
        )
        return time.perf_counter() - start

    def _compile_chunk(self, iterations: int):
        fn = jax.jit(jax.vmap(lambda s: self.learner.chunk(s, iterations)), donate_argnums=0)
        self._chunks[iterations] = fn.lower(self.state).compile()

    def advance(self, iterations: int):
        self.state, outputs, sums, counts = self._chunks[iterations](self.state)
        sums = {k: np.asarray(v) for k, v in sums.items()}
        updates = np.asarray(self.state.agent.num_updates)
        return outputs, sums, np.asarray(counts), updates

    def evaluate(self, index: int) -> np.ndarray:
        keys = derive_keys(self.keys, EVALUATION_SALT, index)
        return np.asarray(self._evaluate(self.state.agent, keys))


class HostDriver(Driver):
    """A host environment: Gymnasium steps on the host between compiled act and learn calls."""

    def _make(self, copies: int) -> GymnasiumEnv:
        spec = self.env_spec
        if isinstance(spec, str) and spec.startswith(GYMNASIUM_PREFIX):
            spec = spec[len(GYMNASIUM_PREFIX) :]
        if isinstance(spec, GymnasiumEnv):
            raise ConfigError("pass a Gymnasium id or gymnasium.Env, not a built GymnasiumEnv")
        return GymnasiumEnv(spec, num_envs=copies)

    def env_seeds(self, offset: int, per_seed: int) -> list[int]:
        # Seed s's environment copy i uses 1000 * s + i, so seed s alone reproduces it.
        return [offset + 1000 * s + i for s in self.seed_ids for i in range(per_seed)]

    def setup(self) -> float:
        learner, run = self.learner, self.learner.run
        start = time.perf_counter()
        self.env = self._make(run.seeds * run.num_envs)
        obs = self.env.reset(self.env_seeds(0, run.num_envs))
        obs = obs.reshape((run.seeds, run.num_envs) + obs.shape[1:])
        self.state = jax.jit(jax.vmap(learner.init))(self.keys, obs)

        def act(state: LoopState):
            key, act_key, _, learn_key = jax.random.split(state.key, 4)
            state = state.replace(key=key)
            return state, learner.explore(state, act_key), learn_key

        self._act = jax.jit(jax.vmap(act), donate_argnums=0)
        self._learn = jax.jit(jax.vmap(learner.learn), donate_argnums=0)
        self._deterministic = jax.jit(
            jax.vmap(lambda a, o, k: learner.agent.act(a, o, k, run.steps, True))
        )
        self.eval_env = None
        return time.perf_counter() - start

    def advance(self, iterations: int):
        run = self.learner.run
        shape = (run.seeds, run.num_envs)
        sums = {name: np.zeros(run.seeds) for name in self.learner.metric_names}
        counts = np.zeros(run.seeds, np.int64)
        outputs = []
        for _ in range(iterations):
            self.state, action, learn_key = self._act(self.state)
            flat = np.asarray(action).reshape((-1,) + np.shape(action)[2:])
            ts = self.env.step(flat)
            ts = jax.tree.map(lambda x: x.reshape(shape + x.shape[1:]), ts)
            self.state, out, step_sums, num_updates = self._learn(self.state, action, ts, learn_key)
            outputs.append(out)
            counts += np.asarray(num_updates)
            for name in sums:
                sums[name] += np.asarray(step_sums[name])
        outputs = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs], axis=1), *outputs)
        return outputs, sums, counts, np.asarray(self.state.agent.num_updates)

    def evaluate(self, index: int) -> np.ndarray:
        run = self.learner.run
        n = run.eval_episodes
        if self.eval_env is None:
            self.eval_env = self._make(run.seeds * n)
        obs = self.eval_env.reset(self.env_seeds(10_000_000 * (index + 1), n))
        returns = np.zeros(run.seeds * n)
        finished = np.zeros(run.seeds * n, bool)
        keys = derive_keys(self.keys, EVALUATION_SALT, index)
        for _ in range(MAX_HOST_EVAL_STEPS):
            keys, act_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
            batched = obs.reshape((run.seeds, n) + obs.shape[1:])
            action = self._deterministic(self.state.agent, batched, act_keys)
            ts = self.eval_env.step(np.asarray(action).reshape((-1,) + np.shape(action)[2:]))
            returns += np.where(finished, 0.0, ts.reward)
            finished |= ts.terminated | ts.truncated
            obs = ts.obs
            if finished.all():
                break
        return returns.reshape(run.seeds, n)


def seed_table(summary: dict) -> Table:
    table = Table(
        title=f"{summary['agent']} on {summary['env']}: {summary['status']}, "
        f"{summary.get('steps_per_second', 0):,.0f} steps/s "
        f"(compile {summary.get('compile_seconds', 0):.1f}s)"
    )
    for column in ("seed", "final eval return", "best eval return", "last 10 episodes"):
        table.add_column(column, justify="right")
    for entry in summary.get("per_seed", []):
        table.add_row(
            str(entry["seed"]),
            _fmt(entry["final_eval_return"]),
            _fmt(entry["best_eval_return"]),
            _fmt(entry["recent_episode_return"]),
        )
    return table


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def _fmt_mean(values) -> str:
    return f"{np.mean(values):.1f}" if len(values) else "-"


def _make_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} steps"),
        TextColumn("{task.fields[sps]} steps/s"),
        TextColumn("return {task.fields[ret]}"),
        TextColumn("eval {task.fields[eval]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        refresh_per_second=4,
    )


def configs_from_record(
    record: dict,
) -> tuple[str, OffPolicyConfig, RunConfig, DiagnosticsConfig, PlasticityConfig]:
    """Rebuilds ``(agent, agent_config, run_config, diagnostics, plasticity)`` from a
    ``config.json`` record."""

    def build(cls, values: dict):
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name in values:
                v = values[f.name]
                if dataclasses.is_dataclass(
                    f.default_factory if f.default_factory is not dataclasses.MISSING else None
                ):
                    v = build(f.default_factory, v)
                kwargs[f.name] = tuple(v) if isinstance(v, list) else v
        return cls(**kwargs)

    agent_cls = get_agent(record["agent"])
    return (
        record["agent"],
        build(agent_cls.Config, record["agent_config"]),
        build(RunConfig, record["run"]),
        build(DiagnosticsConfig, record.get("diagnostics", {})),
        build(PlasticityConfig, record.get("plasticity", {})),
    )


def rerun(
    run_dir: str | Path,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Runs again the run stored in ``run_dir`` (same agent, config, environment and seeds)."""
    record = runs.load_config(run_dir)
    agent, agent_config, run_config, diagnostics, plasticity = configs_from_record(record)
    if run_config.env.startswith("custom:"):
        raise ConfigError(
            f"{run_dir} was trained on a custom environment object, which a "
            "config file cannot rebuild; call plastix.train with that env"
        )
    if record.get("replay_schedule_object"):
        raise ConfigError(
            f"{run_dir} used a custom replay-ratio schedule object, which a config file cannot "
            "rebuild; call plastix.train with that schedule"
        )
    run_config = run_config.replace(out=None if out is None else str(out), overwrite=overwrite)
    return run_training(
        agent,
        agent_config,
        run_config,
        progress=progress,
        diagnostics=diagnostics,
        plasticity=plasticity,
    )
