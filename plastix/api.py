"""The Python face of plastix: ``train``, ``rerun``, ``resume``, ``load_policy``.

Everything that can be wrong with the input (algorithm, environment, config values, action
space, interventions, run directory) is checked before anything is compiled: the algorithm's
program is built (``plastix.algorithms``) and the runner builds every intervention against it
(``plastix.training.runner``); only then is the run directory claimed and written.
"""

from __future__ import annotations

import dataclasses
import signal
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from rich.console import Console

from plastix import _xla, algorithms, runs
from plastix.config import RunConfig
from plastix.envs import check_env_name
from plastix.errors import ConfigError
from plastix.keys import seed_keys
from plastix.plasticity import scheduler
from plastix.plasticity.config import PlasticityConfig
from plastix.plasticity.diagnostics import DiagnosticsConfig
from plastix.plasticity.replay_ratio import ReplayRatioSchedule
from plastix.rundir import RunDir
from plastix.training import checkpoint, record, sinks
from plastix.training.program import Program
from plastix.training.runner import Runner


@dataclass
class TrainResult:
    """What ``train`` returns: the metrics table, the summary, and the final state."""

    agent: Any
    """the agent or method object (config, spaces, networks)."""
    run_config: RunConfig
    metrics: pd.DataFrame
    summary: dict
    state: Any = field(repr=False)
    run_dir: Path | None = None
    program: Program | None = field(default=None, repr=False)

    def eval_returns(self) -> pd.DataFrame:
        """Evaluation return per step (rows) and seed (columns)."""
        rows = self.metrics[self.metrics.metric == "eval_return"]
        return rows.pivot_table(index="step", columns="seed", values="value")

    def predict(self, obs, seed: int = 0, deterministic: bool = True, key=None) -> np.ndarray:
        """Actions of seed ``seed``'s final policy for an observation or a batch of them."""
        policies = jax.vmap(self.program.policy_state)(self.state)
        return _predict(self.program, policies, seed, obs, deterministic, key)


class Policy:
    """The final policy of each seed of a stored run: ``predict(obs, seed=0)``."""

    def __init__(self, program: Program, policies):
        self.program = program
        self.policies = policies
        self.num_seeds = int(jax.tree.leaves(policies)[0].shape[0])

    def predict(self, obs, seed: int = 0, deterministic: bool = True, key=None) -> np.ndarray:
        return _predict(self.program, self.policies, seed, obs, deterministic, key)


def _predict(program: Program, policies, seed: int, obs, deterministic: bool, key):
    seeds = int(jax.tree.leaves(policies)[0].shape[0])
    if not 0 <= seed < seeds:
        raise IndexError(f"seed index {seed} out of range: this run has {seeds} seeds")
    policy = jax.tree.map(lambda x: x[seed], policies)
    obs = jnp.asarray(obs, jnp.float32)
    single = obs.shape == program.observation_shape
    if single:
        obs = obs[None]
    key = jax.random.key(0) if key is None else key
    action = program.act(policy, obs, key, deterministic)
    # ppo-s2pg acts with (action, next internal state)
    return jax.tree.map(lambda x: np.asarray(x[0] if single else x), action)


