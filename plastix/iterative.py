"""The training loop of methods that learn in *iterations*: PPO, REINFORCE, Evolution
Strategies. An iteration collects its own data (a roll-out, a batch of episodes, a generation's
population) and updates once; there is no replay buffer and no replay ratio.

A method is an object with

- ``init(key) -> state`` where ``state.env_steps`` counts environment steps (an int32 scalar);
- ``iterate(state, key) -> (state, metrics)``, ``metrics`` a dict of scalars; the names
  ``episodes`` and ``episode_return_sum`` (episodes finished in the iteration and the sum of
  their returns) become the logged ``episode_return``;
- ``evaluate(state, key, episodes) -> [episodes]`` returns of the deterministic policy;
- ``activations(state, key) -> {network: [layers]}`` for the diagnostics and
  ``params(state) -> {network: params}``;
- ``max_steps_per_iteration``, used to size the compiled chunks.

Seeds are a ``vmap`` and a chunk of iterations is one compiled ``scan``, as for the off-policy
agents. Each seed stops at its step budget (an iteration that starts below the budget runs to its
end, so a seed can pass the budget by less than one iteration; the summary says how many steps
each seed took). The run store is the same as ``plastix.train``'s: ``config.json``,
``metrics.parquet``, ``summary.json``, ``params.msgpack``.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console

from plastix import runs
from plastix.agents.base import tree_where
from plastix.config import RunConfig
from plastix.loop import derive_keys
from plastix.plasticity import metrics as pm
from plastix.plasticity.diagnostics import DiagnosticsConfig, _layer_metrics

ITERATE_SALT, EVAL_SALT, DIAGNOSTICS_SALT = 11, 12, 13


def diagnose(method, state, initial_params, key, config: DiagnosticsConfig):
    """The plasticity diagnostics of one seed (the off-policy agents' metrics), measured on
    observations the current policy visits."""
    out = {}
    params = method.params(state)
    for network, members in method.activations(state, key).items():
        for name, value in _layer_metrics(members, config.dormant_tau).items():
            out[f"{network}/{name}"] = value
        out[f"{network}/weight_norm"] = pm.tree_norm(params[network])
        out[f"{network}/distance_from_init"] = pm.distance(params[network], initial_params[network])
    return out


CHECKPOINT_FILE = "checkpoint.msgpack"


def save_checkpoint(run_dir, state, initial, index: int) -> None:
    """The state of every seed, their initial parameters and the chunk counter."""
    data = {"state": state, "initial": initial, "index": np.asarray(index, np.int64)}
    runs.atomic_write_bytes(Path(run_dir) / CHECKPOINT_FILE, flax.serialization.to_bytes(data))


def load_checkpoint(run_dir, state, initial):
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} has no {CHECKPOINT_FILE} to resume from")
    template = {"state": state, "initial": initial, "index": np.asarray(0, np.int64)}
    data = flax.serialization.from_bytes(template, path.read_bytes())
    return data["state"], data["initial"], int(data["index"])


class IterativeRunner:
    """Host side of an iterative method's run: chunks, evaluation, logging, the run store."""

    def __init__(
        self,
        method,
        run: RunConfig,
        diagnostics: DiagnosticsConfig | None = None,
        backend=None,
    ):
        """``backend``: an object whose ``advance(state, keys, chunk)`` replaces the compiled
        chunk (the Ray backend of ES); it gets ``setup(state)`` once, ``close()`` at the end,
        and its ``summary()`` joins the run's."""
        self.method = method
        self.backend = backend
        self.run = run
        self.diagnostics = DiagnosticsConfig() if diagnostics is None else diagnostics
        per_iter = max(1, int(method.max_steps_per_iteration))
        self.chunk = max(1, run.eval_every // per_iter)
        self.seed_ids = [run.seed + k for k in range(run.seeds)]
        self.keys = jnp.stack([jax.random.key(s) for s in self.seed_ids])
        budget = run.steps

        def chunk(state, key):
            def body(state, key):
                new, metrics = method.iterate(state, key)
                active = state.env_steps < budget
                metrics = {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
                return tree_where(active, new, state), (active, metrics)

            return jax.lax.scan(body, state, jax.random.split(key, self.chunk))

        self._chunk = jax.jit(jax.vmap(chunk))
        self._init = jax.jit(jax.vmap(method.init))
        episodes = run.eval_episodes
        self._evaluate = jax.jit(jax.vmap(lambda s, k: method.evaluate(s, k, episodes)))
        self._diagnose = jax.jit(
            jax.vmap(lambda s, p, k: diagnose(method, s, p, k, self.diagnostics))
        )

    def execute(self, run_dir, config_record, show_progress=True, console=None, resume=False):
        """Runs to the step budget. With ``resume``, continues from ``run_dir``'s checkpoint
        (state, metrics, counters) — the result equals that of an uninterrupted run."""
        from plastix.train import TrainResult, _fmt_mean, _make_progress, seed_table

        console = console or Console(stderr=True)
        run, seeds = self.run, self.seed_ids
        log = runs.MetricLog()
        if resume:
            log.extend(runs.load_metrics(run_dir))
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
            start = time.perf_counter()
            self.state = self._init(self.keys)
            initial = jax.tree.map(jnp.copy, jax.vmap(self.method.params)(self.state))
            index = 0
            if resume:
                self.state, initial, index = load_checkpoint(run_dir, self.state, initial)
            keys = derive_keys(self.keys, ITERATE_SALT, 0)
            if self.backend is None:
                self._chunk = self._chunk.lower(self.state, keys).compile()
            else:
                self.backend.setup(self.state)
                self._chunk = lambda state, keys: self.backend.advance(state, keys, self.chunk)
            ekeys = derive_keys(self.keys, EVAL_SALT, 0)
            self._evaluate = self._evaluate.lower(self.state, ekeys).compile()
            if self.diagnostics.every:
                self._diagnose = self._diagnose.lower(self.state, initial, ekeys).compile()
            compile_seconds = time.perf_counter() - start
        progress = _make_progress(console) if show_progress else None
        label = f"{config_record['agent']} {run.env}"
        task = (
            progress.add_task(label, total=run.steps, sps="-", ret="-", eval="-")
            if progress
            else None
        )
        last_eval: list[float | None] = [None] * len(seeds)
        best_eval: list[float | None] = [None] * len(seeds)
        recent: list[float | None] = [None] * len(seeds)
        steps = np.asarray(self.state.env_steps).astype(np.int64)
        if resume:
            frame = log.frame()
            for k, s in enumerate(seeds):
                evals = frame[(frame.seed == s) & (frame.metric == "eval_return")]
                if len(evals):
                    last_eval[k] = float(evals.value.iloc[-1])
                    best_eval[k] = float(evals.value.max())
        next_diagnostics = int(steps.min()) + (self.diagnostics.every or 0) if resume else 0
        train_seconds = 0.0
        loop_start = last_write = time.perf_counter()
        status = "running"
        try:
            if progress:
                progress.start()
            while (steps < run.steps).any():
                before = steps.copy()
                start = time.perf_counter()
                keys = derive_keys(self.keys, ITERATE_SALT, index)
                self.state, (active, metrics) = self._chunk(self.state, keys)
                steps = np.asarray(self.state.env_steps).astype(np.int64)
                elapsed = time.perf_counter() - start
                train_seconds += elapsed
                active = np.asarray(active)  # [seeds, chunk]
                metrics = {k: np.asarray(v) for k, v in metrics.items()}
                for k, s in enumerate(seeds):
                    if not active[k].any():
                        continue
                    mask = active[k]
                    for name, values in metrics.items():
                        if name in ("episodes", "episode_return_sum"):
                            continue
                        log.add(s, steps[k], name, float(values[k][mask].mean()))
                    n = metrics.get("episodes", np.zeros_like(active))[k][mask].sum()
                    if n > 0:
                        ret = metrics["episode_return_sum"][k][mask].sum() / n
                        log.add(s, steps[k], "episode_return", ret)
                        recent[k] = float(ret)
                    if not all(np.isfinite(v[k][mask]).all() for v in metrics.values()):
                        status = "diverged"
                        from plastix.train import TrainingDiverged

                        raise TrainingDiverged(
                            f"training diverged by step {steps[k]} (seed {s}): a metric is "
                            "not finite; metrics up to this point are kept"
                        )
                returns = np.asarray(
                    self._evaluate(self.state, derive_keys(self.keys, EVAL_SALT, index))
                )
                for k, s in enumerate(seeds):
                    if steps[k] == before[k]:
                        continue
                    mean = float(returns[k].mean())
                    log.add(s, steps[k], "eval_return", mean)
                    log.add(s, steps[k], "eval_return_std", float(returns[k].std()))
                    last_eval[k] = mean
                    best_eval[k] = mean if best_eval[k] is None else max(best_eval[k], mean)
                if self.diagnostics.every and steps.min() >= next_diagnostics:
                    dkeys = derive_keys(self.keys, DIAGNOSTICS_SALT, index)
                    for name, values in self._diagnose(self.state, initial, dkeys).items():
                        log.add_seeds(seeds, int(steps.min()), name, np.asarray(values))
                    next_diagnostics = int(steps.min()) + self.diagnostics.every
                sps = float((steps - before).sum()) / max(elapsed, 1e-9)
                index += 1
                if progress:
                    progress.update(
                        task,
                        completed=int(min(steps.min(), run.steps)),
                        sps=f"{sps:,.0f}",
                        ret=_fmt_mean([r for r in recent if r is not None]),
                        eval=_fmt_mean([e for e in last_eval if e is not None]),
                    )
                if run_dir is not None and time.perf_counter() - last_write > 10.0:
                    log.write(run_dir)
                    save_checkpoint(run_dir, self.state, initial, index)
                    summary.update(status="running", steps_done=int(steps.min()))
                    runs.atomic_write_json(run_dir / runs.SUMMARY_FILE, summary)
                    last_write = time.perf_counter()
            status = "completed"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except Exception:
            status = "diverged" if status == "diverged" else "failed"
            raise
        finally:
            if progress:
                progress.stop()
            if self.backend is not None:
                summary["backend"] = self.backend.summary()
                self.backend.close()
            total = float(steps.sum())
            summary.update(
                {
                    "status": status,
                    "steps_done": int(steps.min()),
                    "steps_per_seed": [int(x) for x in steps],
                    "iterations": index * self.chunk,
                    "wall_seconds": time.perf_counter() - wall_start,
                    "compile_seconds": compile_seconds,
                    "train_seconds": train_seconds,
                    "loop_seconds": time.perf_counter() - loop_start,
                    "steps_per_second_per_seed": total / len(seeds) / max(train_seconds, 1e-9),
                    "steps_per_second": total / max(train_seconds, 1e-9),
                    "per_seed": [
                        {
                            "seed": s,
                            "final_eval_return": last_eval[k],
                            "best_eval_return": best_eval[k],
                            "recent_episode_return": recent[k],
                        }
                        for k, s in enumerate(seeds)
                    ],
                }
            )
            finals = [e for e in last_eval if e is not None]
            summary["final_eval_return_mean"] = float(np.mean(finals)) if finals else None
            if run_dir is not None:
                log.write(run_dir)
                save_checkpoint(run_dir, self.state, initial, index)
                params = jax.vmap(self.method.params)(self.state)
                runs.atomic_write_bytes(
                    run_dir / runs.PARAMS_FILE, flax.serialization.to_bytes(params)
                )
                runs.atomic_write_json(run_dir / runs.SUMMARY_FILE, summary)
        if show_progress:
            console.print(seed_table(summary))
        return TrainResult(self.method, run, log.frame(), summary, self.state, run_dir)
