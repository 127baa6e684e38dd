"""One configuration's seeds split into groups that train apart, and merged back into one run.

Seed ``k`` of a run uses ``seed + k`` whatever else runs beside it, so seeds 5–9 trained as
their own run are the seeds 5–9 of the full run. A group is a run of its own in
``.CELL.seeds/SEED-LAST`` beside the cell's run directory (a driver restarted with the same
``--out`` keeps the groups that finished); once every group has finished, ``merge`` writes the
cell's run directory from them and the groups are removed.

On the CPU the merged run is the vmapped run bit for bit when every group has 2 or more seeds.
A group of one seed compiles to a program without the seed axis, whose floating-point rounding
differs (parameters differed by 5e-7 relative after 2,000 DQN steps), so its seed's run is
close to, not equal to, the vmapped one.

The merged run holds every seed's metrics (grouped by seed group), parameters and summary.
The summary's timings are the groups' sums (the compute the cell took) and ``seed_groups``
says where each group ran. It has no checkpoint: the groups' states are not joined into one,
so a merged run cannot be continued with ``plastix resume``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import flax.serialization
import jax
import numpy as np

from plastix import api, runs
from plastix.errors import ConfigError

SUMMED = ("compile_seconds", "loop_seconds", "train_seconds", "wall_seconds")
PER_GROUP = ("host", "pid", "wall_seconds")


def groups_folder(run_dir: Path) -> Path:
    return run_dir.with_name(f".{run_dir.name}.seeds")


def split(job, per_task: int | None) -> list:
    """The job's seeds in groups of ``per_task`` (the last may be smaller), each a job that
    returns no checkpoint; ``[job]`` when it needs no split."""
    if per_task is not None and per_task < 1:
        raise ConfigError(f"seeds-per-task must be >= 1, got {per_task}")
    run = job.run
    if per_task is None or per_task >= run.seeds:
        return [job]
    folder = groups_folder(Path(run.out))
    parts = []
    for first in range(run.seed, run.seed + run.seeds, per_task):
        count = min(per_task, run.seed + run.seeds - first)
        last = first + count - 1
        part = dataclasses.replace(
            run, seed=first, seeds=count, out=str(folder / f"{first}-{last}"), overwrite=True
        )
        parts.append(
            dataclasses.replace(
                job,
                label=f"{job.label} seeds {first}-{last}",
                run=part,
                returns_checkpoint=False,
            )
        )
    return parts


def finished(job) -> bool:
    """A group stored by an earlier driver with this job's configuration."""
    run_dir = Path(job.run.out)
    try:
        summary = runs.load_summary(run_dir)
        entry = api.read_record(run_dir)
    except (FileNotFoundError, ConfigError):
        return False
    return (
        summary.get("status") == "completed"
        and entry.algorithm == job.agent
        and entry.agent_config == job.agent_config
        and entry.plasticity == job.plasticity
        and entry.run == job.run
    )


def merge(parts: list[Path], out: Path) -> None:
    """Writes the run directory ``out`` from seed groups ``parts`` (in seed order), replacing
    what was there; then removes the groups."""
    configs = [runs.load_config(p) for p in parts]
    first = configs[0]
    seeds = [c["run"]["seeds"] for c in configs]
    for config, previous in zip(configs[1:], configs, strict=False):
        if config["run"]["seed"] != previous["run"]["seed"] + previous["run"]["seeds"]:
            raise ValueError(f"seed groups {parts} are not consecutive")
        if _without_seeds(config) != _without_seeds(first):
            raise ValueError(f"seed groups {parts} are runs of different configurations")
    config = json.loads(json.dumps(first))
    config["run"].update(seeds=sum(seeds), out=str(out))

    staging = out.with_name(f".{out.name}.merging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    runs.atomic_write_json(staging / runs.CONFIG_FILE, config)
    log = runs.MetricLog()
    for p in parts:
        log.extend(runs.load_metrics(p))
    log.write(staging)
    params = [p / runs.PARAMS_FILE for p in parts]
    if all(p.exists() for p in params):
        trees = [flax.serialization.msgpack_restore(p.read_bytes()) for p in params]
        joined = jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *trees)
        runs.atomic_write_bytes(
            staging / runs.PARAMS_FILE, flax.serialization.msgpack_serialize(joined)
        )
    summaries = [runs.load_summary(p) for p in parts]
    runs.atomic_write_json(staging / runs.SUMMARY_FILE, merge_summaries(summaries, seeds))
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    for p in parts:
        shutil.rmtree(p, ignore_errors=True)
    folder = parts[0].parent
    if folder.exists() and not any(folder.iterdir()):
        folder.rmdir()


def _without_seeds(config: dict) -> dict:
    run = {k: v for k, v in config["run"].items() if k not in ("seed", "seeds", "out")}
    return dict(config, run=run)


def merge_summaries(summaries: list[dict], seeds: list[int]) -> dict:
    """One run's summary from its seed groups': per-seed lists joined, timings summed, the
    status the worst of theirs, and where each group ran under ``seed_groups``."""
    out: dict = {}
    for key in dict.fromkeys(k for s in summaries for k in s):
        values = [s.get(key) for s in summaries]
        if key in SUMMED:
            out[key] = float(sum(v or 0.0 for v in values))
        elif key == "updated":
            out[key] = max(v or 0.0 for v in values)
        elif all(isinstance(v, list) and len(v) == n for v, n in zip(values, seeds, strict=True)):
            out[key] = [x for v in values for x in v]
        elif all(v == values[0] for v in values):
            out[key] = values[0]
        else:
            out[key] = values  # differs between groups: one value per group
    statuses = [s.get("status") for s in summaries]
    out["status"] = next((s for s in statuses if s != "completed"), "completed")
    steps = out.get("steps_per_seed")
    if isinstance(steps, list) and steps:
        out["steps_done"] = int(min(steps))
        train = max(out.get("train_seconds", 0.0), 1e-9)
        out["steps_per_second"] = float(sum(steps)) / train
        out["steps_per_second_per_seed"] = float(sum(steps)) / len(steps) / train
    finals = [e.get("final_eval_return") for e in out.get("per_seed", [])]
    finals = [f for f in finals if f is not None]
    if "final_eval_return_mean" in out:
        out["final_eval_return_mean"] = float(np.mean(finals)) if finals else None
    out["seed_groups"] = [
        {"seeds": s.get("seeds"), **{k: s.get(k) for k in PER_GROUP}} for s in summaries
    ]
    for key in ("host", "pid"):
        if isinstance(out.get(key), list):
            del out[key]  # in seed_groups
    out["checkpoint"] = "none: the seeds trained as separate groups (seed_groups)"
    return out
