"""Learning-history datasets on disk: what in-context RL methods train on.

A dataset is a directory with

- ``data.npz``: ``obs [N, T, obs_dim]`` (float32), ``action [N, T]`` (int32), ``reward [N, T]``
  (float32), ``done [N, T]`` (bool, the end of an episode), ``task [N, ...]`` (the task's
  parameters: arm means, goal cells) and, where the task has one, ``optimal_action [N]``
  (the label DPT learns);
- ``meta.json``: ``format`` (``plastix-icrl-histories``), ``version`` (1), the environment and its
  settings, the source algorithm, the split, the seed, the plastix version.

``N`` is the number of tasks, ``T`` the length of each task's whole learning history (all its
episodes, in order, optionally subsampled). ``save`` refuses to overwrite; ``load`` checks the
format and version.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from plastix.agents.base import ConfigError
from plastix.icrl.bandits import BASELINES, BanditEnv, histories
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
    from plastix.train import __version__

    meta = {"format": FORMAT, "version": VERSION, "plastix_version": __version__, **meta}
    atomic_write_bytes(out / "meta.json", json.dumps(meta, indent=1).encode())
    return out


def load(path) -> tuple[dict[str, np.ndarray], dict]:
    path = Path(path)
    if not (path / "meta.json").exists():
        raise FileNotFoundError(f"{path} is not a plastix dataset (no meta.json)")
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(
            f"{path} holds format {meta.get('format')!r} version {meta.get('version')!r}; "
            f"this plastix reads {FORMAT!r} version {VERSION}"
        )
    with np.load(path / "data.npz") as data:
        return {k: data[k] for k in data.files}, meta


def bandit_dataset(env: BanditEnv, source: str, num_tasks: int, seed: int, split: str = "train"):
    """Learning histories of ``source`` (random, ucb, thompson) on ``num_tasks`` tasks drawn
    from ``seed`` (the train and test splits draw from different streams)."""
    if source not in BASELINES:
        raise ConfigError(f"unknown source {source!r}; valid choices: {', '.join(BASELINES)}")
    if split not in ("train", "test"):
        raise ConfigError(f"split must be one of train, test; got {split!r}")
    key = jax.random.fold_in(jax.random.key(seed), 0 if split == "train" else 1)
    task_key, run_key = jax.random.split(key)
    tasks = env.sample_tasks(task_key, num_tasks)
    actions, rewards = jax.jit(lambda t, k: histories(env, source, t, k))(tasks, run_key)
    n, t = actions.shape
    done = np.zeros((n, t), bool)
    done[:, -1] = True
    arrays = {
        "obs": np.ones((n, t, 1), np.float32),
        "action": np.asarray(actions),
        "reward": np.asarray(rewards),
        "done": done,
        "task": np.asarray(tasks),
        "optimal_action": np.asarray(jnp.argmax(tasks, axis=-1), np.int32),
    }
    meta = {
        "env": env.name,
        "env_settings": {
            "num_arms": env.num_arms,
            "kind": env.kind,
            "sigma": env.sigma,
            "horizon": env.horizon,
        },
        "source": source,
        "split": split,
        "seed": seed,
        "num_tasks": num_tasks,
    }
    return arrays, meta
