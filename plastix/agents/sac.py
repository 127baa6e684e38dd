"""Soft Actor-Critic (Haarnoja et al. 2018, the automatic-temperature version): twin critics
with a minimum over their targets, target critics tracked by an exponential moving average, a
tanh-squashed Gaussian actor and a temperature tuned towards a target entropy."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from plastix.agents.base import Agent, AgentState, OffPolicyConfig, polyak
from plastix.envs.spaces import Box
from plastix.errors import ConfigError, require
from plastix.nets import ACTIVATIONS, CriticEnsemble, GaussianActor, layer_outputs


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

    def __post_init__(self):
        super().__post_init__()
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


class SAC(Agent):
    name = "sac"
    Config = SACConfig
    networks = ("actor", "critic")

    def __init__(self, config: SACConfig, observation_space, action_space, total_steps, **kw):
        super().__init__(config, observation_space, action_space, total_steps, **kw)
        self.action_dim = int(jnp.prod(jnp.asarray(action_space.shape)))
        self.actor = GaussianActor(
            self.action_dim, self.net_spec("actor"), config.log_std_min, config.log_std_max
        )
        self.critic = CriticEnsemble(self.net_spec("critic"))
        self.num_critics = 2
        # the temperature is a scalar, not a network: the cures' wraps leave it alone
        self.temperature_optimizer = config.optimizer()
        self.target_entropy = (
            -float(self.action_dim) if config.target_entropy is None else config.target_entropy
        )
        self.low = action_space.low_array.reshape(-1)
        self.high = action_space.high_array.reshape(-1)

    @classmethod
    def check_spaces(cls, observation_space, action_space) -> None:
        super().check_spaces(observation_space, action_space)
        if not isinstance(action_space, Box):
            raise ConfigError(
                f"sac needs a continuous (Box) action space, this environment's is "
                f"{action_space.describe()} (discrete); use dqn"
            )
        if not action_space.bounded:
            raise ConfigError("sac needs a bounded action space (finite low and high)")

    def init(self, key: jax.Array) -> AgentState:
        actor_key, critic_key = jax.random.split(key)
        obs = jnp.zeros(self.observation_space.shape, jnp.float32)
        action = jnp.zeros((self.action_dim,), jnp.float32)
        params = {
            "actor": self.actor.init(actor_key, obs)["params"],
            "critic": self.critic.init(critic_key, obs, action)["params"],
            "temperature": {"log_alpha": jnp.log(jnp.float32(self.config.initial_temperature))},
        }
        return AgentState(
            params=params,
            target_params={"critic": params["critic"]},
            opt_state={
                "actor": self.optimizer.init(params["actor"]),
                "critic": self.optimizer.init(params["critic"]),
                "temperature": self.temperature_optimizer.init(params["temperature"]),
            },
            num_updates=jnp.int32(0),
        )

    # Actions are stored and fed to the critics in [-1, 1]; only the environment sees its bounds.
    def to_env(self, action):
        scaled = self.low + 0.5 * (action + 1.0) * (self.high - self.low)
        return scaled.reshape(action.shape[:-1] + self.action_space.shape)

    def from_env(self, action):
        action = action.reshape(action.shape[: action.ndim - len(self.action_space.shape)] + (-1,))
        return 2.0 * (action - self.low) / (self.high - self.low) - 1.0

    def act(self, state, obs, key, env_step, deterministic: bool = False):
        mean, log_std = self.actor.apply({"params": state.params["actor"]}, obs)
        if deterministic:
            return self.to_env(jnp.tanh(mean))
        action, _ = squash_log_prob(mean, log_std, jax.random.normal(key, mean.shape))
        return self.to_env(action)

    def sample_action(self, actor_params, obs, key):
        mean, log_std = self.actor.apply({"params": actor_params}, obs)
        return squash_log_prob(mean, log_std, jax.random.normal(key, mean.shape))

    def activations(self, state, batch):
        _, actor = self.actor.apply(
            {"params": state.params["actor"]}, batch.obs, mutable=[ACTIVATIONS]
        )
        _, critic = self.critic.apply(
            {"params": state.params["critic"]},
            batch.obs,
            self.from_env(batch.action),
            mutable=[ACTIVATIONS],
        )
        critic_layers = layer_outputs(critic[ACTIVATIONS])  # leading axis: the twin critics
        members = [
            {path: h[i] for path, h in critic_layers.items()} for i in range(self.num_critics)
        ]
        return {"actor": [layer_outputs(actor[ACTIVATIONS])], "critic": members}

    def update(self, state: AgentState, batch, key):
        c = self.config
        next_key, actor_key = jax.random.split(key)
        params = state.params
        alpha = jnp.exp(params["temperature"]["log_alpha"])
        action = self.from_env(batch.action)

        # CRITIC: soft Bellman target with the minimum of the twin target critics.
        next_action, next_log_prob = self.sample_action(params["actor"], batch.next_obs, next_key)
        next_q = self.critic.apply(
            {"params": state.target_params["critic"]}, batch.next_obs, next_action
        ).min(axis=0)
        target = batch.reward + batch.discount * (next_q - alpha * next_log_prob)
        target = jax.lax.stop_gradient(target)

        def critic_loss(critic_params):
            q = self.critic.apply({"params": critic_params}, batch.obs, action)
            return jnp.square(q - target[None]).sum(axis=0).mean() * 0.5, q.mean()

        (q_loss, q_mean), critic_grads = jax.value_and_grad(critic_loss, has_aux=True)(
            params["critic"]
        )
        critic_updates, critic_opt = self.optimizer.update(
            critic_grads, state.opt_state["critic"], params["critic"]
        )
        critic_params = optax.apply_updates(params["critic"], critic_updates)

        # ACTOR: maximise min Q - α log π under the updated critics.
        def actor_loss(actor_params):
            new_action, log_prob = self.sample_action(actor_params, batch.obs, actor_key)
            q = self.critic.apply({"params": critic_params}, batch.obs, new_action).min(axis=0)
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
            params={"actor": actor_params, "critic": critic_params, "temperature": temperature},
            target_params={"critic": polyak(state.target_params["critic"], critic_params, c.tau)},
            opt_state={"actor": actor_opt, "critic": critic_opt, "temperature": temperature_opt},
            num_updates=state.num_updates + 1,
        )
        metrics = {
            "critic_loss": q_loss,
            "actor_loss": pi_loss,
            "q_mean": q_mean,
            "temperature": alpha,
            "entropy": -log_prob.mean(),
            "grad_norm": optax.tree.norm(critic_grads),
        }
        return state, metrics
