"""Soft Actor-Critic (Haarnoja et al. 2018, the automatic-temperature version): twin critics
with a minimum over their targets, target critics tracked by an exponential moving average, a
tanh-squashed Gaussian actor and a temperature tuned towards a target entropy.

On images the actor and the critics share one ``encoder`` network (DrQ, Kostrikov et al. 2020;
DrQ-v2, Yarats et al. 2021): only the critic loss trains it, the actor sees its features
detached, and each network has its own ``trunk`` (dense, LayerNorm, tanh) before its torso.
The target critics value next observations through the online encoder, as in DrQ-v2."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from plastix.agents.actor_critic import ActorCritic
from plastix.agents.base import AgentState, OffPolicyConfig, polyak
from plastix.errors import require
from plastix.nets import GaussianActor


@dataclass(frozen=True)
class SACConfig(OffPolicyConfig):
    """SAC hyperparameters (defaults: Stable-Baselines3 zoo's Pendulum settings)."""

    learning_rate: float = 1e-3
    """Adam step size of actor, critics and temperature."""
    batch_size: int = 256
    """transitions per gradient update."""
    buffer_size: int = 1_000_000
    """replay buffer capacity in transitions (all parallel environments together)."""
    learning_starts: int = 100
    """environment steps of uniformly random actions before the first update."""
    tau: float = 0.005
    """target critics track the critics as ``tau * online + (1 - tau) * target`` every update."""
    initial_temperature: float = 1.0
    """starting entropy coefficient α."""
    autotune_temperature: bool = True
    """tune α so the policy's entropy approaches ``target_entropy``."""
    target_entropy: float | None = None
    """entropy target; None means ``-action_dim``."""
    log_std_min: float = -5.0
    """lower bound of the actor's log standard deviation."""
    log_std_max: float = 2.0
    """upper bound of the actor's log standard deviation."""
    feature_dim: int = 50
    """on images: features of each network's trunk after the shared encoder (0: no trunk)."""

    def __post_init__(self):
        super().__post_init__()
        require(self.feature_dim >= 0, f"feature_dim must be >= 0, got {self.feature_dim}")
        require(0.0 < self.tau <= 1.0, f"tau must be in (0, 1], got {self.tau}")
        require(
            self.initial_temperature > 0,
            f"initial_temperature must be > 0, got {self.initial_temperature}",
        )
        require(self.log_std_min < self.log_std_max, "log_std_min must be below log_std_max")


def squash_log_prob(mean, log_std, noise):
    """Sample ``a = tanh(u)``, ``u ~ N(mean, std)``, with its log-density.

    log pi(a) = log N(u) - sum log(1 - tanh(u)^2), the correction written in the stable form
    ``2 (log 2 - u - softplus(-2u))``.
    """
    u = mean + jnp.exp(log_std) * noise
    log_normal = -0.5 * jnp.square(noise) - log_std - 0.5 * jnp.log(2.0 * jnp.pi)
    correction = 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))
    return jnp.tanh(u), jnp.sum(log_normal - correction, axis=-1)