def agent_config(name: str, options: dict):
    """The config of algorithm ``name`` from keyword options, naming unknown ones."""
    cls = algorithms.get(name).Config
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"unknown {name} option(s) {', '.join(unknown)}; valid options: "
            f"{', '.join(sorted(known))}"
        )
    return cls(**options)


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
    checkpoint_seconds: float = 300.0,
    log: tuple[str, ...] = (),
    scenario: str = "none",
    switch_every: int = 0,
    scenario_tasks: tuple[str, ...] = (),
    progress: bool = True,
    config=None,
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
    injection, augmentation, replay-ratio schedules), for every algorithm whose program
    supports them; ``replay_schedule`` may instead be a ``ReplayRatioSchedule`` object of your
    own. ``scenario`` makes the run a continual-learning task sequence on ``env`` (``permuted``,
    ``sequence`` of gymnax ids in ``scenario_tasks``, ``dynamics`` overrides such as
    ``"length=1.0"``), switching every ``switch_every`` steps inside the compiled loop
    (``plastix.envs.continual``). A run stored in ``out`` can be continued after a crash with
    ``resume``.
    """
    if config is None:
        config = agent_config(agent, agent_options)
    elif agent_options:
        config = dataclasses.replace(config, **agent_options)
    env_name = env if isinstance(env, str) else f"custom:{_env_label(env)}"
    run = RunConfig(
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
        checkpoint_seconds=checkpoint_seconds,
        log=tuple(log),
        scenario=scenario,
        switch_every=switch_every,
        scenario_tasks=tuple(scenario_tasks),
    )
    return run_training(
        agent,
        config,
        run,
        env=env,
        progress=progress,
        diagnostics=diagnostics,
        plasticity=plasticity,
        replay_schedule=replay_schedule,
    )


def _env_label(env) -> str:
    spec = getattr(env, "spec", None)
    return getattr(spec, "id", None) or getattr(env, "name", None) or type(env).__name__


def prepare(
    name: str,
    agent_config,
    run: RunConfig,
    env: Any = None,
    progress: bool = True,
    console: Console | None = None,
    diagnostics: DiagnosticsConfig | None = None,
    plasticity: PlasticityConfig | None = None,
    replay_schedule: ReplayRatioSchedule | None = None,
) -> Runner:
    """The runner of a run, with its program built and every option checked; nothing is
    compiled or written yet."""
    algorithm = algorithms.get(name)
    if not isinstance(agent_config, algorithm.Config):
        raise ConfigError(
            f"{name} needs a {algorithm.Config.__name__}, got {type(agent_config).__name__}"
        )
    plasticity = PlasticityConfig() if plasticity is None else plasticity
    env = run.env if env is None else env
    if isinstance(env, str):
        check_env_name(env)
    sinks.check(run.log)
    _xla.enable_compilation_cache()
    program = algorithm.build(agent_config, run, env, scheduler.build_options(plasticity))
    try:
        objects = {"replay_schedule": replay_schedule} if replay_schedule is not None else {}
        return Runner(
            program,
            run,
            diagnostics,
            plasticity,
            objects,
            progress,
            console,
            algorithms.algorithms_with(),
        )
    except BaseException:
        program.close()
        raise


def run_training(name: str, agent_config, run: RunConfig, **options) -> TrainResult:
    """Checks, builds and runs one configuration; stores it in ``run.out`` if set.
    ``options``: ``prepare``'s (``env``, ``progress``, ``diagnostics``, ``plasticity``, ...)."""
    runner = prepare(name, agent_config, run, **options)
    replay_schedule = options.get("replay_schedule")
    claim = None
    try:
        claim = RunDir.claim(run.out, run.overwrite) if run.out else None
        if claim is not None:
            entry = record.make(
                name,
                agent_config,
                run,
                runner.diagnostics,
                runner.plasticity,
                replay_schedule_object=None if replay_schedule is None else repr(replay_schedule),
                jittable_env=runner.program.jittable,
            )
            runs.atomic_write_json(claim.path / runs.CONFIG_FILE, entry)
        outcome = runner.execute(claim)
    except BaseException:
        runner.program.close()
        if claim is not None and claim.staged:
            claim.abandon()
        raise
    finally:
        if claim is not None:
            claim.release()
    return _result(runner, outcome)


def _result(runner: Runner, outcome) -> TrainResult:
    if outcome.interrupted == signal.SIGINT:
        raise KeyboardInterrupt
    if outcome.interrupted is not None:
        raise SystemExit(128 + outcome.interrupted)
    program = runner.program
    return TrainResult(
        program.agent,
        runner.run,
        outcome.metrics,
        outcome.summary,
        outcome.state,
        outcome.run_dir,
        program,
    )


def read_record(run_dir, warn: bool = False) -> record.Record:
    """A stored run's configuration, read strictly; ``warn``: say so when another plastix
    version recorded it."""
    entry = record.read(run_dir, lambda name: algorithms.get(name).Config)
    if warn and entry.version_note:
        warnings.warn(f"{run_dir}: {entry.version_note}", stacklevel=3)
    return entry


