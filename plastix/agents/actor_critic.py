"""What the continuous-control actor-critics (SAC, DrQ-v2) share: twin critics, actions in
[-1, 1], and on images one ``encoder`` network that the actor and the critics share.

The shared encoder is DrQ's and DrQ-v2's design (Kostrikov et al. 2020; Yarats et al. 2021):
only the critic loss trains it, the actor sees its features detached, and the actor and the
critics each put their own ``trunk`` (dense, LayerNorm, tanh) between it and their torsos."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import optax

from plastix.agents.base import Agent
from plastix.envs.spaces import Box
from plastix.errors import ConfigError
from plastix.nets import (
    ACTIVATIONS,
    CriticEnsemble,
    Encoder,
    NetSpec,
    fraction_active_units,
    layer_outputs,
    mlp_layers,
)


class ActorCritic(Agent):
    """A continuous-control actor-critic: twin critics ``critic`` and an actor whose actions
    live in [-1, 1] (``to_env`` maps them to the environment's bounds); with image observations
    an ``encoder`` network both share, trained by the critic loss alone (``critic_step``)."""

    def __init__(self, config, observation_space, action_space, total_steps, **kw):
        super().__init__(config, observation_space, action_space, total_steps, **kw)
        own = super().net_spec("encoder")
        self.encoder = Encoder(own) if own.conv_channels else None
        self.action_dim = int(np.prod(action_space.shape))
        self.critic = CriticEnsemble(self.net_spec("critic"))
        self.num_critics = 2
        self.low = action_space.low_array.reshape(-1)
        self.high = action_space.high_array.reshape(-1)

    @classmethod
    def check_spaces(cls, observation_space, action_space) -> None:
        super().check_spaces(observation_space, action_space)
        if not isinstance(action_space, Box):
            raise ConfigError(
                f"{cls.name} needs a continuous (Box) action space, this environment's is "
                f"{action_space.describe()} (discrete); use dqn"
            )
        if not action_space.bounded:
            raise ConfigError(f"{cls.name} needs a bounded action space (finite low and high)")

    # Actions are stored and fed to the critics in [-1, 1]; only the environment sees its bounds.
    def to_env(self, action):
        scaled = self.low + 0.5 * (action + 1.0) * (self.high - self.low)
        return scaled.reshape(action.shape[:-1] + self.action_space.shape)

    def from_env(self, action):
        action = action.reshape(action.shape[: action.ndim - len(self.action_space.shape)] + (-1,))
        return 2.0 * (action - self.low) / (self.high - self.low) - 1.0

    def net_spec(self, network: str) -> NetSpec:
        spec = super().net_spec(network)
        if network == "encoder" or not spec.conv_channels:
            return spec
        return dataclasses.replace(spec.without_encoder(), feature_dim=self.config.feature_dim)

    def init_encoder(self, key, obs) -> tuple[dict, jax.Array]:
        """``({"encoder": params} or {}, features of obs)``."""
        if self.encoder is None:
            return {}, obs
        params = self.encoder.init(key, obs)["params"]
        return {"encoder": params}, self.encoder.apply({"params": params}, obs)

    def features(self, params: dict, obs):
        if self.encoder is None:
            return obs
        return self.encoder.apply({"params": params["encoder"]}, obs)

    def encoder_activations(self, params: dict, obs) -> tuple[dict, jax.Array]:
        """``({"encoder": [layers]} or {}, features)`` for the diagnostics."""
        if self.encoder is None:
            return {}, obs
        features, sown = self.encoder.apply(
            {"params": params["encoder"]}, obs, mutable=[ACTIVATIONS]
        )
        return {"encoder": [layer_outputs(sown[ACTIVATIONS])]}, features

    def activations(self, state, batch):
        """The encoder's (if any), the actor's and each twin critic's layer activations."""
        out, features = self.encoder_activations(state.params, batch.obs)
        _, actor = self.actor.apply(
            {"params": state.params["actor"]}, features, mutable=[ACTIVATIONS]
        )
        _, critic = self.critic.apply(
            {"params": state.params["critic"]},
            features,
            self.from_env(batch.action),
            mutable=[ACTIVATIONS],
        )
        layers = layer_outputs(critic[ACTIVATIONS])  # leading axis: the twin critics
        members = [{path: h[i] for path, h in layers.items()} for i in range(self.num_critics)]
        return out | {"actor": [layer_outputs(actor[ACTIVATIONS])], "critic": members}

    def critic_values(self, critic_params, features, action):
        """``(Q of both critics, FAU of their layers on this batch)``: the FAU the Adaptive
        Replay Ratio averages over the batches the critic trains on (Ma et al. 2024 count both
        critics' hidden layers together, the trunk's tanh and the encoder apart)."""
        q, sown = self.critic.apply(
            {"params": critic_params}, features, action, mutable=[ACTIVATIONS]
        )
        layers = mlp_layers(layer_outputs(sown[ACTIVATIONS]))
        return q, fraction_active_units(layers)

    def critic_step(self, state, loss):
        """One optimizer step of ``loss(trained) -> (value, aux)`` for the critic and, with
        images, the encoder. Returns ``(new params, new opt states, value, aux, grads)``."""
        names = ("critic",) + (("encoder",) if self.encoder is not None else ())
        trained = {n: state.params[n] for n in names}
        (value, aux), grads = jax.value_and_grad(loss, has_aux=True)(trained)
        params, opt = {}, {}
        for n in names:
            updates, opt[n] = self.optimizer.update(grads[n], state.opt_state[n], trained[n])
            params[n] = optax.apply_updates(trained[n], updates)
        return params, opt, value, aux, grads