class SAC(ActorCritic):
    name = "sac"
    Config = SACConfig
    networks = ("actor", "critic")

    def __init__(self, config: SACConfig, observation_space, action_space, total_steps, **kw):
        super().__init__(config, observation_space, action_space, total_steps, **kw)
        self.actor = GaussianActor(
            self.action_dim, self.net_spec("actor"), config.log_std_min, config.log_std_max
        )
        # the temperature is a scalar, not a network: the cures' wraps leave it alone
        self.temperature_optimizer = config.optimizer()
        self.target_entropy = (
            -float(self.action_dim) if config.target_entropy is None else config.target_entropy
        )

    def init(self, key: jax.Array) -> AgentState:
        actor_key, critic_key, encoder_key = jax.random.split(key, 3)
        obs = jnp.zeros(self.observation_space.shape, jnp.float32)
        action = jnp.zeros((self.action_dim,), jnp.float32)
        params, features = self.init_encoder(encoder_key, obs)
        params |= {
            "actor": self.actor.init(actor_key, features)["params"],
            "critic": self.critic.init(critic_key, features, action)["params"],
            "temperature": {"log_alpha": jnp.log(jnp.float32(self.config.initial_temperature))},
        }
        opt_state = {n: self.optimizer.init(params[n]) for n in params if n != "temperature"}
        opt_state["temperature"] = self.temperature_optimizer.init(params["temperature"])
        return AgentState(
            params=params,
            target_params={"critic": params["critic"]},
            opt_state=opt_state,
            num_updates=jnp.int32(0),
        )

    def act(self, state, obs, key, env_step, deterministic: bool = False):
        obs = self.features(state.params, obs)
        mean, log_std = self.actor.apply({"params": state.params["actor"]}, obs)
        if deterministic:
            return self.to_env(jnp.tanh(mean))
        action, _ = squash_log_prob(mean, log_std, jax.random.normal(key, mean.shape))
        return self.to_env(action)

    def sample_action(self, actor_params, obs, key):
        mean, log_std = self.actor.apply({"params": actor_params}, obs)
        return squash_log_prob(mean, log_std, jax.random.normal(key, mean.shape))

    def update(self, state: AgentState, batch, key, env_step=0):
        c = self.config
        next_key, actor_key = jax.random.split(key)
        params = state.params
        alpha = jnp.exp(params["temperature"]["log_alpha"])
        action = self.from_env(batch.action)

        # CRITIC: soft Bellman target with the minimum of the twin target critics.
        next_features = jax.lax.stop_gradient(self.features(params, batch.next_obs))
        next_action, next_log_prob = self.sample_action(params["actor"], next_features, next_key)
        next_q = self.critic.apply(
            {"params": state.target_params["critic"]}, next_features, next_action
        ).min(axis=0)
        target = batch.reward + batch.discount * (next_q - alpha * next_log_prob)
        target = jax.lax.stop_gradient(target)

        def critic_loss(trained):
            features = self.features(trained, batch.obs)
            q, fau = self.critic_values(trained["critic"], features, action)
            loss = jnp.square(q - target[None]).sum(axis=0).mean() * 0.5
            return loss, (q.mean(), features, fau)

        new, opt, q_loss, (q_mean, features, fau), critic_grads = self.critic_step(
            state, critic_loss
        )
        critic_params = new["critic"]
        features = jax.lax.stop_gradient(features)  # the actor never trains the encoder

        # ACTOR: maximise min Q - α log π under the updated critics.
        def actor_loss(actor_params):
            new_action, log_prob = self.sample_action(actor_params, features, actor_key)
            q = self.critic.apply({"params": critic_params}, features, new_action).min(axis=0)
            return (alpha * log_prob - q).mean(), log_prob

        (pi_loss, log_prob), actor_grads = jax.value_and_grad(actor_loss, has_aux=True)(
            params["actor"]
        )
        actor_updates, actor_opt = self.optimizer.update(
            actor_grads, state.opt_state["actor"], params["actor"]
        )
        actor_params = optax.apply_updates(params["actor"], actor_updates)

        # TEMPERATURE: move log α so the entropy -E[log π] approaches the target.
        entropy_gap = jax.lax.stop_gradient(-log_prob - self.target_entropy).mean()

        def temperature_loss(temperature):
            return temperature["log_alpha"] * entropy_gap

        temperature_grads = jax.grad(temperature_loss)(params["temperature"])
        if not c.autotune_temperature:
            temperature_grads = jax.tree.map(jnp.zeros_like, temperature_grads)
        temperature_updates, temperature_opt = self.temperature_optimizer.update(
            temperature_grads, state.opt_state["temperature"]
        )
        temperature = optax.apply_updates(params["temperature"], temperature_updates)
        if not c.autotune_temperature:
            temperature = params["temperature"]

        state = state.replace(
            params=new | {"actor": actor_params, "temperature": temperature},
            target_params={"critic": polyak(state.target_params["critic"], critic_params, c.tau)},
            opt_state=opt | {"actor": actor_opt, "temperature": temperature_opt},
            num_updates=state.num_updates + 1,
        )
        metrics = {
            "critic_loss": q_loss,
            "actor_loss": pi_loss,
            "q_mean": q_mean,
            "critic_train_fau": fau,
            "temperature": alpha,
            "entropy": -log_prob.mean(),
            "grad_norm": optax.tree.norm(critic_grads),
        }
        return state, metrics
