"""What every plastix agent shares: its state's shape, its config fields, its interface.

An agent is a small object built from a frozen config and the environment's spaces. Its methods
are pure functions of an ``AgentState`` pytree, so the training loop can ``jit``, ``scan`` and
``vmap`` them:

- ``init(key) -> AgentState``
- ``act(state, obs, key, env_step, deterministic) -> action`` for a batch of observations
- ``update(state, batch, key, env_step) -> (state, metrics)`` one gradient update on a replay
  batch, at environment step ``env_step`` (for schedules such as DrQ-v2's noise)

``AgentState`` holds every network under its name (``params["critic"]``, ``params["actor"]``),
with the optimizer state and target parameters under the same names, so code outside the agent
(diagnostics, resets, ...) can find a network and its optimizer state without knowing the agent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import jax
import jax.numpy as jnp
import optax
from flax import struct

from plastix import optim
from plastix.envs.spaces import Box, Space
from plastix.errors import ConfigError, check_types, require
from plastix.nets import NetSpec, check_network_fields, is_injection_branch, net_spec_of
from plastix.replay import Batch


@struct.dataclass
class AgentState:
    params: dict[str, Any]
    target_params: dict[str, Any]
    opt_state: dict[str, Any]
    num_updates: jax.Array


@dataclass(frozen=True)
class OffPolicyConfig:
    """Fields every off-policy agent has."""

    learning_rate: float = 3e-4
    """Adam step size."""
    batch_size: int = 256
    """transitions per gradient update."""
    buffer_size: int = 1_000_000
    """replay buffer capacity in transitions (all parallel environments together)."""
    learning_starts: int = 1_000
    """environment steps of uniformly random actions before the first update."""
    gamma: float = 0.99
    """discount factor."""
    n_step: int = 1
    """n-step returns; windows stop at episode ends."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """units of the dense hidden layers (the ``torso``)."""
    layer_norm: bool = False
    """LayerNorm before each hidden non-linearity."""
    encoder: Literal["auto", "mlp", "cnn"] = "auto"
    """``cnn`` puts convolutions before the torso; ``auto`` uses them for (H, W, C) observations."""
    conv_channels: tuple[int, ...] = (16,)
    """channels of each convolution (the MinAtar network's by default)."""
    conv_kernel_sizes: tuple[int, ...] = (3,)
    """kernel size of each convolution."""
    conv_strides: tuple[int, ...] = (1,)
    """stride of each convolution."""
    max_grad_norm: float = 10.0
    """clip gradients to this global norm (``inf`` turns clipping off)."""
    adam_eps: float = 1e-8
    """Adam's ε (1.5e-4 in the Atari 100k agents)."""

    def __post_init__(self):
        check_types(self)
        require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(self.buffer_size >= 1, f"buffer_size must be >= 1, got {self.buffer_size}")
        require(
            self.learning_starts >= 0, f"learning_starts must be >= 0, got {self.learning_starts}"
        )
        require(0.0 <= self.gamma <= 1.0, f"gamma must be in [0, 1], got {self.gamma}")
        require(self.n_step >= 1, f"n_step must be >= 1, got {self.n_step}")
        check_network_fields(self)
        require(self.max_grad_norm > 0, f"max_grad_norm must be > 0, got {self.max_grad_norm}")
        require(self.adam_eps > 0, f"adam_eps must be > 0, got {self.adam_eps}")

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def net_spec(self, obs_space: Space) -> NetSpec:
        return net_spec_of(self, obs_space)

    def optimizer(self, wraps=()) -> optax.GradientTransformation:
        """Adam with a count per parameter array, so interventions can restart any part of it,
        after the global-norm clip; then each of ``wraps`` (the optimizer-side cures: ``wrap(tx)
        -> tx``) in order; all behind per-array freeze switches (plasticity injection freezes
        the old head; its branches start frozen)."""
        inner = optim.adam(self.learning_rate, eps=self.adam_eps)
        if self.max_grad_norm != float("inf"):
            inner = optax.chain(optax.clip_by_global_norm(self.max_grad_norm), inner)
        for wrap in wraps:
            inner = wrap(inner)
        return optim.freezable(inner, frozen_at_init=is_injection_branch)


class Agent:
    """Base class: stores config and spaces, checks that the agent can handle the spaces."""

    name: ClassVar[str]
    networks: ClassVar[tuple[str, ...]]
    """the networks with layers (``encoder``/``torso``/``head``), by parameter name."""
    config: OffPolicyConfig

    def __init__(
        self,
        config,
        observation_space: Space,
        action_space: Space,
        total_steps: int,
        injection: tuple[str, ...] = (),
        body: dict | None = None,
        wraps: tuple = (),
    ):
        """``injection`` names the networks built with plasticity-injection branches; ``body``
        overrides fields of every network's ``NetSpec`` (``activation``, ``layer_norm``) and
        ``wraps`` wrap the optimizer of every network (the cures', see ``optimizer``)."""
        self.check_spaces(observation_space, action_space)
        unknown = [n for n in injection if n not in self.networks]
        if unknown:
            raise ConfigError(
                f"{self.name} has no network {', '.join(map(repr, unknown))} to inject into; "
                f"valid choices: {', '.join(self.networks)}"
            )
        self.config = config
        self.observation_space = observation_space
        self.action_space = action_space
        self.total_steps = int(total_steps)
        self.injection = tuple(injection)
        self.body = dict(body or {})
        self.optimizer = config.optimizer(tuple(wraps))

    def net_spec(self, network: str) -> NetSpec:
        """The body of ``network``: the config's with the cures' overrides, with injection
        branches if asked for."""
        spec = dataclasses.replace(self.config.net_spec(self.observation_space), **self.body)
        return dataclasses.replace(spec, injection=network in self.injection)

    @classmethod
    def check_spaces(cls, observation_space: Space, action_space: Space) -> None:
        if not isinstance(observation_space, Box):
            raise ConfigError(f"{cls.name} needs Box observations, got {observation_space}")

    def init(self, key: jax.Array) -> AgentState:
        raise NotImplementedError

    def act(self, state: AgentState, obs, key, env_step, deterministic: bool = False):
        raise NotImplementedError

    def update(self, state: AgentState, batch: Batch, key: jax.Array, env_step=0):
        raise NotImplementedError

    def activations(self, state: AgentState, batch: Batch) -> dict[str, list[dict]]:
        """Hidden activations of every network on a replay batch, for the diagnostics.

        ``{network: [layers, ...]}`` with one ``{layer path: array}`` dict per ensemble member
        (one for a plain network, two for SAC's twin critics), each array ``[batch, ..., units]``.
        """
        raise NotImplementedError


def polyak(target, online, tau):
    """``target <- tau * online + (1 - tau) * target`` (tau = 1: a hard copy)."""
    return jax.tree.map(lambda t, o: tau * o + (1.0 - tau) * t, target, online)


def tree_where(condition, new, old):
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), new, old)
