"""OpenAI Evolution Strategies (Salimans et al. 2017) as pure functions.

The policy's parameters are one flat vector ``θ``. Generation ``g`` perturbs it with
``population / 2`` Gaussian directions ``ε_j`` in mirrored pairs: member ``2j`` plays
``θ + σ ε_j`` and member ``2j + 1`` plays ``θ − σ ε_j``. Every ``ε_j`` is regenerated from
``(seed, g, j)`` alone, so whoever knows the seed can rebuild any perturbation — the reason the
Ray backend needs to exchange only indices and returns. The update ranks the population's
returns (centred ranks in [−0.5, 0.5]), forms ``ĝ = 1 / (n σ) Σ_i F_i s_i ε_j(i)`` (``s_i`` the
member's sign), adds weight decay and takes an Adam (or SGD with momentum) step along ``−ĝ``.

Observation normalisation (optional) keeps running statistics of the observations the
population saw; every member's own sums are returned with its return and merged in member order,
so every replica computes the same statistics bit for bit.

``evaluate_members(state, indices)`` works on any subset of the population: the local backend
passes all of it (one vmapped program), a Ray worker passes its share.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

from plastix.envs.spaces import Box, Discrete
from plastix.errors import ConfigError, require
from plastix.keys import ESStream
from plastix.nets import ACTIVATIONS, NetSpec, after_encoder, encode, layer_outputs
from plastix.onpolicy.common import NetworkFields, episodes


@dataclass(frozen=True)
class ESConfig(NetworkFields):
    """OpenAI-ES's hyperparameters."""

    population: int = 32
    """members per generation (even: mirrored pairs)."""
    sigma: float = 0.1
    """standard deviation of the parameter noise (fixed)."""
    learning_rate: float = 0.05
    """step size of the optimiser."""
    optimizer: Literal["adam", "sgd"] = "adam"
    """adam, or sgd with momentum."""
    momentum: float = 0.9
    """momentum of sgd."""
    weight_decay: float = 0.005
    """L2 coefficient added to the ES gradient (Salimans et al.: 0.005)."""
    episodes_per_member: int = 1
    """episodes each member plays; its fitness is their mean return."""
    obs_norm: bool = False
    """normalise observations by running statistics of the population's observations."""
    hidden_sizes: tuple[int, ...] = (32, 32)
    """units of the policy's hidden layers."""
    backend: Literal["local", "ray"] = "local"
    """local: the population as one vmapped program; ray: workers on a Ray cluster that
    exchange only indices and returns."""
    workers: int = 2
    """Ray workers (backend ray)."""
    address: str | None = None
    """address of an existing Ray cluster to join (backend ray); none: start a local one."""

    def __post_init__(self):
        self.check_network()
        require(
            self.population >= 2 and self.population % 2 == 0,
            f"population must be an even number >= 2 (mirrored pairs), got {self.population}",
        )
        require(self.sigma > 0, f"sigma must be > 0, got {self.sigma}")
        require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        require(
            self.optimizer in ("adam", "sgd"),
            f"optimizer must be one of adam, sgd; got {self.optimizer!r}",
        )
        require(
            self.backend in ("local", "ray"),
            f"backend must be one of local, ray; got {self.backend!r}",
        )
        require(self.workers >= 1, f"workers must be >= 1, got {self.workers}")
        require(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        require(
            self.episodes_per_member >= 1,
            f"episodes_per_member must be >= 1, got {self.episodes_per_member}",
        )


class ESPolicy(nn.Module):
    """A deterministic policy: argmax of logits, or a tanh-squashed action in the box."""

    spec: NetSpec
    outputs: int

    @nn.compact
    def __call__(self, obs):
        return after_encoder(self, self.spec, encode(self.spec, obs), self.outputs, 0.01)


@struct.dataclass
class ESState:
    params: jax.Array
    """θ, flat."""
    opt_state: Any
    obs_stats: jax.Array
    """[count, Σx (obs_dim), Σx² (obs_dim)] of the observations seen so far."""
    generation: jax.Array
    key_data: jax.Array
    """the run's key as raw data (serialisable); every perturbation derives from it."""
    env_steps: jax.Array

    @property
    def key(self) -> jax.Array:
        return jax.random.wrap_key_data(self.key_data)


class OpenAIES:
    name = "es"
    Config = ESConfig
    networks = ("actor",)

    def __init__(self, config: ESConfig, env, total_steps: int = 0):
        if not isinstance(env.observation_space, Box):
            raise ConfigError(f"es needs Box observations, got {env.observation_space}")
        self.config = config
        self.env = env
        self.observation_space, self.action_space = env.observation_space, env.action_space
        self.total_steps = int(total_steps)
        self.discrete = isinstance(env.action_space, Discrete)
        if not self.discrete and not (
            isinstance(env.action_space, Box) and env.action_space.bounded
        ):
            raise ConfigError(f"es needs Discrete or bounded Box actions, got {env.action_space}")
        outputs = env.action_space.n if self.discrete else env.action_space.shape[0]
        self.net = ESPolicy(config.net_spec(env.observation_space), outputs)
        obs = jnp.zeros((1,) + tuple(env.observation_space.shape), jnp.float32)
        template = self.net.init(jax.random.key(0), obs)["params"]
        flat, self.unravel = ravel_pytree(template)
        self.num_params = flat.size
        self.obs_dim = int(np.prod(env.observation_space.shape))
        self.horizon = env.max_episode_steps
        self.max_steps_per_iteration = config.population * config.episodes_per_member * self.horizon
        if config.optimizer == "adam":
            self.tx = optax.adam(config.learning_rate)
        else:
            self.tx = optax.sgd(config.learning_rate, momentum=config.momentum)

    # state -------------------------------------------------------------------------------

    def init(self, key) -> ESState:
        obs = jnp.zeros((1,) + tuple(self.env.observation_space.shape), jnp.float32)
        init_key, key = jax.random.split(key)
        flat, _ = ravel_pytree(self.net.init(init_key, obs)["params"])
        return ESState(
            flat,
            self.tx.init(flat),
            jnp.zeros(1 + 2 * self.obs_dim, jnp.float32),
            jnp.zeros((), jnp.int32),
            jax.random.key_data(key),
            jnp.zeros((), jnp.int32),
        )

    def act(self, state: ESState, obs, key, env_step, deterministic: bool = True):
        """The policy's actions for a batch of observations (ES policies are deterministic)."""
        return self.policy_action(state.params, state.obs_stats, obs)

    def params(self, state: ESState):
        return {"actor": self.unravel(state.params)}

    # the policy ---------------------------------------------------------------------------

    def normalizer(self, obs_stats):
        count = obs_stats[0]
        mean = obs_stats[1 : 1 + self.obs_dim] / jnp.maximum(count, 1.0)
        var = obs_stats[1 + self.obs_dim :] / jnp.maximum(count, 1.0) - mean**2
        std = jnp.sqrt(jnp.maximum(var, 1e-4))
        shape = self.env.observation_space.shape
        return (
            jnp.where(count > 1, mean, 0.0).reshape(shape),
            jnp.where(count > 1, std, 1.0).reshape(shape),
        )

    def policy_action(self, flat, obs_stats, obs):
        if self.config.obs_norm:
            mean, std = self.normalizer(obs_stats)
            obs = jnp.clip((obs - mean) / std, -5.0, 5.0)
        out = self.net.apply({"params": self.unravel(flat)}, obs)
        if self.discrete:
            return jnp.argmax(out, axis=-1).astype(jnp.int32)
        low = self.env.action_space.low_array
        high = self.env.action_space.high_array
        return low + 0.5 * (jnp.tanh(out) + 1.0) * (high - low)

    def play(self, flat, obs_stats, key, num_episodes: int):
        """``(returns [num_episodes], steps, obs sums [1 + 2 obs_dim])`` of one parameter
        vector."""
        batch = episodes(
            self.env,
            lambda obs, _: self.policy_action(flat, obs_stats, obs),
            key,
            num_episodes,
            self.horizon,
        )
        obs = batch.obs.reshape(batch.obs.shape[:2] + (-1,))

        # sums accumulated step by step, episode by episode (elementwise adds only), so that a
        # member's statistics do not depend on the batch it is evaluated in
        def add(total, x):
            o, v = x
            for e in range(num_episodes):
                w = v[e]
                total = total + jnp.concatenate([w[None], o[e] * w, o[e] ** 2 * w])
            return total, None

        sums, _ = jax.lax.scan(add, jnp.zeros(1 + 2 * self.obs_dim), (obs, batch.valid))
        return batch.returns, batch.lengths.sum(), sums

    # a generation -------------------------------------------------------------------------

    def noise(self, state: ESState, pair):
        gen_key = jax.random.fold_in(
            jax.random.fold_in(state.key, int(ESStream.NOISE)), state.generation
        )
        return jax.random.normal(jax.random.fold_in(gen_key, pair), (self.num_params,))

    def evaluate_members(self, state: ESState, indices):
        """Fitness (mean return), environment steps and observation sums of the members
        ``indices`` of ``state``'s generation: ``[n]``, ``[n]``, ``[n, 1 + 2 obs_dim]``."""
        c = self.config
        env_key = jax.random.fold_in(
            jax.random.fold_in(state.key, int(ESStream.ENV)), state.generation
        )

        def member(i):
            sign = 1.0 - 2.0 * (i % 2)
            flat = state.params + c.sigma * sign * self.noise(state, i // 2)
            returns, steps, sums = self.play(
                flat, state.obs_stats, jax.random.fold_in(env_key, i), c.episodes_per_member
            )
            return returns.mean(), steps, sums

        return jax.vmap(member)(jnp.asarray(indices, jnp.int32))

    def update(self, state: ESState, fitness, steps, obs_sums) -> ESState:
        """The generation's update from every member's fitness ``[population]`` (and steps and
        observation sums, in member order)."""
        c = self.config
        n = c.population
        ranks = jnp.argsort(jnp.argsort(fitness, stable=True), stable=True)
        shaped = ranks.astype(jnp.float32) / (n - 1) - 0.5
        weights = shaped[0::2] - shaped[1::2]  # mirrored pairs

        def accumulate(total, j):
            return total + weights[j] * self.noise(state, j), None

        total, _ = jax.lax.scan(accumulate, jnp.zeros(self.num_params), jnp.arange(n // 2))
        grad = total / (n * c.sigma)
        direction = -grad + c.weight_decay * state.params
        updates, opt_state = self.tx.update(direction, state.opt_state, state.params)
        obs_stats = state.obs_stats
        if c.obs_norm:
            obs_stats = obs_stats + jnp.sum(obs_sums, axis=0)
        return state.replace(
            params=optax.apply_updates(state.params, updates),
            opt_state=opt_state,
            obs_stats=obs_stats,
            generation=state.generation + 1,
            env_steps=state.env_steps + jnp.sum(steps).astype(jnp.int32),
        )

    def iterate(self, state: ESState, key):
        """One generation, the whole population in one program (not used by the backends,
        which compile evaluation and update apart; see ``plastix.es.backends``)."""
        fitness, steps, sums = self.evaluate_members(state, jnp.arange(self.config.population))
        new = self.update(state, fitness, steps, sums)
        return new, generation_metrics(state, new, fitness)

    def evaluate(self, state: ESState, key, num_episodes: int):
        """Returns of the current (unperturbed) parameters."""
        eval_key = jax.random.fold_in(
            jax.random.fold_in(state.key, int(ESStream.EVAL)), state.generation
        )
        returns, _, _ = self.play(state.params, state.obs_stats, eval_key, num_episodes)
        return returns

    def activations(self, state: ESState, key):
        batch = episodes(
            self.env,
            lambda obs, _: self.policy_action(state.params, state.obs_stats, obs),
            key,
            8,
            32,
        )
        obs = batch.obs.reshape((-1,) + batch.obs.shape[2:])
        if self.config.obs_norm:
            mean, std = self.normalizer(state.obs_stats)
            obs = jnp.clip((obs - mean) / std, -5.0, 5.0)
        _, sown = self.net.apply({"params": self.unravel(state.params)}, obs, mutable=[ACTIVATIONS])
        return {"actor": [layer_outputs(sown[ACTIVATIONS])]}


def generation_metrics(old: ESState, new: ESState, fitness) -> dict:
    return {
        "fitness_mean": fitness.mean(),
        "fitness_max": fitness.max(),
        "episodes": jnp.asarray(fitness.size, jnp.float32),
        "episode_return_sum": fitness.sum(),
        "update_norm": jnp.linalg.norm(new.params - old.params),
    }


def params_hash(state: ESState) -> str:
    """SHA-256 of θ, the observation statistics and the generation (of one state or a batch
    of seeds): equal on every replica that is in sync."""
    h = hashlib.sha256(np.asarray(state.params).tobytes())
    h.update(np.asarray(state.obs_stats).tobytes())
    h.update(np.asarray(state.generation).tobytes())
    return h.hexdigest()