def rerun(
    run_dir: str | Path,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Runs again the run stored in ``run_dir`` (same agent, config, environment and seeds)."""
    entry = read_record(run_dir, warn=True)
    if entry.run.env.startswith("custom:"):
        raise ConfigError(
            f"{run_dir} was trained on a custom environment object, which a "
            "config file cannot rebuild; call plastix.train with that env"
        )
    if entry.raw.get("replay_schedule_object"):
        raise ConfigError(
            f"{run_dir} used a custom replay-ratio schedule object, which a config file cannot "
            "rebuild; call plastix.train with that schedule"
        )
    # a rerun that stores nothing has nowhere to copy metrics to
    sinks_kept = {} if out is not None else {"log": ()}
    run = entry.run.replace(
        out=None if out is None else str(out), overwrite=overwrite, **sinks_kept
    )
    return run_training(
        entry.algorithm,
        entry.agent_config,
        run,
        progress=progress,
        diagnostics=entry.diagnostics,
        plasticity=entry.plasticity,
    )


def resume(
    run_dir: str | Path, steps: int | None = None, progress: bool = True, env: Any = None
) -> TrainResult:
    """Continues a stored run from its last checkpoint, to its step budget or to ``steps`` per
    seed; the run directory is updated in place. The result is the one an uninterrupted run
    gives (bit for bit on the CPU, for jittable environments and host environments that can
    be pickled). ``env``: the environment object of a run trained on one."""
    run_dir = Path(run_dir)
    entry = read_record(run_dir, warn=True)
    algorithm = algorithms.get(entry.algorithm)
    run = entry.run.replace(out=str(run_dir))
    if entry.run.env.startswith("custom:") and env is None:
        raise ConfigError(f"{run_dir} was trained on a custom environment: pass it as env=")
    if not checkpoint.exists(run_dir):
        raise ConfigError(f"{run_dir} has no {checkpoint.CHECKPOINT_FILE} to resume from")
    status = runs.run_status(run_dir)
    if status in runs.LIVE:
        raise ConfigError(f"{run_dir} is still running (status {status}); it cannot be resumed")
    if steps is not None and steps != run.steps:
        if steps < run.steps:
            raise ConfigError(f"steps must be >= the run's budget ({run.steps}), got {steps}")
        reason = algorithm.fixed_budget(entry.agent_config)
        if reason:
            raise ConfigError(
                f"{run_dir} cannot be continued past its budget of {run.steps} steps: {reason}; "
                "start a new run with the larger budget"
            )
        run = run.replace(steps=steps)
    elif status == "completed":
        raise ConfigError(
            f"{run_dir} completed its {run.steps} steps; pass steps (--steps) to continue it"
        )
    runner = prepare(
        entry.algorithm,
        entry.agent_config,
        run,
        env,
        progress,
        diagnostics=entry.diagnostics,
        plasticity=entry.plasticity,
    )
    try:
        claim = RunDir.existing(run_dir)
    except BaseException:
        runner.program.close()
        raise
    try:
        outcome = runner.execute(claim, resume=True)
        if run.steps != entry.run.steps:
            raw = dict(entry.raw, run=dataclasses.asdict(run))
            runs.atomic_write_json(run_dir / runs.CONFIG_FILE, raw)
    finally:
        claim.release()
    return _result(runner, outcome)


def load_policy(run_dir: str | Path, env: Any = None) -> Policy:
    """The stored final policy of every seed of a run, for any algorithm; ``env``: the
    environment object of a run trained on one (for its spaces)."""
    entry = read_record(run_dir, warn=True)
    if entry.run.env.startswith("custom:") and env is None:
        raise ConfigError(f"{run_dir} was trained on a custom environment: pass it as env=")
    algorithm = algorithms.get(entry.algorithm)
    options = scheduler.build_options(entry.plasticity)
    program = algorithm.build(entry.agent_config, entry.run, env or entry.run.env, options)
    program.close()
    keys = seed_keys(entry.run.seed, entry.run.seeds)
    shapes = jax.eval_shape(jax.vmap(program.policy_state), program.state_shapes(keys))
    template = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    path = Path(run_dir) / runs.PARAMS_FILE
    if not path.exists():
        raise ConfigError(f"{run_dir} has no {runs.PARAMS_FILE} (the run stored no final policy)")
    policies = flax.serialization.from_bytes(template, path.read_bytes())
    return Policy(program, policies)
