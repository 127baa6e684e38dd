"""Learning-history datasets on disk: what in-context RL methods train on.

A dataset is a directory with

- ``data.npz``: ``obs [N, T, obs_dim]`` (float32), ``action [N, T]`` (int32), ``reward [N, T]``
  (float32), ``done [N, T]`` (bool, the end of an episode), ``task [N, ...]`` (the task's
  parameters: arm means, goal cells) and, where the task has one, ``optimal_action [N]``
  (the label DPT learns);
- ``meta.json``: ``format`` (``plastix-icrl-histories``), ``version`` (1), the environment and its
  settings, the source algorithm, the split, the seed, the plastix version.

``N`` is the number of tasks, ``T`` the length of each task's whole learning history (all its
episodes, in order, optionally subsampled; every episode has exactly ``horizon`` steps, and
``optimal_action`` is ``[N, T]``: the optimal action in each recorded observation).
``save`` refuses to overwrite; ``load`` checks the format and version.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from plastix.errors import ConfigError
from plastix.icrl.tasks import Family, SourceConfig
from plastix.runs import atomic_write_bytes

FORMAT, VERSION = "plastix-icrl-histories", 1
REQUIRED = ("obs", "action", "reward", "done", "task")


def save(out, arrays: dict, meta: dict) -> Path:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose another folder")
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise ValueError(f"a dataset needs the arrays {', '.join(missing)}")
    out.mkdir(parents=True, exist_ok=True)
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write_bytes(out / "data.npz", buffer.getvalue())
    from plastix._version import __version__

    meta = {"format": FORMAT, "version": VERSION, "plastix_version": __version__, **meta}
    atomic_write_bytes(out / "meta.json", json.dumps(meta, indent=1).encode())
    return out


def load(path) -> tuple[dict[str, np.ndarray], dict]:
    """A dataset's arrays and meta, checked against each other (``validate``)."""
    path = Path(path)
    if not (path / "meta.json").exists():
        raise FileNotFoundError(f"{path} is not a plastix dataset (no meta.json)")
    try:
        meta = json.loads((path / "meta.json").read_text())
    except ValueError as e:
        raise ConfigError(f"{path / 'meta.json'} is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
        got = meta if not isinstance(meta, dict) else (meta.get("format"), meta.get("version"))
        raise ConfigError(
            f"{path} holds format and version {got!r}; this plastix reads {FORMAT!r} version "
            f"{VERSION}"
        )
    try:
        with np.load(path / "data.npz") as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise ConfigError(f"{path} has meta.json but no data.npz") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ConfigError(f"{path / 'data.npz'} is damaged or truncated ({e})") from None
    validate(arrays, meta, path)
    return arrays, meta


def validate(arrays: dict, meta: dict, where="the dataset") -> None:
    """Checks a dataset before anything trains on it: the arrays its meta describes, in the
    shapes it gives (tasks ``N``, steps per history ``T``, the family's observation size),
    finite observations and rewards, actions the family has."""
    missing = [k for k in REQUIRED if k not in arrays]
    keys = [k for k in ("family", "num_tasks", "steps_per_history") if k not in meta]
    if missing or keys:
        raise ConfigError(f"{where} lacks {', '.join(missing + [f'meta {k}' for k in keys])}")
    family = Family.from_settings(meta["family"])
    n, t = int(meta["num_tasks"]), int(meta["steps_per_history"])
    expect = {"action": (n, t), "reward": (n, t), "done": (n, t)}
    if family.has_optimal_action and "optimal_action" in arrays:
        expect["optimal_action"] = (n, t)
    for name, shape in expect.items():
        if arrays[name].shape != shape:
            raise ConfigError(
                f"{where}: {name} has shape {arrays[name].shape}, but the meta says {n} tasks "
                f"× {t} steps {shape}"
            )
    obs = arrays["obs"]
    if obs.shape[:2] != (n, t) or int(np.prod(obs.shape[2:])) != family.obs_dim:
        raise ConfigError(
            f"{where}: obs has shape {obs.shape}; {family.name} needs ({n}, {t}) and "
            f"{family.obs_dim} numbers per observation"
        )
    if len(arrays["task"]) != n:
        raise ConfigError(f"{where}: task holds {len(arrays['task'])} tasks, the meta says {n}")
    if family.episodic and t % family.horizon:
        raise ConfigError(
            f"{where}: {t} steps per history is not a whole number of {family.horizon}-step "
            "episodes"
        )
    for name in ("obs", "reward"):
        bad = int(np.size(arrays[name]) - np.isfinite(arrays[name]).sum())
        if bad:
            raise ConfigError(f"{where}: {name} holds {bad} values that are NaN or infinite")
    for name in ("action", "optimal_action"):
        if name in expect:
            values = arrays[name]
            if not np.issubdtype(values.dtype, np.integer):
                raise ConfigError(f"{where}: {name} must hold integers, got {values.dtype}")
            if values.size and (values.min() < 0 or values.max() >= family.num_actions):
                raise ConfigError(
                    f"{where}: {name} holds {int(values.min())}..{int(values.max())}, outside "
                    f"{family.name}'s {family.num_actions} actions (0..{family.num_actions - 1})"
                )


def generate(
    family: Family,
    source: SourceConfig,
    num_tasks: int,
    seed: int,
    split: str = "train",
    chunk: int = 256,
    progress=None,
):
    """Learning histories of ``source`` on ``num_tasks`` tasks of ``split``, vmapped over
    tasks, ``chunk`` tasks per compiled call; ``progress(done, total)`` after each chunk.
    Returns ``(arrays, meta)`` for ``save``."""
    name = family.check_source(source.source)
    if num_tasks < 1:
        raise ConfigError(f"num_tasks must be >= 1, got {num_tasks}")
    if source.subsample < 1:
        raise ConfigError(f"subsample must be >= 1, got {source.subsample}")
    if family.episodic and source.episodes < source.subsample:
        raise ConfigError(f"episodes ({source.episodes}) must be >= subsample ({source.subsample})")
    tasks = family.tasks(split, num_tasks, seed)
    history = family.history_fn(name, source)

    def one(task, key):
        obs, action, reward, done = history(task, key)
        out = {"obs": obs, "action": action, "reward": reward, "done": done}
        if family.has_optimal_action:
            out["optimal_action"] = jax.vmap(family.optimal_action, in_axes=(0, None))(obs, task)
        return out

    run = jax.jit(jax.vmap(one))
    key = jax.random.fold_in(jax.random.key(seed), 2 if split == "train" else 3)
    keys = jax.random.split(key, num_tasks)
    parts = []
    for start in range(0, num_tasks, chunk):
        stop = min(start + chunk, num_tasks)
        idx = np.arange(start, stop)
        # a fixed chunk shape: one compile; the last chunk is padded and trimmed
        padded = np.resize(idx, chunk) if stop - start < chunk else idx
        out = jax.device_get(run(jnp.asarray(tasks[padded]), keys[padded]))
        parts.append({k: v[: stop - start] for k, v in out.items()})
        if progress:
            progress(stop, num_tasks)
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    h = family.horizon
    if source.subsample > 1 and family.episodic:
        n, t = arrays["action"].shape
        e = t // h
        for k, v in arrays.items():
            v = v.reshape(n, e, h, *v.shape[2:])[:, :: source.subsample]
            arrays[k] = v.reshape(n, -1, *v.shape[3:])
    arrays["task"] = np.asarray(tasks)
    meta = {
        "env": family.env.name,
        "family": family.settings,
        "source": name,
        "source_settings": _source_settings(name, source, family),
        "split": split,
        "seed": seed,
        "num_tasks": num_tasks,
        "steps_per_history": int(arrays["action"].shape[1]),
        "episodes_per_history": int(arrays["action"].shape[1] // h),
    }
    return arrays, meta


def _source_settings(name: str, source: SourceConfig, family: Family) -> dict:
    if not family.episodic:
        return {"dirichlet_mix": True} if source.dirichlet_mix else {}
    out = {"episodes": source.episodes, "subsample": source.subsample}
    if name == "q-learning":
        from dataclasses import asdict

        out["q_learning"] = asdict(source.q_learning)
    return out
