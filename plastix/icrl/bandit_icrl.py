"""Decision-Pretrained Transformer and Algorithm Distillation on multi-armed bandits.

Both train the same causal ``HistoryTransformer`` on (action, reward) histories and differ only
in the label at each position:

- **DPT** (Lee et al. 2023): the context is an in-context dataset collected by a random policy
  (per task, action probabilities drawn from a flat Dirichlet, so contexts range from uniform
  to concentrated), the label at every position is the task's optimal arm;
- **AD** (Laskin et al. 2022): the context is a source algorithm's learning history, the label
  at position ``i`` is the source's action after ``i`` steps.

Evaluation is online, with frozen weights, on held-out tasks: at pull ``t`` the model reads its
own ``t`` previous (action, reward) pairs, samples an arm from its output, and the pull is
appended to its history. The whole roll-out (every task, every pull) is one compiled program.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from plastix.icrl.bandits import BanditEnv
from plastix.icrl.transformer import HistoryTransformer


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3_000
    """gradient steps."""
    batch_size: int = 64
    """histories per step."""
    learning_rate: float = 1e-3
    """peak Adam step size (cosine decay after a 5% warm-up)."""
    dim: int = 64
    """transformer width."""
    layers: int = 2
    """transformer blocks."""
    heads: int = 4
    """attention heads."""


def make_model(env: BanditEnv, config: TrainConfig) -> HistoryTransformer:
    return HistoryTransformer(env.num_arms, env.horizon, config.dim, config.layers, config.heads)


def dpt_batch(env: BanditEnv, key, batch: int):
    """Random-policy contexts on fresh tasks, labelled with each task's optimal arm."""
    task_key, p_key, a_key, r_key = jax.random.split(key, 4)
    tasks = env.sample_tasks(task_key, batch)
    probs = jax.random.dirichlet(p_key, jnp.ones(env.num_arms), (batch,))
    actions = jax.random.categorical(a_key, jnp.log(probs)[:, None, :], shape=(batch, env.horizon))
    keys = jax.random.split(r_key, batch * env.horizon).reshape(batch, env.horizon)
    rewards = jax.vmap(jax.vmap(env.pull, in_axes=(0, None, 0)), in_axes=(0, 0, 0))(
        keys, tasks, actions
    )
    labels = jnp.broadcast_to(jnp.argmax(tasks, axis=-1)[:, None], (batch, env.horizon + 1))
    return actions.astype(jnp.int32), rewards, labels


def ad_batch(arrays: dict, key, batch: int):
    """Source histories from a dataset; the label after ``i`` steps is the source's next
    action (the last position has none and is masked)."""
    n = arrays["action"].shape[0]
    idx = jax.random.randint(key, (batch,), 0, n)
    actions = arrays["action"][idx]
    rewards = arrays["reward"][idx]
    labels = jnp.concatenate([actions, jnp.full((batch, 1), -1, actions.dtype)], axis=1)
    return actions, rewards, labels


def train(model, sample_batch, config: TrainConfig, key, progress=None):
    """``sample_batch(key) -> (actions, rewards, labels)``; labels of −1 are ignored.
    Returns ``(params, losses)``."""
    init_key, key = jax.random.split(key)
    actions, rewards, _ = sample_batch(init_key)
    params = model.init(init_key, actions, rewards)
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, config.learning_rate, max(1, config.steps // 20), config.steps
    )
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=1e-4))
    opt_state = tx.init(params)

    def loss_fn(params, batch):
        actions, rewards, labels = batch
        logits = model.apply(params, actions, rewards)
        mask = labels >= 0
        logp = jax.nn.log_softmax(logits)
        nll = -jnp.take_along_axis(logp, jnp.maximum(labels, 0)[..., None], -1)[..., 0]
        return jnp.sum(nll * mask) / jnp.sum(mask)

    @jax.jit
    def step(params, opt_state, key):
        batch = sample_batch(key)
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    losses = []
    for i, k in enumerate(jax.random.split(key, config.steps)):
        params, opt_state, loss = step(params, opt_state, k)
        if i % 50 == 0 or i == config.steps - 1:
            losses.append((i, float(loss)))
            if progress:
                progress(i, float(loss))
    return params, losses


def evaluate_online(model, params, env: BanditEnv, tasks, key, greedy: bool = False):
    """Cumulative pseudo-regret ``[tasks, horizon]`` of the frozen model acting in context."""
    n, h = tasks.shape[0], env.horizon

    def run(means, key):
        def step(carry, t):
            actions, rewards, key = carry
            key, act_key, pull_key = jax.random.split(key, 3)
            logits = model.apply(params, actions[None], rewards[None])[0, t]
            a = jnp.argmax(logits) if greedy else jax.random.categorical(act_key, logits)
            r = env.pull(pull_key, means, a)
            actions = actions.at[t].set(a.astype(jnp.int32))
            rewards = rewards.at[t].set(r)
            return (actions, rewards, key), jnp.max(means) - means[a]

        init = (jnp.zeros(h, jnp.int32), jnp.zeros(h, jnp.float32), key)
        _, regret = jax.lax.scan(step, init, jnp.arange(h))
        return regret

    regret = jax.jit(jax.vmap(run))(tasks, jax.random.split(key, n))
    return np.cumsum(np.asarray(regret), axis=-1)
