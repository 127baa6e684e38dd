"""The one host loop of every run: chunks, evaluation, diagnostics, interventions, the NaN stop,
progress, checkpoints, signals and the run directory.

Per chunk the runner asks the program to ``advance`` (one compiled, seed-vmapped ``scan`` for a
jittable environment), logs what the chunk did, stops with ``TrainingDiverged`` if an update
metric is not finite, then at the chunk's end evaluates, measures the diagnostics and lets the
interventions act when they are due (``Moment``), and writes the run directory now and then.
Chunks end wherever something is due (``FixedClock``/``StepClock``).

Every way a run ends leaves a true status in ``summary.json``: ``completed``, ``diverged``,
``interrupted`` (Ctrl-C or SIGTERM: the chunk in flight finishes, a checkpoint is written;
a second signal stops at once, keeping the last checkpoint) or ``failed``; a run whose process
was killed says ``running`` with no process holding its lock, which readers show as ``dead``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from rich.console import Console

from plastix import _xla, runs
from plastix import console as out
from plastix.config import RunConfig
from plastix.errors import TrainingDiverged, require
from plastix.keys import Stream, derive_keys, seed_keys
from plastix.plasticity.config import PlasticityConfig
from plastix.plasticity.diagnostics import DiagnosticsConfig, measure
from plastix.plasticity.interventions import Context, Moment
from plastix.plasticity.interventions.base import REPLAY_RATIO
from plastix.plasticity.scheduler import Scheduler, max_replay_ratio
from plastix.rundir import RunDir
from plastix.training import checkpoint
from plastix.training.book import Book, Writer
from plastix.training.program import Program
from plastix.training.signals import Interrupted, StopRequests

WRITE_SECONDS = 10.0
"""seconds between writes of the metrics and the summary (the heartbeat of a live run)."""


@dataclass
class Outcome:
    """What a run produced: the metrics table, the summary and the final state."""

    metrics: pd.DataFrame
    summary: dict
    state: Any
    run_dir: Path | None = None
    interrupted: int | None = field(default=None)
    """the signal that stopped it, if one did."""


class Runner:
    def __init__(
        self,
        program: Program,
        run: RunConfig,
        diagnostics: DiagnosticsConfig | None = None,
        plasticity: PlasticityConfig | None = None,
        options: dict | None = None,
        progress: bool = True,
        console: Console | None = None,
        algorithms_with: dict | None = None,
    ):
        """Builds (and so validates) every intervention against ``program``; nothing is
        compiled yet. ``options``: Python objects a config cannot hold (a replay-ratio
        schedule); ``algorithms_with``: capability -> algorithms, for error messages."""
        self.program = program
        self.run = run
        self.diagnostics = DiagnosticsConfig() if diagnostics is None else diagnostics
        self.plasticity = PlasticityConfig() if plasticity is None else plasticity
        self.progress = progress
        self.console = console or out.stderr()
        options = dict(options or {})
        ratio = run.replay_ratio
        if REPLAY_RATIO in program.capabilities:
            ratio = max_replay_ratio(self.plasticity, run.replay_ratio, options)
            require(
                run.steps * ratio < 2**31,
                f"steps × replay ratio ({run.steps:,} × {ratio:g}) is more gradient updates "
                "than the 32-bit update counter holds (2,147,483,647)",
            )
        self.context = Context(
            seeds=run.seeds,
            replay_ratio=run.replay_ratio,
            max_updates_per_step=program.updates_per_step(ratio),
            measure=self.measure,
            options=options,
            algorithms_with=dict(algorithms_with or {}),
        )
        self.scheduler = Scheduler(self.plasticity, program, self.context)
        self.seed_ids = [run.seed + k for k in range(run.seeds)]
        self.keys = seed_keys(run.seed, run.seeds)
        intervals = [run.log_every, run.eval_every] + self.scheduler.intervals()
        if self.diagnostics.every:
            intervals.append(self.diagnostics.every)
        self.scenario = program.scenario
        if self.scenario is not None:  # chunks end at every switch
            intervals.append(self.scenario.every)
        self.chunk = program.clock.chunk(intervals)
        self._diagnose = None
        self.signals = StopRequests(self.console)

    # diagnostics -------------------------------------------------------------------------------

    def measure(self, state, keys, compile_only: bool = False) -> dict[str, np.ndarray]:
        """The diagnostics of every seed of ``state`` with per-seed ``keys`` (the interventions
        read them too: the Adaptive Replay Ratio's FAU)."""
        if self._diagnose is None:
            program, config = self.program, self.diagnostics

            def diagnose(state, initial, key):
                activations = program.activations(state, key, config.batch_size)
                return measure(activations, program.params(state), initial, config.dormant_tau)

            self._diagnose = jax.jit(jax.vmap(diagnose)).lower(state, self.initial, keys).compile()
        if compile_only:
            return {}
        values = self._diagnose(state, self.initial, keys)
        return {name: np.asarray(v) for name, v in values.items()}

    # the loop ----------------------------------------------------------------------------------

    def execute(self, claim: RunDir | None = None, resume: bool = False) -> Outcome:
        """Runs to the step budget (from the checkpoint in the claimed run directory with
        ``resume``), writing the run directory if there is one (claimed by the caller, its
        ``config.json`` written). A resume that cannot start leaves every file as it was, and
        a run replacing another takes its place only once it has its first files."""
        program, run = self.program, self.run
        self.book = Book(self.seed_ids)
        self.summary: dict[str, Any] = {
            "status": "compiling",
            "agent": program.algorithm,
            "env": run.env,
            "seeds": self.seed_ids,
            "steps": run.steps,
            **({"scenario": self.scenario.describe()} if self.scenario else {}),
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        self.writer = Writer(claim, run.log, self.seed_ids)
        run_dir = self.writer.run_dir
        self.timings = {"compile_seconds": 0.0, "train_seconds": 0.0, "loop_seconds": 0.0}
        self.position = {"iteration": 0, "evaluations": 0, "before": 0}
        self.state, self.steps, self.started, self.valid = None, None, False, False
        wall_start = time.perf_counter()
        status, interrupted = "compiling", None
        with self.signals.installed():
            try:
                if resume:
                    self.summary["resumed_at"] = runs.load_summary(run_dir).get("resumed_at", [])
                else:
                    self.writer.summary(dict(self.summary, updated=time.time()))
                self._start(run_dir if resume else None)
                status = "running"
                self._loop()
                status = "completed"
            except Interrupted as e:
                status, interrupted = "interrupted", e.signum
                self.summary["signal"] = signal.Signals(e.signum).name
            except KeyboardInterrupt:
                status = "interrupted"
                self.summary["signal"] = "SIGINT"
                raise
            except TrainingDiverged:
                status = "diverged"
                raise
            except BaseException as e:
                status = "failed"
                self.summary["error"] = f"{type(e).__name__}: {e}"
                raise
            finally:
                self._finish(status, time.perf_counter() - wall_start, resume)
        if self.progress:
            self.console.print(out.seed_table(self.summary))
        target = claim.target if claim is not None else None
        return Outcome(self.book.frame(), self.summary, self.state, target, interrupted)

    def _evaluate(self, state, steps: np.ndarray, switched: bool) -> None:
        """Evaluates every seed; in a scenario on the task of the last step trained (at a
        switch: the task that just ended, whose return is also ``task_end_return``; a batch
        of whole episodes that crossed the switch trained on it), and logs that task's index
        as ``task``."""
        program, pos, book = self.program, self.position, self.book
        keys = derive_keys(self.keys, Stream.EVALUATION, pos["evaluations"])
        pos["evaluations"] += 1
        if self.scenario is None:
            book.evaluation(steps, program.evaluate(state, pos["evaluations"] - 1, keys))
            return
        every = self.scenario.every
        clock = np.maximum((steps // every) * every - 1 if switched else steps - 1, 0)
        returns = program.evaluate(state, pos["evaluations"] - 1, keys, clock)
        book.evaluation(steps, returns)
        tasks = clock // every
        book.rows(int(steps.min()), {"task": tasks})
        if switched:
            book.task_end(steps, tasks, returns)

    def _start(self, resume_dir: Path | None) -> None:
        """Initial state (or the checkpoint's) and every compiled piece."""
        program, clock = self.program, self.program.clock
        compiling = self.console.status("compiling ...") if self.progress else None
        with compiling or contextlib.nullcontext():
            start, cached = time.perf_counter(), _xla.cache_counts()
            state = self.scheduler.initialize(program.init(self.keys))
            self.initial = jax.tree.map(jnp.copy, jax.vmap(program.params)(state))
            if resume_dir is not None:
                state, self.initial, meta, host = checkpoint.load(resume_dir, state, self.initial)
                state, exact = program.restore_host(state, host)
                self.position = {k: meta[k] for k in self.position}
                self.scheduler.load_state_dict(meta["scheduler"])
                self.timings.update(meta["timings"])
                self.book.restore(runs.load_metrics(resume_dir), meta["metric_rows"])
                if self.writer.sinks is not None:
                    self.writer.sinks.skip(meta["metric_rows"])
                self.summary["resumed_at"].append(int(program.env_steps(state).min()))
                if not exact:
                    self.summary["resumed_with_fresh_episodes"] = True
            self.state, self.valid = state, True
            program.compile(state, clock.lengths(self.chunk, self.position["iteration"]))
            if self.diagnostics.every:
                keys = derive_keys(self.keys, Stream.DIAGNOSTICS, 0)
                self._compile_measure(state, keys)
            self.timings["compile_seconds"] += time.perf_counter() - start
            after = _xla.cache_counts()
            self.summary["compilation_cache"] = {
                "dir": jax.config.jax_compilation_cache_dir or None,
                **{k: after[k] - cached[k] for k in after},
            }
        self.steps = program.env_steps(state)
        self.started = True

    def _loop(self) -> None:
        program, run, clock, book = self.program, self.run, self.program.clock, self.book
        pos, timings, state = self.position, self.timings, self.state
        steps = self.steps
        base = f"{program.algorithm} {run.env}"
        every = self.scenario.every if self.scenario else None
        label = f"{base} · task {int(steps.min()) // every}" if every else base
        bar = task = None
        if self.progress:
            bar = out.progress_bar(self.console, "steps", ("sps", "ret", "eval"))
            done = int(min(steps.min(), clock.total_steps))
            task = bar.add_task(
                label, total=clock.total_steps, completed=done, sps="-", ret="-", eval="-"
            )
            bar.start()
        self.bar = bar
        loop_start = last_write = last_checkpoint = time.perf_counter()
        loop_before = timings["loop_seconds"]
        try:
            while not clock.done(pos["iteration"], steps):
                n = clock.next(pos["iteration"], self.chunk)
                start = time.perf_counter()
                self.valid = False
                state, chunk = program.advance(state, n, pos["iteration"])
                self.state, self.valid = state, True
                elapsed = time.perf_counter() - start
                timings["train_seconds"] += elapsed
                pos["iteration"] += n
                advanced = chunk.steps - steps
                self.steps = steps = chunk.steps
                step = int(steps.min())
                book.chunk(chunk, step, float(advanced.mean()) / max(elapsed, 1e-9))
                book.check_finite(chunk, self.writer.run_dir)
                self.scheduler.observe(chunk)
                now = clock.now(pos["iteration"], steps)
                moment = Moment(step, now, pos["before"], program.updates(state), clock.units)
                last = clock.done(pos["iteration"], steps)
                switched = self.scenario is not None and moment.every(self.scenario.every)
                if moment.every(run.eval_every) or last or switched:
                    self._evaluate(state, steps, switched)
                if switched and not last:  # the bar names the task now being learned
                    label = f"{base} · task {step // every}"
                    if bar:
                        bar.update(task, description=label)
                if self.diagnostics.every and (moment.every(self.diagnostics.every) or switched):
                    keys = derive_keys(self.keys, Stream.DIAGNOSTICS, pos["iteration"])
                    book.rows(step, self.measure(state, keys))
                if not last:  # nothing acts after the last step
                    note = self.scheduler.note(moment)
                    if bar and note:
                        bar.update(task, description=f"{program.algorithm} {note}")
                    self.valid = False
                    state, logged = self.scheduler.apply(state, moment, self.keys)
                    self.state, self.valid = state, True
                    if bar and note:
                        bar.update(task, description=label)
                    book.rows(step, logged, skip_nan=True)
                pos["before"] = now
                if bar:
                    bar.update(
                        task,
                        completed=int(min(step, clock.total_steps)),
                        sps=f"{advanced.sum() / max(elapsed, 1e-9):,.0f}",
                        ret=out.fmt_mean(book.recent_means()),
                        eval=out.fmt_mean(book.last_eval),
                    )
                tick = time.perf_counter()
                timings["loop_seconds"] = loop_before + tick - loop_start
                if last:
                    break
                self.signals.check()
                if self.writer.on and self.writer.claim.staged:  # its first complete files
                    self.writer.metrics(book.log)
                    heartbeat = dict(status="running", steps_done=step, updated=time.time())
                    self.writer.summary(dict(self.summary, **heartbeat))
                    self.writer.commit()
                if self.writer.on and tick - last_checkpoint >= run.checkpoint_seconds:
                    self.writer.metrics(book.log)
                    self.writer.checkpoint(program, state, self.initial, self._meta())
                    last_checkpoint = last_write = tick
                if self.writer.on and tick - last_write > WRITE_SECONDS:
                    self.writer.metrics(book.log)
                    heartbeat = dict(status="running", steps_done=step, updated=time.time())
                    self.writer.summary(dict(self.summary, **heartbeat))
                    last_write = tick
        finally:
            if bar:
                bar.stop()

    def _finish(self, status: str, wall_seconds: float, resume: bool) -> None:
        """The summary (and the final files) of a run that ends as ``status``."""
        program, summary, timings = self.program, self.summary, self.timings
        self.signals.finishing = True
        try:
            if not self.started:
                if self.writer.on and self.writer.claim.staged:
                    self.writer.claim.abandon()  # the run it would replace stays as it was
                elif self.writer.on and not resume:  # a resume that cannot start touches nothing
                    summary["status"] = status
                    self.writer.summary(dict(summary, updated=time.time()))
                return
            steps = self.steps
            summary.update(
                status=status,
                steps_done=int(steps.min()),
                steps_per_seed=[int(x) for x in steps],
                iterations=self.position["iteration"],
                wall_seconds=wall_seconds,
                **timings,
                **program.summary(),
                **self.scheduler.summary(),
            )
            train = max(timings["train_seconds"], 1e-9)
            summary["steps_per_second_per_seed"] = float(steps.sum()) / len(steps) / train
            summary["steps_per_second"] = float(steps.sum()) / train
            summary.update(self.book.per_seed())
            if not self.writer.on:
                return
            # every file that can be written is (a full disk may refuse the large ones); the
            # summary, small, says what happened
            self._write("metrics", lambda: self.writer.metrics(self.book.log))
            if self.valid:
                meta = self._meta()
                state, initial = self.state, self.initial
                self._write(
                    "checkpoint", lambda: self.writer.checkpoint(program, state, initial, meta)
                )
                policy = jax.vmap(program.policy_state)(self.state)
                self._write("parameters", lambda: self.writer.params(policy))
            else:
                summary["state_lost"] = "stopped mid-chunk; the last checkpoint is kept"
            self.writer.summary(dict(summary, updated=time.time()))
            self.writer.commit()
        finally:
            program.close()
            self.writer.close()

    def _write(self, what: str, write) -> None:
        try:
            write()
        except OSError as e:
            self.summary.setdefault("not_written", []).append(f"{what}: {e.strerror or e}")
        except Exception as e:  # e.g. a state that cannot be serialised: the summary still says
            self.summary.setdefault("not_written", []).append(f"{what}: {type(e).__name__}: {e}")

    def _compile_measure(self, state, keys) -> None:
        self.measure(state, keys, compile_only=True)

    def _meta(self) -> dict:
        return {
            **self.position,
            "scheduler": self.scheduler.state_dict(),
            "timings": dict(self.timings),
            "metric_rows": len(self.book.log.seed),
        }
