"""Training Algorithm Distillation and the Decision-Pretrained Transformer on a dataset.

Both train one causal sequence model (``--model``: a ``HistoryTransformer`` or an S5 / LRU
``HistoryRecurrence``) on windows of learning histories and differ only
in the label at each position (the token layout is in ``plastix.icrl.transformer``):

- **AD** (Laskin et al. 2022): the label at step ``t`` is the source's own action ``a_t``;
  windows span ``context_episodes`` whole episodes, start at an episode boundary anywhere in a
  history, so the model sees the source improving across episodes and learns to improve.
- **DPT** (Lee et al. 2023): the label at step ``t`` is the optimal action in ``obs_t`` for
  the task (the dataset's ``optimal_action``); with the causal layout every prefix of a window
  is an in-context dataset and every position a query, as in the paper's
  every-prefix training.

A training run is a directory: ``config.json``, ``metrics.parquet`` (``train/loss``),
``checkpoint.msgpack`` (parameters, optimiser state and step, written every
``checkpoint_every`` steps, at the end and when training is interrupted or fails;
``train(..., resume=True)`` continues from it with the same result as an uninterrupted run)
and ``summary.json``: its ``status`` is ``running`` from the start (with the process id; its
``updated`` time, the heartbeat, at every checkpoint), then ``completed``, ``interrupted``
(Ctrl-C; the CLI turns SIGTERM into the same) or ``failed`` (with the error), and
``steps_done``.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from plastix.errors import ConfigError, require
from plastix.icrl.recurrence import HistoryRecurrence
from plastix.icrl.tasks import LABELLED, Family
from plastix.icrl.transformer import HistoryTransformer
from plastix.runs import MetricLog, atomic_write_bytes, atomic_write_json, read_json

METHODS = ("ad", "dpt")
MODELS = ("transformer", "s5", "lru")
CHECKPOINT = "checkpoint.msgpack"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises ``KeyboardInterrupt`` (the CLI's handler does)."""


