"""How noisy is the REINFORCE gradient? Its variance per baseline and batch size, for one fixed
policy.

The likelihood-ratio estimator ``g = (1/B) Σ_episodes Σ_t ∇ log π(a_t|s_t) (G_t − b(s_t))`` is
unbiased for every baseline that does not depend on the action; what a baseline changes is the
variance. For a fixed policy this module samples a pool of episodes once, computes every
episode's gradient under each baseline (the same episodes for every baseline: common random
numbers), and forms ``repeats`` disjoint batches of each size ``B``. It reports, per baseline
and batch size,

- ``variance``: the total variance ``E‖g − ḡ‖²`` (trace of the covariance; ``ḡ`` the mean over
  the repeats), which falls as ``1/B``;
- ``mean_norm``: ``‖ḡ‖``, and ``snr``: ``‖ḡ‖² / variance``;
- ``cosine_to_none``: the cosine between this baseline's ``ḡ`` and the no-baseline ``ḡ`` over
  the whole pool;
- ``bias_ratio``, ``bias_p``: ``‖mean(g_b − g_none)‖²`` over the value it has in expectation
  when both estimators are unbiased, and the p-value of that hypothesis (``bias_test``).

Baselines: ``none``; ``mean``, the mean reward-to-go per time step; ``value``, a state-value
network regressed on reward-to-go. Both are fitted on separate episodes of the same policy, so
they do not depend on the episodes they are used with (the estimator stays unbiased).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from plastix.envs import make_env
from plastix.onpolicy.common import Policy, discounted_reward_to_go
from plastix.onpolicy.reinforce import REINFORCE, REINFORCEConfig

BASELINE_CHOICES = ("none", "mean", "value")


@dataclass(frozen=True)
class VarianceConfig:
    """What the gradient-variance measurement uses."""

    env: str = "CartPole-v1"
    """a jittable environment id."""
    batch_sizes: tuple[int, ...] = (1, 4, 16, 64)
    """episodes per gradient estimate."""
    repeats: int = 64
    """independent estimates per batch size."""
    baselines: tuple[str, ...] = BASELINE_CHOICES
    """baselines to compare (none, mean, value)."""
    train_iterations: int = 10
    """REINFORCE iterations (8 episodes each) before the policy is fixed; 0: the initial one."""
    fit_episodes: int = 256
    """episodes the baselines are fitted on."""
    value_steps: int = 500
    """Adam steps of the value regression."""
    gamma: float = 0.99
    """discount factor of the reward-to-go."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """units of the policy's and value network's hidden layers."""
    seed: int = 0
    """random seed."""

    def __post_init__(self):
        from plastix.errors import require

        require(
            len(self.batch_sizes) >= 1 and all(b >= 1 for b in self.batch_sizes),
            f"batch_sizes must be positive, got {self.batch_sizes}",
        )
        require(self.repeats >= 2, f"repeats must be >= 2, got {self.repeats}")
        unknown = [b for b in self.baselines if b not in BASELINE_CHOICES]
        require(
            not unknown and len(self.baselines) >= 1,
            f"unknown baseline(s) {unknown}; valid choices: {', '.join(BASELINE_CHOICES)}",
        )
        require(self.train_iterations >= 0, "train_iterations must be >= 0")
        require(self.fit_episodes >= 2, "fit_episodes must be >= 2")


def _fixed_policy(config: VarianceConfig, env, key):
    """A REINFORCE policy after ``train_iterations`` iterations (value baseline)."""
    agent = REINFORCE(REINFORCEConfig(hidden_sizes=config.hidden_sizes), env, 1)
    state = agent.init(key)
    step = jax.jit(agent.iterate)
    for k in jax.random.split(jax.random.fold_in(key, 1), config.train_iterations):
        state, _ = step(state, k)
    return agent, state.params


def bias_test(diff: np.ndarray) -> dict:
    """Is the mean of per-episode differences ``diff [N, P]`` zero? Under that hypothesis
    ``‖mean‖²`` has expectation ``tr Σ / N``; with the effective dimension
    ``d = (tr Σ)² / tr Σ²`` it is about ``χ²_d · tr Σ / (N d)`` (Satterthwaite), which gives
    ``bias_ratio`` (≈ 1 when unbiased) and a p-value ``bias_p``."""
    n, dim = diff.shape
    centred = diff - diff.mean(axis=0)
    # the smaller of the N x N Gram matrix and the P x P covariance: the same non-zero spectrum
    gram = (centred @ centred.T if n <= dim else centred.T @ centred) / (n - 1)
    trace = float(np.trace(gram))
    if trace <= 0:
        return {"bias_ratio": 0.0, "bias_p": 1.0}
    dof = trace**2 / float(np.sum(gram**2))
    ratio = float(np.sum(diff.mean(axis=0) ** 2)) / (trace / n)
    p = float(jax.scipy.stats.chi2.sf(ratio * dof, dof))
    return {"bias_ratio": ratio, "bias_p": p, "bias_dof": dof}


def measure(config: VarianceConfig, progress=None) -> list[dict]:
    """Rows ``{baseline, batch_size, variance, mean_norm, snr, cosine_to_none}``."""
    env = make_env(config.env)
    key = jax.random.key(config.seed)
    policy_key, fit_key, pool_key, value_key = jax.random.split(key, 4)
    agent, params = _fixed_policy(config, env, policy_key)
    policy: Policy = agent.policy
    gamma = config.gamma

    # baselines, fitted on their own episodes
    fit = jax.jit(lambda k: agent.sample_episodes(params, k, config.fit_episodes))(fit_key)
    g_fit = discounted_reward_to_go(fit.reward, fit.valid, gamma)
    count = fit.valid.sum(axis=1)
    mean_baseline = jnp.sum(g_fit * fit.valid, axis=1) / jnp.maximum(count, 1.0)
    critic = policy.critic.init(value_key, fit.obs[0])["params"]
    tx = optax.adam(1e-3)

    @jax.jit
    def fit_value(critic):
        def loss(c):
            v = policy.value(c, fit.obs)
            return jnp.sum(((v - g_fit) * fit.valid) ** 2) / fit.valid.sum()

        def step(carry, _):
            c, s = carry
            grads = jax.grad(loss)(c)
            updates, s = tx.update(grads, s, c)
            return (optax.apply_updates(c, updates), s), None

        (critic, _), _ = jax.lax.scan(step, (critic, tx.init(critic)), None, config.value_steps)
        return critic

    critic = fit_value(critic) if "value" in config.baselines else critic

    # the pool: per-episode gradients under each baseline
    pool_size = config.repeats * max(config.batch_sizes)
    flat_actor, unravel = ravel_pytree(params["actor"])

    def episode_gradient(flat, obs, action, reward, valid, baseline):
        g = discounted_reward_to_go(reward[:, None], valid[:, None], gamma)[:, 0]
        if baseline == "mean":
            b = mean_baseline
        elif baseline == "value":
            b = policy.value(critic, obs)
        else:
            b = 0.0
        adv = jax.lax.stop_gradient((g - b) * valid)

        def objective(f):
            logp = policy.log_prob(policy.dist(unravel(f), obs), action)
            return jnp.sum(logp * adv)

        return jax.grad(objective)(flat)

    @jax.jit
    def pool_gradients(key):
        pool = agent.sample_episodes(params, key, pool_size)
        out = {}
        for baseline in config.baselines:
            grad = jax.vmap(
                lambda o, a, r, v, b=baseline: episode_gradient(flat_actor, o, a, r, v, b),
                in_axes=(1, 1, 1, 1),
            )(pool.obs, pool.action, pool.reward, pool.valid)
            out[baseline] = grad
        return out, pool.returns

    grads, returns = pool_gradients(pool_key)
    grads = {b: np.asarray(g, np.float64) for b, g in grads.items()}
    rows = []
    reference = None
    big = max(config.batch_sizes)
    if "none" in grads:
        reference = grads["none"][: config.repeats * big].mean(axis=0)
    for baseline in config.baselines:
        for size in config.batch_sizes:
            g = grads[baseline][: config.repeats * size].reshape(config.repeats, size, -1)
            estimates = g.mean(axis=1)
            mean = estimates.mean(axis=0)
            variance = float(np.sum((estimates - mean) ** 2) / (config.repeats - 1))
            norm2 = float(mean @ mean)
            row = dict(
                baseline=baseline,
                batch_size=size,
                variance=variance,
                mean_norm=norm2**0.5,
                snr=norm2 / variance if variance > 0 else float("inf"),
            )
            if reference is not None:
                pool = grads[baseline][: config.repeats * big]
                full = pool.mean(axis=0)
                row["cosine_to_none"] = float(
                    full @ reference / (np.linalg.norm(full) * np.linalg.norm(reference) + 1e-30)
                )
                # ‖mean difference‖² over its expectation were both unbiased (≈ 1 then)
                row.update(bias_test(pool - grads["none"][: config.repeats * big]))
            rows.append(row)
    for row in rows:
        row["policy_return"] = float(np.mean(np.asarray(returns)))
    return rows


def write_report(rows: list[dict], config: VarianceConfig, out, command: str = "") -> None:
    """``variance.csv``, ``variance.md`` and ``variance.png`` (variance against batch size,
    log-log, one line per baseline) in ``out``."""
    import dataclasses
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from plastix.runs import atomic_write_bytes

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    atomic_write_bytes(out / "variance.csv", frame.to_csv(index=False).encode())
    lines = [
        f"# REINFORCE gradient variance on {config.env}",
        "",
        f"A fixed policy (REINFORCE after {config.train_iterations} iterations; mean episode "
        f"return {rows[0]['policy_return']:.1f}); {config.repeats} independent estimates per "
        "batch size, the same episodes for every baseline. `variance` = E‖g − ḡ‖² over the "
        "actor's parameters; `snr` = ‖ḡ‖² / variance.",
        "",
    ]
    if command:
        lines += [f"Command: `{command}`", ""]
    columns = [
        c
        for c in ("baseline", "batch_size", "variance", "mean_norm", "snr", "cosine_to_none")
        if c in frame
    ]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for row in rows:
        cells = [f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Configuration: `" + str(dataclasses.asdict(config)) + "`", ""]
    atomic_write_bytes(out / "variance.md", "\n".join(lines).encode())
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for baseline, group in frame.groupby("baseline", sort=False):
        ax.plot(group.batch_size, group.variance, marker="o", label=baseline)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("episodes per estimate (B)")
    ax.set_ylabel("E‖g − ḡ‖²")
    ax.set_title(f"REINFORCE gradient variance, {config.env}")
    ax.legend(title="baseline")
    fig.tight_layout()
    fig.savefig(out / "variance.png", dpi=120)
    plt.close(fig)
