"""Online in-context evaluation with frozen weights, and the baselines it is measured against.

A roll-out runs the trained model on one held-out task for ``episodes`` episodes of
``horizon`` steps, acting on its own growing history. The context holds at most
``context_episodes`` whole episodes: it grows, and once full it slides by one whole episode
at each episode start (so positions always line up with episode steps as in training, and the
context is never padded with fake tokens). At each episode start the kept episodes are
re-encoded in one prefill; every step after that costs one token through the KV cache (the
transformer) or one step of the recurrence at constant cost (S5, LRU). All
tasks and roll-outs are one compiled program.

Bandits have one episode of ``horizon`` pulls and report cumulative pseudo-regret; episodic
families report the return of every episode (the in-context learning curve).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from plastix.icrl.tasks import Family


def rollout(model, params, family: Family, task, key, episodes: int, temperature: float = 1.0):
    """One roll-out: ``(rewards [episodes, horizon], regret [episodes, horizon])``; regret is
    bandits' ``max μ − μ_a`` (zeros elsewhere)."""
    env, h = family.env, family.horizon
    k = model.max_len // h
    prefix = (k - 1) * h
    d = family.obs_dim
    total = episodes * h
    is_bandit = family.name == "bandit"

    def episode(carry, e):
        buffers, prev_a, prev_r, key = carry
        key, reset_key = jax.random.split(key)
        if prefix:
            start = jnp.maximum(e - k + 1, 0) * h
            window = [jax.lax.dynamic_slice_in_dim(b, start, prefix, 0)[None] for b in buffers]
            _, cache = model.apply(params, *window, method="prefill")
            cache = model.pad_cache(cache)
        else:
            cache = model.empty_cache(1)
        base = jnp.minimum(e, k - 1) * h
        obs, state = env.reset_to(reset_key, task)

        def step(carry, s):
            buffers, cache, obs, state, prev_a, prev_r, finished, key = carry
            key, act_key, step_key = jax.random.split(key, 3)
            obs = jnp.reshape(obs, (d,)).astype(jnp.float32)
            logits, cache = model.apply(
                params, obs[None], prev_a[None], prev_r[None], cache, base + s, method="decode"
            )
            action = jax.random.categorical(act_key, logits[0] / temperature).astype(jnp.int32)
            at = e * h + s
            buffers = (
                buffers[0].at[at].set(obs),
                buffers[1].at[at].set(prev_a),
                buffers[2].at[at].set(prev_r),
            )
            ts, state = env.step(step_key, state, action)
            reward = jnp.where(finished, 0.0, ts.reward)
            regret = jnp.max(task) - task[action] if is_bandit else jnp.float32(0.0)
            carry = (buffers, cache, ts.obs, state, action, reward, finished | ts.terminated, key)
            return carry, (reward, regret)

        init = (buffers, cache, obs, state, prev_a, prev_r, jnp.bool_(False), key)
        (buffers, _, _, _, prev_a, prev_r, _, key), out = jax.lax.scan(step, init, jnp.arange(h))
        return (buffers, prev_a, prev_r, key), out

    buffers = (
        jnp.zeros((total, d), jnp.float32),
        jnp.zeros(total, jnp.int32),
        jnp.zeros(total, jnp.float32),
    )
    init = (buffers, jnp.int32(-1), jnp.float32(0.0), key)
    _, (rewards, regret) = jax.lax.scan(episode, init, jnp.arange(episodes))
    return rewards, regret


def evaluate(
    model, params, family: Family, tasks, key, episodes: int, repeats: int = 1, temperature=1.0
):
    """Roll-outs on every task, ``repeats`` times each: ``rewards`` and ``regret``
    ``[tasks · repeats, episodes, horizon]`` (task-major)."""
    tasks = jnp.repeat(jnp.asarray(tasks), repeats, axis=0)
    keys = jax.random.split(key, tasks.shape[0])
    run = jax.jit(
        jax.vmap(lambda t, k: rollout(model, params, family, t, k, episodes, temperature))
    )
    rewards, regret = run(tasks, keys)
    return np.asarray(rewards), np.asarray(regret)


def bandit_baselines(family: Family, tasks, key) -> dict[str, np.ndarray]:
    """Cumulative pseudo-regret ``[tasks, horizon]`` of random, UCB and Thompson sampling."""
    from plastix.icrl.bandits import baseline_regret

    out = {}
    for i, name in enumerate(("random", "ucb", "thompson")):
        fn = jax.jit(lambda t, k, name=name: baseline_regret(family.env, name, t, k))
        out[name] = np.asarray(fn(jnp.asarray(tasks), jax.random.fold_in(key, i)))
    return out


def episode_returns(family: Family, source: str, source_config, tasks, key, repeats: int = 1):
    """Per-episode returns ``[tasks · repeats, episodes]`` of a source algorithm learning from
    scratch on each task."""
    history = family.history_fn(source, source_config)
    tasks = jnp.repeat(jnp.asarray(tasks), repeats, axis=0)
    keys = jax.random.split(key, tasks.shape[0])
    _, _, rewards, _ = jax.jit(jax.vmap(history))(tasks, keys)
    return np.asarray(rewards).reshape(tasks.shape[0], -1, family.horizon).sum(-1)


def episodes_to_reach(curve: np.ndarray, target: float) -> int | None:
    """The first episode (1-based) whose mean return is at least ``target``; None if never."""
    hits = np.nonzero(np.asarray(curve) >= target)[0]
    return int(hits[0]) + 1 if len(hits) else None