@dataclass(frozen=True)
class ModelConfig:
    method: str = "ad"
    """ad (predict the source's next action) or dpt (predict the optimal action)."""
    model: str = "transformer"
    """sequence model: transformer (causal attention, KV cache), s5 or lru (linear
    recurrences, a scan for training and constant-cost steps for acting)."""
    context_episodes: int = 4
    """episodes per context window (bandits: always 1, the whole horizon)."""
    dim: int = 64
    """model width."""
    layers: int = 2
    """blocks."""
    heads: int = 4
    """attention heads (transformer)."""
    state_size: int = 64
    """complex states per layer (s5, lru)."""

    def __post_init__(self):
        require(self.method in METHODS, f"method must be one of {', '.join(METHODS)}")
        require(
            self.model in MODELS,
            f"model must be one of {', '.join(MODELS)}, got {self.model!r}",
        )
        require(self.state_size >= 1, f"state_size must be >= 1, got {self.state_size}")
        require(self.context_episodes >= 1, "context_episodes must be >= 1")
        require(self.dim >= 1 and self.layers >= 1 and self.heads >= 1, "dim, layers, heads >= 1")
        require(self.dim % self.heads == 0, f"dim ({self.dim}) must be a multiple of heads")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3_000
    """gradient steps."""
    batch_size: int = 64
    """windows per step."""
    learning_rate: float = 1e-3
    """peak AdamW step size (linear warm-up over 5% of the steps, then cosine decay)."""
    weight_decay: float = 1e-4
    seed: int = 0
    checkpoint_every: int = 500
    """steps between checkpoints."""

    def __post_init__(self):
        require(self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(self.learning_rate > 0, "learning_rate must be > 0")
        require(self.checkpoint_every >= 1, "checkpoint_every must be >= 1")


def context_length(family: Family, model: ModelConfig) -> int:
    return family.horizon * (model.context_episodes if family.episodic else 1)


def make_model(family: Family, model: ModelConfig):
    """A ``HistoryTransformer`` or ``HistoryRecurrence`` (the same interface)."""
    length = context_length(family, model)
    if model.model == "transformer":
        return HistoryTransformer(family.num_actions, length, model.dim, model.layers, model.heads)
    return HistoryRecurrence(
        family.num_actions, length, model.model, model.dim, model.layers, model.state_size
    )


def shifted(actions: np.ndarray, rewards: np.ndarray):
    """Each step's previous action (−1 at a history's start) and previous reward (0)."""
    prev_a = np.concatenate([np.full_like(actions[:, :1], -1), actions[:, :-1]], axis=1)
    prev_r = np.concatenate([np.zeros_like(rewards[:, :1]), rewards[:, :-1]], axis=1)
    return prev_a, prev_r


def training_arrays(arrays: dict, method: str) -> dict:
    """The device arrays a sampler draws windows from."""
    if method == "dpt" and "optimal_action" not in arrays:
        raise ConfigError(f"DPT needs a dataset with optimal_action labels ({', '.join(LABELLED)})")
    labels = arrays["action"] if method == "ad" else arrays["optimal_action"]
    prev_a, prev_r = shifted(arrays["action"], arrays["reward"])
    return {
        "obs": jnp.asarray(arrays["obs"], jnp.float32),
        "prev_action": jnp.asarray(prev_a, jnp.int32),
        "prev_reward": jnp.asarray(prev_r, jnp.float32),
        "label": jnp.asarray(labels, jnp.int32),
    }


def sample_windows(data: dict, key, batch: int, length: int, horizon: int):
    """``batch`` windows of ``length`` steps, each starting at an episode boundary."""
    n, t = data["label"].shape
    starts = (t - length) // horizon + 1
    if starts < 1:
        raise ConfigError(
            f"histories of {t} steps are shorter than a context of {length} steps; record "
            "more episodes per history or use fewer context episodes"
        )
    i_key, e_key = jax.random.split(key)
    rows = jax.random.randint(i_key, (batch,), 0, n)
    first = jax.random.randint(e_key, (batch,), 0, starts) * horizon

    def window(row, s):
        return {k: jax.lax.dynamic_slice_in_dim(v[row], s, length, 0) for k, v in data.items()}

    return jax.vmap(window)(rows, first)


def family_of(meta: dict) -> Family:
    return Family.from_settings(meta["family"])


def train(
    arrays: dict,
    meta: dict,
    model_config: ModelConfig,
    config: TrainConfig,
    out: Path,
    progress=None,
    resume: bool = False,
):
    """Trains on a dataset (``arrays``, ``meta`` from ``data.load``); writes the run to
    ``out``; ``progress(steps_done, loss)`` after every step. Returns ``(params, losses)``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    family = family_of(meta)
    model = make_model(family, model_config)
    length = context_length(family, model_config)
    data = training_arrays(arrays, model_config.method)
    init_key, data_key = jax.random.split(jax.random.key(config.seed))
    # also checks, before anything is written, that the histories hold a whole context
    example = sample_windows(data, init_key, 1, length, family.horizon)
    record = {
        "kind": "icrl",
        "model": asdict(model_config),
        "train": asdict(config),
        "dataset": meta,
        "context_length": length,
    }
    if resume:
        previous = read_json(out / "config.json")
        if {k: previous[k] for k in ("model", "dataset")} != {
            k: record[k] for k in ("model", "dataset")
        }:
            raise ConfigError(f"{out} was trained with another model or dataset; cannot resume")
    atomic_write_json(out / "config.json", record)

    schedule = optax.warmup_cosine_decay_schedule(
        0.0, config.learning_rate, max(1, config.steps // 20), config.steps
    )
    tx = optax.chain(
        optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=config.weight_decay)
    )
    params = model.init(init_key, example["obs"], example["prev_action"], example["prev_reward"])
    opt_state = tx.init(params)
    log = MetricLog()
    start = 0
    if resume and (out / CHECKPOINT).exists():
        state = flax.serialization.msgpack_restore((out / CHECKPOINT).read_bytes())
        params = flax.serialization.from_state_dict(params, state["params"])
        opt_state = flax.serialization.from_state_dict(opt_state, state["opt_state"])
        start = int(state["step"])
        for step, loss in sorted((int(k), v) for k, v in state["losses"].items()):
            log.add(0, step, "train/loss", loss)

    def loss_fn(params, batch):
        logits = model.apply(params, batch["obs"], batch["prev_action"], batch["prev_reward"])
        logp = jax.nn.log_softmax(logits)
        nll = -jnp.take_along_axis(logp, batch["label"][..., None], -1)[..., 0]
        return jnp.mean(nll)

    @jax.jit
    def step_fn(params, opt_state, step):
        batch = sample_windows(
            data, jax.random.fold_in(data_key, step), config.batch_size, length, family.horizon
        )
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def save(step):
        losses = {str(s): v for s, v in zip(log.step, log.value, strict=True)}
        state = {"params": params, "opt_state": opt_state, "step": step, "losses": losses}
        atomic_write_bytes(out / CHECKPOINT, flax.serialization.to_bytes(state))

    began = time.perf_counter()

    def status(state: str, done: int, **extra):
        atomic_write_json(
            out / "summary.json",
            {
                "status": state,
                "steps": config.steps,
                "steps_done": done,
                "pid": os.getpid(),
                "updated": time.time(),
                "seconds": time.perf_counter() - began,
                **extra,
            },
        )

    status("running", start)
    done = saved = start
    try:
        for step in range(start, config.steps):
            # one assignment, so an interrupt never parts the parameters from their step count
            params, opt_state, loss, done = (*step_fn(params, opt_state, step), step + 1)
            if step % 50 == 0 or step == config.steps - 1:
                log.add(0, step, "train/loss", float(loss))
            if done % config.checkpoint_every == 0 or done == config.steps:
                save(done)
                saved = done
                status("running", done)
            if progress:
                progress(done, float(loss))
    except BaseException as e:
        if done > saved:
            save(done)  # the steps since the last checkpoint are kept
        log.write(out)
        if isinstance(e, KeyboardInterrupt):
            stopped_by = "SIGTERM" if isinstance(e, Terminated) else "SIGINT"
            status("interrupted", done, signal=stopped_by)
        else:
            status("failed", done, error=f"{type(e).__name__}: {e}")
        raise
    log.write(out)
    status(
        "completed",
        config.steps,
        final_loss=log.value[-1] if log.value else None,
        parameters=int(sum(x.size for x in jax.tree.leaves(params))),
    )
    return params, list(zip(log.step, log.value, strict=True))


def load_trained(run: Path):
    """``(model, params, config record)`` of a training run."""
    run = Path(run)
    if not (run / CHECKPOINT).exists():
        raise FileNotFoundError(f"{run} holds no {CHECKPOINT}; is it an icrl training run?")
    record = read_json(run / "config.json")
    family = family_of(record["dataset"])
    model_config = ModelConfig(**record["model"])
    model = make_model(family, model_config)
    length = record["context_length"]
    dummy = (jnp.zeros((1, length, family.obs_dim)), jnp.zeros((1, length), jnp.int32))
    params = model.init(jax.random.key(0), dummy[0], dummy[1], jnp.zeros((1, length)))
    state = flax.serialization.msgpack_restore((run / CHECKPOINT).read_bytes())
    params = flax.serialization.from_state_dict(params, state["params"])
    return model, params, record
