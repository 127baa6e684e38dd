"""Linear recurrences over learning histories: S5 and the LRU, with a resettable scan.

Both are diagonal complex linear recurrences ``x_t = λ ⊙ x_{t−1} + B̄ u_t``, read out as
``y_t = Re(C x_t) + D ⊙ u_t``; they differ in how ``λ`` and ``B̄`` are made:

- **S5** (Smith et al. 2023, as Lu et al. 2023 use it for in-context RL): ``λ = exp(Λ Δ)``, a
  zero-order-hold discretisation of a continuous ``Λ`` initialised from the HiPPO-N matrix's
  eigenvalues, with a learned time step per state (``Δ`` in [0.001, 0.1] at init). Conjugate
  symmetry: the ``state_size`` states stand for ``2 · state_size`` and the read-out is
  ``2 Re(C x)``.
- **LRU** (Orvieto et al. 2023): ``λ = exp(−exp(ν) + i exp(θ))`` initialised uniformly on the
  ring ``0.9 ≤ |λ| ≤ 0.999`` with phases in [0, 2π), and inputs scaled by
  ``γ = √(1 − |λ|²)``.

Training runs the recurrence as one associative scan over the sequence. ``reset [B, T]``
(True where a new history begins) zeroes the state before that step, inside the scan: the
element ``(λ, b)`` becomes ``(0, b)``, so nothing before a reset reaches anything after it
(Lu et al.'s resettable scan). ``decode`` is one step of the same recurrence at constant cost,
whatever the context's length; the "cache" is each layer's state.

The blocks are the transformer's with the attention replaced by the recurrence: pre-LayerNorm,
``x + W·gelu(SSM(LN(x)))`` then ``x + MLP(LN(x))``; token embedding and output head as in
``plastix.icrl.transformer``. There are no positional embeddings.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from plastix.icrl.transformer import token_features

KINDS = ("s5", "lru")


def _combine(left, right):
    a_l, b_l = left
    a_r, b_r = right
    return a_r * a_l, a_r * b_l + b_r


def resettable_scan(a, b, reset=None, state=None):
    """States ``x [B, T, N]`` of ``x_t = a_t ⊙ x_{t−1} + b_t`` with ``x_{−1} = state`` (zeros
    when None); ``reset [B, T]`` zeroes the state before a step."""
    a = jnp.broadcast_to(a, b.shape)
    if reset is not None:
        a = jnp.where(reset[..., None], jnp.zeros_like(a), a)
    if state is not None:
        b = b.at[:, 0].add(a[:, 0] * state)
    return jax.lax.associative_scan(_combine, (a, b), axis=1)[1]


def hippo_n_eigens(n: int):
    """Eigenvalues and eigenvectors of the normal part of the HiPPO-LegS matrix (size n)."""
    p = np.sqrt(1 + 2 * np.arange(n))
    legs = -(np.tril(p[:, None] * p[None, :]) - np.diag(np.arange(n)))
    normal = legs + np.sqrt(np.arange(n) + 0.5)[:, None] * np.sqrt(np.arange(n) + 0.5)[None, :]
    real = np.mean(np.diagonal(normal))
    imag, vectors = np.linalg.eigh((normal - np.diag(np.diagonal(normal))) * -1j)
    return real + 1j * imag, vectors


def _complex(module, name, init, shape):
    re = module.param(name + "_re", init, shape)
    im = module.param(name + "_im", init, shape)
    return re + 1j * im


class _Recurrence(nn.Module):
    """``__call__`` (the sequence, as one scan) and ``step`` from ``parts()``."""

    def __call__(self, u, reset=None, state=None):
        """``u [B, T, H]`` -> ``(y [B, T, H], last state [B, N])``."""
        lam, b_bar, c, d = self.parts()
        bu = jnp.einsum("nh,bth->btn", b_bar, u.astype(jnp.complex64))
        xs = resettable_scan(lam, bu, reset, state)
        return jnp.einsum("hn,btn->bth", c, xs).real + d * u, xs[:, -1]

    def step(self, u, state):
        """One step: ``u [B, H]``, ``state [B, N]`` -> ``(y [B, H], state)``."""
        lam, b_bar, c, d = self.parts()
        state = lam * state + jnp.einsum("nh,bh->bn", b_bar, u.astype(jnp.complex64))
        return jnp.einsum("hn,bn->bh", c, state).real + d * u, state


class S5(_Recurrence):
    """One S5 layer on width ``dim``: a single-block, conjugate-symmetric SSM."""

    state_size: int
    dim: int

    def setup(self):
        n, h = self.state_size, self.dim
        eigen, vectors = hippo_n_eigens(2 * n)
        eigen, vectors = eigen[:n], vectors[:, :n]
        self.lam_re = self.param("lambda_re", lambda _: jnp.asarray(eigen.real, jnp.float32))
        self.lam_im = self.param("lambda_im", lambda _: jnp.asarray(eigen.imag, jnp.float32))
        # B in the HiPPO basis (real, lecun-normal) is projected by V⁻¹; C by V
        self.b = self.param("B", nn.initializers.lecun_normal(), (2 * n, h))
        self.c = _complex(
            self, "C", nn.initializers.truncated_normal(1 / np.sqrt(2 * n)), (h, 2 * n)
        )
        self.d = self.param("D", nn.initializers.normal(1.0), (h,))
        self.log_step = self.param(
            "log_step",
            lambda k, s: jax.random.uniform(k, s, minval=np.log(1e-3), maxval=np.log(1e-1)),
            (n,),
        )
        self.vectors = vectors

    def parts(self):
        v = jnp.asarray(self.vectors, jnp.complex64)
        lam = jnp.minimum(self.lam_re, -1e-4) + 1j * self.lam_im
        lam_bar = jnp.exp(lam * jnp.exp(self.log_step))
        b_bar = ((lam_bar - 1) / lam)[:, None] * (v.conj().T @ self.b.astype(jnp.complex64))
        return lam_bar, b_bar, 2 * (self.c @ v), self.d


class LRU(_Recurrence):
    """One Linear Recurrent Unit on width ``dim``."""

    state_size: int
    dim: int
    r_min: float = 0.9
    r_max: float = 0.999
    max_phase: float = 2 * np.pi

    def setup(self):
        n, h = self.state_size, self.dim

        def nu_init(key, shape):
            u = jax.random.uniform(key, shape)
            return jnp.log(-0.5 * jnp.log(u * (self.r_max**2 - self.r_min**2) + self.r_min**2))

        self.nu = self.param("nu_log", nu_init, (n,))
        self.theta = self.param(
            "theta_log", lambda k, s: jnp.log(self.max_phase * jax.random.uniform(k, s)), (n,)
        )
        self.b = _complex(self, "B", nn.initializers.normal(1 / np.sqrt(2 * h)), (n, h))
        self.c = _complex(self, "C", nn.initializers.normal(1 / np.sqrt(n)), (h, n))
        self.d = self.param("D", nn.initializers.normal(1.0), (h,))

    def parts(self):
        lam = jnp.exp(-jnp.exp(self.nu) + 1j * jnp.exp(self.theta))
        gamma = jnp.sqrt(1 - jnp.abs(lam) ** 2)
        return lam, gamma[:, None] * self.b, self.c, self.d


class RecurrentBlock(nn.Module):
    kind: str
    dim: int
    state_size: int

    def setup(self):
        self.ln1, self.ln2 = nn.LayerNorm(), nn.LayerNorm()
        ssm = S5 if self.kind == "s5" else LRU
        self.ssm = ssm(self.state_size, self.dim)
        self.out = nn.Dense(self.dim)
        self.fc1, self.fc2 = nn.Dense(4 * self.dim), nn.Dense(self.dim)

    def _mlp(self, x):
        return x + self.fc2(nn.gelu(self.fc1(self.ln2(x))))

    def __call__(self, x, reset=None):
        y, state = self.ssm(self.ln1(x), reset)
        return self._mlp(x + self.out(nn.gelu(y))), state

    def decode(self, x, state):
        y, state = self.ssm.step(self.ln1(x), state)
        return self._mlp(x + self.out(nn.gelu(y))), state


class HistoryRecurrence(nn.Module):
    """The ``HistoryTransformer``'s interface (``__call__``, ``prefill``, ``decode``,
    ``empty_cache``, ``pad_cache``) on S5 or LRU layers; ``max_len`` is the context length
    it is trained on (it does not limit the recurrence)."""

    num_actions: int
    max_len: int
    kind: str = "s5"
    dim: int = 64
    layers: int = 2
    state_size: int = 64

    def setup(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        self.embed = nn.Dense(self.dim)
        self.blocks = [
            RecurrentBlock(self.kind, self.dim, self.state_size) for _ in range(self.layers)
        ]
        self.ln_f = nn.LayerNorm()
        self.head = nn.Dense(self.num_actions)

    def prefill(self, obs, prev_action, prev_reward, reset=None):
        """Logits ``[B, T, A]`` and each layer's state after the last step."""
        x = self.embed(token_features(obs, prev_action, prev_reward, self.num_actions))
        states = []
        for block in self.blocks:
            x, state = block(x, reset)
            states.append(state)
        return self.head(self.ln_f(x)), states

    def __call__(self, obs, prev_action, prev_reward, reset=None):
        return self.prefill(obs, prev_action, prev_reward, reset)[0]

    def decode(self, obs, prev_action, prev_reward, cache, index=None):
        """One step from the states in ``cache``; ``index`` is unused (no positions)."""
        x = self.embed(token_features(obs, prev_action, prev_reward, self.num_actions))
        states = []
        for block, state in zip(self.blocks, cache, strict=True):
            x, state = block.decode(x, state)
            states.append(state)
        return self.head(self.ln_f(x)), states

    def empty_cache(self, batch: int):
        return [jnp.zeros((batch, self.state_size), jnp.complex64) for _ in range(self.layers)]

    def pad_cache(self, cache):
        return cache
