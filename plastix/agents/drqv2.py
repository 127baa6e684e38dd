"""DrQ-v2 (Yarats et al. 2021, "Mastering Visual Continuous Control: Improved Data-Augmented
Reinforcement Learning"), the agent Ma et al. 2024 study plasticity on.

A deterministic actor (DDPG-style) with scheduled Gaussian exploration noise; twin critics with
the minimum of their targets and n-step returns; random shifts of 4 pixels on observations and
next observations; an image encoder (four 3×3 convolutions of 32 channels, the first with
stride 2) trained by the critic loss only and shared with the actor on detached features; the
actor and the critics each with a trunk (dense to 50 features, LayerNorm, tanh) before two
hidden layers of 1024 units. Defaults are the paper's (its ``cfgs/config.yaml``): Adam at 1e-4,
batch 256, 3-step returns, target critics tracked with τ = 0.01, 2,000 steps of uniformly
random actions before learning, noise σ from 1.0 to 0.1 over ``stddev_steps`` agent steps
(500,000: the paper's medium tasks; 100,000 for its easy ones), target-policy and actor-update
noise clipped at 0.3. The paper updates every second agent step: ``--replay-ratio 0.5``.

Deviation: each twin critic has its own trunk (DrQ-v2 feeds one trunk into both Q heads), so
that every critic parameter has the ensemble's leading axis the cures expect.
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from plastix.agents.actor_critic import ActorCritic
from plastix.agents.base import AgentState, OffPolicyConfig, polyak
from plastix.errors import require
from plastix.nets import NetSpec, after_encoder, encode


@dataclass(frozen=True)
class DrQV2Config(OffPolicyConfig):
    """DrQ-v2 hyperparameters (defaults: the paper's)."""

    learning_rate: float = 1e-4
    """Adam step size of encoder, actor and critics."""
    batch_size: int = 256
    """transitions per gradient update."""
    buffer_size: int = 1_000_000
    """replay buffer capacity in transitions."""
    learning_starts: int = 2_000
    """agent steps of uniformly random actions before the first update (4,000 frames)."""
    n_step: int = 3
    """n-step returns."""
    hidden_sizes: tuple[int, ...] = (1024, 1024)
    """hidden layers of the actor and of each critic, after the trunk."""
    feature_dim: int = 50
    """features of each trunk."""
    conv_channels: tuple[int, ...] = (32, 32, 32, 32)
    """channels of the encoder's convolutions."""
    conv_kernel_sizes: tuple[int, ...] = (3, 3, 3, 3)
    """their kernel sizes."""
    conv_strides: tuple[int, ...] = (2, 1, 1, 1)
    """their strides."""
    max_grad_norm: float = float("inf")
    """no gradient clipping."""
    tau: float = 0.01
    """target critics track the critics as ``tau * online + (1 - tau) * target``."""
    stddev_start: float = 1.0
    """exploration noise σ at the start."""
    stddev_end: float = 0.1
    """σ after the schedule."""
    stddev_steps: int = 500_000
    """agent steps over which σ decays linearly."""
    stddev_clip: float = 0.3
    """clip of the noise on the actions of the target and of the actor update."""
    augment_pad: int = 4
    """random shifts of up to 4 pixels of every update batch (``--augment.*`` overrides)."""

    def __post_init__(self):
        super().__post_init__()
        require(0.0 < self.tau <= 1.0, f"tau must be in (0, 1], got {self.tau}")
        require(self.feature_dim >= 0, f"feature_dim must be >= 0, got {self.feature_dim}")
        require(
            0.0 <= self.stddev_end and 0.0 <= self.stddev_start,
            "stddev_start and stddev_end must be >= 0",
        )
        require(self.stddev_steps >= 1, f"stddev_steps must be >= 1, got {self.stddev_steps}")
        require(self.stddev_clip > 0, f"stddev_clip must be > 0, got {self.stddev_clip}")
        require(self.augment_pad >= 0, f"augment_pad must be >= 0, got {self.augment_pad}")


class DeterministicActor(nn.Module):
    """``tanh`` of the head: the action in [-1, 1]."""

    action_dim: int
    spec: NetSpec

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        out = after_encoder(self, self.spec, encode(self.spec, features), self.action_dim, 1.0)
        return jnp.tanh(out)


def clamp(action: jax.Array) -> jax.Array:
    """``action`` clipped to [-1, 1] with the gradient of the identity (DrQ-v2's clamp)."""
    return action + jax.lax.stop_gradient(jnp.clip(action, -1.0, 1.0) - action)


class DrQV2(ActorCritic):
    name = "drqv2"
    Config = DrQV2Config
    networks = ("actor", "critic")

    def __init__(self, config: DrQV2Config, observation_space, action_space, total_steps, **kw):
        super().__init__(config, observation_space, action_space, total_steps, **kw)
        self.actor = DeterministicActor(self.action_dim, self.net_spec("actor"))

    def init(self, key: jax.Array) -> AgentState:
        actor_key, critic_key, encoder_key = jax.random.split(key, 3)
        obs = jnp.zeros(self.observation_space.shape, jnp.float32)
        action = jnp.zeros((self.action_dim,), jnp.float32)
        params, features = self.init_encoder(encoder_key, obs)
        params |= {
            "actor": self.actor.init(actor_key, features)["params"],
            "critic": self.critic.init(critic_key, features, action)["params"],
        }
        return AgentState(
            params=params,
            target_params={"critic": params["critic"]},
            opt_state={n: self.optimizer.init(p) for n, p in params.items()},
            num_updates=jnp.int32(0),
        )

    def stddev(self, env_step) -> jax.Array:
        c = self.config
        progress = jnp.clip(env_step / c.stddev_steps, 0.0, 1.0)
        return c.stddev_start + progress * (c.stddev_end - c.stddev_start)

    def noisy(self, mean, stddev, key, clip: float | None):
        noise = stddev * jax.random.normal(key, mean.shape)
        if clip is not None:
            noise = jnp.clip(noise, -clip, clip)
        return clamp(mean + noise)

    def act(self, state, obs, key, env_step, deterministic: bool = False):
        mean = self.actor.apply({"params": state.params["actor"]}, self.features(state.params, obs))
        if deterministic:
            return self.to_env(mean)
        return self.to_env(self.noisy(mean, self.stddev(env_step), key, None))

    def update(self, state: AgentState, batch, key, env_step=0):
        c = self.config
        next_key, actor_key = jax.random.split(key)
        params = state.params
        stddev = self.stddev(env_step)  # the schedule's σ now, as DrQ-v2's update uses it
        action = self.from_env(batch.action)

        # CRITIC (and encoder): n-step target with the minimum of the twin target critics.
        next_features = jax.lax.stop_gradient(self.features(params, batch.next_obs))
        next_mean = self.actor.apply({"params": params["actor"]}, next_features)
        next_action = self.noisy(next_mean, stddev, next_key, c.stddev_clip)
        next_q = self.critic.apply(
            {"params": state.target_params["critic"]}, next_features, next_action
        ).min(axis=0)
        target = jax.lax.stop_gradient(batch.reward + batch.discount * next_q)

        def critic_loss(trained):
            features = self.features(trained, batch.obs)
            q, fau = self.critic_values(trained["critic"], features, action)
            return jnp.square(q - target[None]).mean(axis=1).sum(), (q.mean(), features, fau)

        new, opt, q_loss, (q_mean, features, fau), grads = self.critic_step(state, critic_loss)
        features = jax.lax.stop_gradient(features)  # the actor never trains the encoder

        # ACTOR: maximise min Q of its noisy action under the updated critics.
        def actor_loss(actor_params):
            mean = self.actor.apply({"params": actor_params}, features)
            noisy = self.noisy(mean, stddev, actor_key, c.stddev_clip)
            q = self.critic.apply({"params": new["critic"]}, features, noisy).min(axis=0)
            return -q.mean()

        pi_loss, actor_grads = jax.value_and_grad(actor_loss)(params["actor"])
        actor_updates, actor_opt = self.optimizer.update(
            actor_grads, state.opt_state["actor"], params["actor"]
        )
        actor_params = optax.apply_updates(params["actor"], actor_updates)

        state = state.replace(
            params=new | {"actor": actor_params},
            target_params={"critic": polyak(state.target_params["critic"], new["critic"], c.tau)},
            opt_state=opt | {"actor": actor_opt},
            num_updates=state.num_updates + 1,
        )
        metrics = {
            "critic_loss": q_loss,
            "actor_loss": pi_loss,
            "q_mean": q_mean,
            "critic_train_fau": fau,
            "stddev": stddev,
            "grad_norm": optax.tree.norm(grads),
        }
        return state, metrics
