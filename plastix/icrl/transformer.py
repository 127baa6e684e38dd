"""A causal transformer over learning histories, with a KV cache for cheap roll-outs.

Token layout: one token per step ``t`` of a history, embedding ``(obs_t, a_{t−1}, r_{t−1})`` —
the observation the agent must act on and the action and reward of the step before (none for
the first step of a history: a zero one-hot and reward 0); the embedding reads
``[obs, onehot(a), r, onehot(a)·r]``. Output ``t`` is the action
distribution for step ``t``, computed from tokens ``0..t`` only (a causal mask), so it sees the
current observation and everything that happened before it, never its own action.

``__call__`` runs a whole sequence (training, prefill); ``prefill`` also returns the per-layer
keys and values; ``decode`` appends one token at position ``index`` to a cache and returns its
output — the same numbers as the full forward pass, at the cost of one token. Pre-LayerNorm
blocks, learned absolute positions (``max_len`` of them).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def token_features(obs, prev_action, prev_reward, num_actions: int):
    """``[obs, onehot(a), r, onehot(a)·r]`` of each step (−1 = no previous action)."""
    action = jax.nn.one_hot(prev_action, num_actions)
    reward = prev_reward[..., None].astype(jnp.float32)
    # the action-reward product lets one attention average read per-action mean rewards
    return jnp.concatenate([obs.astype(jnp.float32), action, reward, action * reward], axis=-1)


def _attend(q, k, v, mask):
    """``q [B, Tq, H, D]``, ``k, v [B, Tk, H, D]``, ``mask [B|1, Tq, Tk]`` (True = attend)."""
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(q.shape[-1]).astype(q.dtype)
    logits = jnp.where(mask[:, None], logits, jnp.finfo(logits.dtype).min)
    return jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(logits, axis=-1), v)


class Block(nn.Module):
    dim: int
    heads: int

    def setup(self):
        self.ln1, self.ln2 = nn.LayerNorm(), nn.LayerNorm()
        self.qkv = nn.DenseGeneral((3, self.heads, self.dim // self.heads))
        self.out = nn.DenseGeneral(self.dim, axis=(-2, -1))
        self.fc1, self.fc2 = nn.Dense(4 * self.dim), nn.Dense(self.dim)

    def _mlp(self, x):
        return x + self.fc2(nn.gelu(self.fc1(self.ln2(x))))

    def __call__(self, x, mask):
        qkv = self.qkv(self.ln1(x))
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        x = x + self.out(_attend(q, k, v, mask))
        return self._mlp(x), (k, v)

    def decode(self, x, cache, index):
        """``x [B, 1, D]`` at position ``index``; ``cache = (k, v)`` each ``[B, L, H, D/H]``."""
        qkv = self.qkv(self.ln1(x))
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        keys = jax.lax.dynamic_update_slice_in_dim(cache[0], k, index, axis=1)
        values = jax.lax.dynamic_update_slice_in_dim(cache[1], v, index, axis=1)
        mask = (jnp.arange(keys.shape[1]) <= index)[None, None, :]
        x = x + self.out(_attend(q, keys, values, mask))
        return self._mlp(x), (keys, values)


class HistoryTransformer(nn.Module):
    """``(obs [B, T, d], prev_action [B, T], prev_reward [B, T]) -> logits [B, T, A]``;
    ``prev_action`` −1 means none."""

    num_actions: int
    max_len: int
    dim: int = 64
    layers: int = 2
    heads: int = 4

    def setup(self):
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be a multiple of heads ({self.heads})")
        self.embed = nn.Dense(self.dim)
        self.position = self.param(
            "position", nn.initializers.normal(0.02), (self.max_len, self.dim)
        )
        self.blocks = [Block(self.dim, self.heads) for _ in range(self.layers)]
        self.ln_f = nn.LayerNorm()
        self.head = nn.Dense(self.num_actions)

    def tokens(self, obs, prev_action, prev_reward):
        return self.embed(token_features(obs, prev_action, prev_reward, self.num_actions))

    def prefill(self, obs, prev_action, prev_reward):
        """Logits ``[B, T, A]`` and the cache ``[(k, v)] * layers`` of the ``T`` tokens."""
        t = prev_action.shape[1]
        if t > self.max_len:
            raise ValueError(f"a sequence of {t} steps is longer than max_len {self.max_len}")
        x = self.tokens(obs, prev_action, prev_reward) + self.position[:t]
        mask = nn.make_causal_mask(jnp.ones(prev_action.shape[:2]), dtype=bool)[:, 0]
        cache = []
        for block in self.blocks:
            x, kv = block(x, mask)
            cache.append(kv)
        return self.head(self.ln_f(x)), cache

    def __call__(self, obs, prev_action, prev_reward):
        return self.prefill(obs, prev_action, prev_reward)[0]

    def decode(self, obs, prev_action, prev_reward, cache, index):
        """One step: ``obs [B, d]``, ``prev_action [B]``, ``prev_reward [B]`` at position
        ``index``; returns ``(logits [B, A], cache)``."""
        x = self.tokens(obs[:, None], prev_action[:, None], prev_reward[:, None])
        x = x + jax.lax.dynamic_slice_in_dim(self.position, index, 1)[None]
        new_cache = []
        for block, kv in zip(self.blocks, cache, strict=True):
            x, kv = block.decode(x, kv, index)
            new_cache.append(kv)
        return self.head(self.ln_f(x))[:, 0], new_cache

    def empty_cache(self, batch: int, dtype=jnp.float32):
        """A zero cache of ``max_len`` positions."""
        shape = (batch, self.max_len, self.heads, self.dim // self.heads)
        return [(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype)) for _ in range(self.layers)]

    def pad_cache(self, cache):
        """Pads a prefill's cache ``[B, T, H, D]`` to ``max_len`` positions."""
        return pad_cache(cache, self.max_len)


def pad_cache(cache, max_len: int):
    """Pads a prefill's cache ``[B, T, H, D]`` to ``max_len`` positions."""
    return [
        tuple(jnp.pad(c, ((0, 0), (0, max_len - c.shape[1]), (0, 0), (0, 0))) for c in kv)
        for kv in cache
    ]
