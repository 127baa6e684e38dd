"""A small causal transformer over (action, reward[, observation]) tokens.

Position ``i`` of the output is computed from the tokens ``0..i`` only (a causal mask), where
token 0 is a learned start token and token ``j ≥ 1`` encodes step ``j − 1`` of the history; so
output ``i`` is the model's action distribution after ``i`` steps of history. Pre-LayerNorm
blocks, learned positional embeddings.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class Block(nn.Module):
    dim: int
    heads: int

    @nn.compact
    def __call__(self, x, mask):
        h = nn.LayerNorm()(x)
        h = nn.MultiHeadDotProductAttention(num_heads=self.heads, qkv_features=self.dim)(
            h, h, mask=mask
        )
        x = x + h
        h = nn.LayerNorm()(x)
        h = nn.Dense(4 * self.dim)(h)
        h = nn.gelu(h)
        return x + nn.Dense(self.dim)(h)


class HistoryTransformer(nn.Module):
    """``(actions [B, T], rewards [B, T], obs [B, T, d] or None) -> logits [B, T + 1, A]``."""

    num_actions: int
    max_len: int
    dim: int = 64
    layers: int = 2
    heads: int = 4

    @nn.compact
    def __call__(self, actions, rewards, obs=None):
        b, t = actions.shape
        parts = [jax.nn.one_hot(actions, self.num_actions), rewards[..., None]]
        if obs is not None:
            parts.append(obs)
        tokens = nn.Dense(self.dim, name="embed")(jnp.concatenate(parts, axis=-1))
        start = self.param("start", nn.initializers.normal(0.02), (self.dim,))
        x = jnp.concatenate([jnp.broadcast_to(start, (b, 1, self.dim)), tokens], axis=1)
        pos = self.param("position", nn.initializers.normal(0.02), (self.max_len + 1, self.dim))
        x = x + pos[: t + 1]
        mask = nn.make_causal_mask(jnp.ones((b, t + 1)))
        for i in range(self.layers):
            x = Block(self.dim, self.heads, name=f"block_{i}")(x, mask)
        return nn.Dense(self.num_actions, name="head")(nn.LayerNorm()(x))
