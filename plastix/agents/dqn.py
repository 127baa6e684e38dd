"""DQN (Mnih et al. 2015) with double Q-learning (van Hasselt et al. 2016), optionally the
dueling architecture (Wang et al. 2016), n-step returns, a target network updated by Polyak
averaging every ``target_update_interval`` updates (``tau=1`` is the classic hard copy), an
ε-greedy schedule and the Huber loss.

``DrQEpsConfig`` is DrQ(ε) (Kostrikov et al. 2021 as Agarwal et al. 2021 tune it; Dopamine's
``atari_100k`` ``DrQ_eps.gin``): the Nature CNN, double and dueling DQN, 10-step returns,
random shifts of 4 pixels, one update per step with the target network equal to the online
one, ε from 1 to 0.01 over the 5,000 steps after 1,600 random ones, evaluation at ε = 0.001,
Adam at 1e-4 with ε 1.5e-4, batch 32, no gradient clipping."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from plastix.agents.base import Agent, AgentState, OffPolicyConfig, polyak, tree_where
from plastix.envs.spaces import Discrete
from plastix.errors import ConfigError, require
from plastix.nets import (
    ACTIVATIONS,
    QNetwork,
    fraction_active_units,
    layer_outputs,
    mlp_layers,
)


@dataclass(frozen=True)
class DQNConfig(OffPolicyConfig):
    """DQN hyperparameters (defaults: Stable-Baselines3 zoo's CartPole settings, at replay
    ratio 1)."""

    learning_rate: float = 1e-3
    """Adam step size."""
    batch_size: int = 64
    """transitions per gradient update."""
    buffer_size: int = 100_000
    """replay buffer capacity in transitions (all parallel environments together)."""
    learning_starts: int = 1_000
    """environment steps of uniformly random actions before the first update."""
    double_dqn: bool = True
    """pick the next action with the online network, value it with the target network."""
    target_update_interval: int = 100
    """gradient updates between target-network updates."""
    tau: float = 1.0
    """target update ``target <- tau * online + (1 - tau) * target``; 1 is a hard copy."""
    epsilon_start: float = 1.0
    """exploration rate at the start."""
    epsilon_end: float = 0.05
    """exploration rate after the decay."""
    exploration_fraction: float = 0.1
    """fraction of the run's environment steps over which ε decays linearly."""
    eval_epsilon: float = 0.0
    """exploration rate of evaluation episodes (0: greedy)."""
    huber_delta: float = 1.0
    """Huber loss threshold (``inf``: squared error)."""
    dueling: bool = False
    """separate value and advantage streams, ``Q = V + A − mean A`` (Wang et al. 2016)."""
    exploration_steps: int = 0
    """environment steps over which ε decays, counted from ``learning_starts`` (Dopamine's
    schedule); 0: ``exploration_fraction`` of the run, counted from step 0."""
    augment_pad: int = 0
    """random-shift augmentation of update batches from the start (DrQ; 0: none); the
    ``--augment.*`` intervention, when set, takes its place."""

    def __post_init__(self):
        super().__post_init__()
        require(
            self.target_update_interval >= 1,
            f"target_update_interval must be >= 1, got {self.target_update_interval}",
        )
        require(0.0 < self.tau <= 1.0, f"tau must be in (0, 1], got {self.tau}")
        for name in ("epsilon_start", "epsilon_end", "eval_epsilon", "exploration_fraction"):
            value = getattr(self, name)
            require(0.0 <= value <= 1.0, f"{name} must be in [0, 1], got {value}")
        require(self.huber_delta > 0, f"huber_delta must be > 0, got {self.huber_delta}")
        require(
            self.exploration_steps >= 0,
            f"exploration_steps must be >= 0, got {self.exploration_steps}",
        )
        require(self.augment_pad >= 0, f"augment_pad must be >= 0, got {self.augment_pad}")


@dataclass(frozen=True)
class DrQEpsConfig(DQNConfig):
    """DrQ(ε) for Atari 100k (Agarwal et al. 2021; Dopamine's DrQ_eps.gin)."""

    learning_rate: float = 1e-4
    """Adam step size."""
    adam_eps: float = 1.5e-4
    """Adam's ε."""
    batch_size: int = 32
    """transitions per gradient update."""
    buffer_size: int = 100_000
    """replay buffer capacity (the whole 100k run)."""
    learning_starts: int = 1_600
    """environment steps of uniformly random actions before the first update."""
    n_step: int = 10
    """n-step returns."""
    target_update_interval: int = 1
    """gradient updates between target-network copies (1: the online network)."""
    epsilon_end: float = 0.01
    """exploration rate after the decay."""
    exploration_steps: int = 5_000
    """environment steps of ε's decay after ``learning_starts``."""
    eval_epsilon: float = 0.001
    """exploration rate of evaluation episodes."""
    dueling: bool = True
    """dueling value and advantage streams."""
    max_grad_norm: float = float("inf")
    """no gradient clipping."""
    hidden_sizes: tuple[int, ...] = (512,)
    """the dense layer of each stream."""
    conv_channels: tuple[int, ...] = (32, 64, 64)
    """the Nature CNN (Mnih et al. 2015)."""
    conv_kernel_sizes: tuple[int, ...] = (8, 4, 3)
    """its kernel sizes."""
    conv_strides: tuple[int, ...] = (4, 2, 1)
    """its strides."""
    augment_pad: int = 4
    """random shifts of up to 4 pixels."""


class DQN(Agent):
    name = "dqn"
    Config = DQNConfig
    networks = ("critic",)

    def __init__(self, config: DQNConfig, observation_space, action_space, total_steps, **kw):
        super().__init__(config, observation_space, action_space, total_steps, **kw)
        self.network = QNetwork(action_space.n, self.net_spec("critic"), config.dueling)

    @classmethod
    def check_spaces(cls, observation_space, action_space) -> None:
        super().check_spaces(observation_space, action_space)
        if not isinstance(action_space, Discrete):
            raise ConfigError(
                "dqn needs a discrete action space, this environment's is "
                f"{action_space.describe()} (continuous); use sac"
            )

    def init(self, key: jax.Array) -> AgentState:
        obs = jnp.zeros(self.observation_space.shape, jnp.float32)
        params = self.network.init(key, obs)["params"]
        return AgentState(
            params={"critic": params},
            target_params={"critic": params},
            opt_state={"critic": self.optimizer.init(params)},
            num_updates=jnp.int32(0),
        )

    def epsilon(self, env_step) -> jax.Array:
        c = self.config
        if c.exploration_steps:
            progress = jnp.clip((env_step - c.learning_starts) / c.exploration_steps, 0.0, 1.0)
            return c.epsilon_start + progress * (c.epsilon_end - c.epsilon_start)
        decay_steps = max(1.0, c.exploration_fraction * self.total_steps)
        progress = jnp.clip(env_step / decay_steps, 0.0, 1.0)
        return c.epsilon_start + progress * (c.epsilon_end - c.epsilon_start)

    def act(self, state, obs, key, env_step, deterministic: bool = False):
        q = self.network.apply({"params": state.params["critic"]}, obs)
        greedy = jnp.argmax(q, axis=-1).astype(jnp.int32)
        epsilon = self.config.eval_epsilon if deterministic else self.epsilon(env_step)
        explore_key, action_key = jax.random.split(key)
        explore = jax.random.uniform(explore_key, greedy.shape) < epsilon
        random = jax.random.randint(action_key, greedy.shape, 0, self.action_space.n, jnp.int32)
        return jnp.where(explore, random, greedy)

    def activations(self, state, batch):
        _, sown = self.network.apply(
            {"params": state.params["critic"]}, batch.obs, mutable=[ACTIVATIONS]
        )
        return {"critic": [layer_outputs(sown[ACTIVATIONS])]}

    def loss(self, params, target_params, batch):
        c = self.config
        q, sown = self.network.apply({"params": params}, batch.obs, mutable=[ACTIVATIONS])
        # the FAU of the layers after the encoder on the batch it trains on (Ma et al. 2024)
        fau = fraction_active_units(mlp_layers(layer_outputs(sown[ACTIVATIONS])))
        q_taken = jnp.take_along_axis(q, batch.action[:, None].astype(jnp.int32), axis=-1)[:, 0]
        next_q_target = self.network.apply({"params": target_params}, batch.next_obs)
        if c.double_dqn:
            next_action = jnp.argmax(self.network.apply({"params": params}, batch.next_obs), -1)
        else:
            next_action = jnp.argmax(next_q_target, axis=-1)
        next_q = jnp.take_along_axis(next_q_target, next_action[:, None], axis=-1)[:, 0]
        target = jax.lax.stop_gradient(batch.reward + batch.discount * next_q)
        if c.huber_delta == float("inf"):
            losses = 0.5 * jnp.square(q_taken - target)
        else:
            losses = optax.huber_loss(q_taken, target, delta=c.huber_delta)
        return losses.mean(), {"q": q_taken.mean(), "fau": fau}

    def update(self, state: AgentState, batch, key, env_step=0):
        c = self.config
        (loss, aux), grads = jax.value_and_grad(self.loss, has_aux=True)(
            state.params["critic"], state.target_params["critic"], batch
        )
        updates, opt_state = self.optimizer.update(
            grads, state.opt_state["critic"], state.params["critic"]
        )
        params = optax.apply_updates(state.params["critic"], updates)
        num_updates = state.num_updates + 1
        target = tree_where(
            num_updates % c.target_update_interval == 0,
            polyak(state.target_params["critic"], params, c.tau),
            state.target_params["critic"],
        )
        state = state.replace(
            params={"critic": params},
            target_params={"critic": target},
            opt_state={"critic": opt_state},
            num_updates=num_updates,
        )
        return state, {
            "critic_loss": loss,
            "q_mean": aux["q"],
            "critic_train_fau": aux["fau"],
            "grad_norm": optax.tree.norm(grads),
        }


class DrQEps(DQN):
    """DQN with DrQ(ε)'s settings (``DrQEpsConfig``)."""

    name = "drq-eps"
    Config = DrQEpsConfig
