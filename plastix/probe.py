"""Supervised plasticity probes: loss of plasticity without an environment, for fast cure research.

Two problems from the continual-learning literature, in JAX, seeds vmapped, each a sequence of
tasks that switch every ``task_steps`` updates inside the compiled loop:

- ``bitflip``: Dohare et al. 2024 (Nature), "slowly-changing regression". Inputs are ``m = 20``
  bits; the first ``f = 15`` are held fixed within a task and at every switch one of them,
  chosen at random, flips (the paper's description; the authors' generator redraws all ``f`` by
  default, ``flip_one=False`` here); the other ``m − f`` are random at every example. The target
  is a fixed random network of 100 linear threshold units (LTUs) whose weights and biases are
  ±1; unit ``i`` fires when its input exceeds ``τ_i = β·(m + 1) − S_i`` (``S_i``: the number of
  its −1 weights and bias, β = 0.7), as in ``lop/nets/fix_ltu_net.py``. The learner sees one
  example per update (online) and its squared error is the metric. The paper's learner has one
  hidden layer of 5 units.
- ``digits``: permuted-input classification on scikit-learn's bundled 8×8 digits (1,797
  images, 10 classes; no download): every task applies a new fixed permutation to the 64
  pixels; updates are minibatches drawn from all images; the metric is the online accuracy on
  the minibatch before its update. The analogue of Dohare et al.'s permuted MNIST at a scale this
  CPU runs in seconds.

Cures are the ones built into every update (``plasticity.interventions.Cure``: L2, L2-init,
Parseval, weight clipping, CReLU, Fourier features, NaP, TRAC), applied to the learner exactly as
to an agent. Per task the probe reports the mean online error (or accuracy) and, at the task's
end, the hidden layers' fraction of active units, dormant ratio and effective rank on a batch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from plastix import optim
from plastix.errors import ConfigError, check_types, require
from plastix.keys import derive_keys, seed_keys
from plastix.nets import ACTIVATIONS, MLPTorso, default_init, layer_outputs
from plastix.plasticity import gnt, metrics
from plastix.plasticity.interventions import REGISTRY, Cure
from plastix.plasticity.scheduler import build_options

PROBLEMS = ("bitflip", "digits")


@dataclass(frozen=True)
class ProbeConfig:
    """A supervised plasticity probe: a sequence of tasks, seeds vmapped."""

    problem: Literal["bitflip", "digits"] = "bitflip"
    """bitflip (slowly-changing regression) or digits (permuted-input classification)."""
    tasks: int = 20
    """tasks in the sequence."""
    task_steps: int = 10_000
    """updates per task (the paper's bitflip: a flip every 10,000 examples)."""
    seeds: int = 5
    """independent seeds, one vmapped program."""
    seed: int = 0
    """first seed."""
    hidden_sizes: tuple[int, ...] = (5,)
    """hidden layers of the learner (the paper's bitflip learner: 5 units)."""
    learning_rate: float = 0.003
    """Adam step size (the paper's bitflip grid: 0.01, 0.003, 0.001)."""
    batch_size: int = 1
    """examples per update (bitflip: 1, online as in the paper; digits: e.g. 16)."""
    inputs: int = 20
    """bitflip: input bits m."""
    flipping_bits: int = 15
    """bitflip: bits f held within a task."""
    target_units: int = 100
    """bitflip: LTUs of the target network."""
    beta: float = 0.7
    """bitflip: the LTUs' threshold parameter β."""

    def __post_init__(self):
        check_types(self)
        require(self.problem in PROBLEMS, f"problem must be one of {', '.join(PROBLEMS)}")
        for name in ("tasks", "task_steps", "seeds", "batch_size", "inputs", "target_units"):
            value = getattr(self, name)
            require(value >= 1, f"{name} must be >= 1, got {value}")
        require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        require(
            0 <= self.flipping_bits <= self.inputs,
            f"flipping_bits must be in 0..inputs ({self.inputs}), got {self.flipping_bits}",
        )
        require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        require(
            len(self.hidden_sizes) >= 1 and all(h >= 1 for h in self.hidden_sizes),
            f"hidden_sizes must be one or more positive sizes, got {self.hidden_sizes}",
        )


class Learner(nn.Module):
    hidden_sizes: tuple[int, ...]
    outputs: int
    activation: str = "relu"
    layer_norm: bool = False
    diag: bool = False

    @nn.compact
    def __call__(self, x):
        x = MLPTorso(
            self.hidden_sizes,
            self.layer_norm,
            activation=self.activation,
            diag=self.diag,
            name="torso",
        )(x)
        return nn.Dense(self.outputs, kernel_init=default_init(1.0), name="head")(x)


IN_LOOP = ("cbp",)
"""interventions the probe runs inside its compiled loop itself (``plasticity.gnt``)."""


def check_cures(plasticity) -> None:
    """The probe takes the cures built into every update and continual backprop; others are
    refused by name."""
    others = [
        n for n in plasticity.wanted() if not issubclass(REGISTRY[n], Cure) and n not in IN_LOOP
    ]
    if others:
        cures = [n for n, cls in REGISTRY.items() if issubclass(cls, Cure)] + list(IN_LOOP)
        raise ConfigError(
            f"the probe has no replay buffer or chunks for {', '.join(others)}; it takes the "
            f"cures built into every update and continual backprop: {', '.join(cures)}"
        )


# the problems ---------------------------------------------------------------------------------


def target_network(key, config: ProbeConfig):
    """The bitflip target: ±1 weights and biases, LTU thresholds ``β(m + 1) − S``."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    m, n = config.inputs, config.target_units
    sign = lambda k, s: jax.random.randint(k, s, 0, 2).astype(jnp.float32) * 2 - 1  # noqa: E731
    w, b = sign(k1, (m, n)), sign(k2, (n,))
    v, c = sign(k3, (n,)), sign(k4, ())
    negatives = (m - jnp.sum(w, axis=0) + b) / 2  # the authors' S (their sign of the bias)
    tau = config.beta * (m + 1) - negatives
    return {"w": w, "b": b, "v": v, "c": c, "tau": tau}


def target_output(target, x):
    features = (x @ target["w"] + target["b"] > target["tau"]).astype(jnp.float32)
    return features @ target["v"] + target["c"]


def digits_data() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ConfigError(
            "the digits probe reads scikit-learn's bundled digits: pip install 'plastix[probe]'"
        ) from None

    data = load_digits()
    return (data.data / 16.0).astype(np.float32), data.target.astype(np.int32)


class Problem:
    """What a task sequence is: ``init(key)`` the problem state of one seed, ``switch(state,
    key)`` the next task, ``sample(state, key, n)`` a minibatch of the current task, ``loss``
    and ``score``."""

    def __init__(self, config: ProbeConfig):
        self.config = config
        if config.problem == "digits":
            x, y = digits_data()
            self.images, self.labels = jnp.asarray(x), jnp.asarray(y)
            self.input_size, self.outputs = 64, 10
        else:
            self.input_size, self.outputs = config.inputs, 1

    def init(self, key):
        c = self.config
        if c.problem == "digits":
            return {"perm": jax.random.permutation(key, self.input_size)}
        target_key, bits_key = jax.random.split(key)
        bits = jax.random.randint(bits_key, (c.flipping_bits,), 0, 2).astype(jnp.float32)
        return {"target": target_network(target_key, c), "bits": bits}

    def switch(self, state, key):
        if self.config.problem == "digits":
            return {"perm": jax.random.permutation(key, self.input_size)}
        f = self.config.flipping_bits
        if f == 0:
            return state
        flip = jax.nn.one_hot(jax.random.randint(key, (), 0, f), f)
        return dict(state, bits=jnp.abs(state["bits"] - flip))

    def sample(self, state, key, n: int):
        c = self.config
        if c.problem == "digits":
            index = jax.random.randint(key, (n,), 0, self.images.shape[0])
            return self.images[index][:, state["perm"]], self.labels[index]
        random = jax.random.randint(key, (n, c.inputs - c.flipping_bits), 0, 2)
        bits = jnp.broadcast_to(state["bits"], (n, c.flipping_bits))
        x = jnp.concatenate([bits, random.astype(jnp.float32)], axis=1)
        return x, target_output(state["target"], x)

    def loss(self, out, y):
        if self.config.problem == "digits":
            return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()
        return jnp.mean(jnp.square(out[:, 0] - y))

    def score(self, out, y):
        """The per-update metric: squared error (bitflip) or accuracy (digits)."""
        if self.config.problem == "digits":
            return jnp.mean(jnp.argmax(out, -1) == y)
        return jnp.mean(jnp.square(out[:, 0] - y))


# the run -------------------------------------------------------------------------------------

DIAGNOSTIC_BATCH = 256


@dataclasses.dataclass
class ProbeResult:
    config: ProbeConfig
    metric: str
    """``error`` (bitflip: mean squared error) or ``accuracy`` (digits)."""
    per_task: np.ndarray
    """[seeds, tasks]: the mean online metric over each task."""
    curve: np.ndarray
    """[seeds, tasks · task_steps]: the metric of every update."""
    diagnostics: dict[str, np.ndarray]
    """name -> [seeds, tasks], at each task's end."""


def run_probe(config: ProbeConfig, plasticity=None, progress=None) -> ProbeResult:
    """Trains the learner through the task sequence; ``progress(task)`` after each task."""
    from plastix.plasticity.config import PlasticityConfig

    plasticity = PlasticityConfig() if plasticity is None else plasticity
    check_cures(plasticity)
    options = build_options(plasticity)
    problem = Problem(config)
    body = options["body"]
    net = Learner(
        tuple(config.hidden_sizes),
        problem.outputs,
        body.get("activation", "relu"),
        body.get("layer_norm", False),
        body.get("diag", False),
    )
    tx = optim.adam(config.learning_rate)
    for wrap in options["wraps"]:
        tx = wrap(tx)

    cbp = plasticity.cbp if "cbp" in plasticity.wanted() else None
    example = jnp.zeros((1, problem.input_size))

    def init(key):
        net_key, problem_key = jax.random.split(key)
        params = net.init(net_key, example)["params"]
        renewal = gnt.init(params) if cbp else None
        return params, tx.init(params), problem.init(problem_key), renewal, jnp.int32(0)

    def update(carry, key):
        params, opt_state, task, renewal, count = carry

        def loss(p):
            out, sown = net.apply({"params": p}, x, mutable=[ACTIVATIONS])
            return problem.loss(out, y), (out, sown)

        x, y = problem.sample(task, key, config.batch_size)
        (_, (out, sown)), grads = jax.value_and_grad(loss, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        count = count + 1
        if cbp:  # continual backprop's generate-and-test, every cbp.every updates
            fresh = net.init(jax.random.fold_in(key, 1), example)["params"]
            renewal, params, opt_state = gnt.step(
                renewal,
                params,
                opt_state,
                layer_outputs(sown[ACTIVATIONS]),
                fresh,
                cbp,
                count % cbp.every == 0,
            )
        return (params, opt_state, task, renewal, count), problem.score(out, y)

    def one_task(carry, key, index):
        """Switches to task ``index`` (the first keeps its initial task), trains on it."""
        switch_key, steps_key, probe_key = jax.random.split(jax.random.fold_in(key, index), 3)
        params, opt_state, task, renewal, count = carry
        task = jax.lax.cond(index > 0, lambda: problem.switch(task, switch_key), lambda: task)
        keys = jax.random.split(steps_key, config.task_steps)
        carry, scores = jax.lax.scan(update, (params, opt_state, task, renewal, count), keys)
        x, _ = problem.sample(carry[2], probe_key, DIAGNOSTIC_BATCH)
        _, sown = net.apply({"params": carry[0]}, x, mutable=[ACTIVATIONS])
        layers = layer_outputs(sown[ACTIVATIONS])
        last = layers[f"torso/dense_{len(config.hidden_sizes) - 1}"]
        diagnostics = {
            "fraction_active_units": metrics.fraction_active_units(layers),
            "dormant_ratio": metrics.dormant_ratio(layers),
            "effective_rank": metrics.effective_rank(last),
        }
        if cbp:
            diagnostics["cbp_replaced"] = carry[3].replaced.astype(jnp.float32)
        return carry, scores, diagnostics

    keys = seed_keys(config.seed, config.seeds)
    carry = jax.jit(jax.vmap(init))(derive_keys(keys, 1))
    task_keys = derive_keys(keys, 2)
    step = jax.jit(jax.vmap(one_task, in_axes=(0, 0, None)))
    scores, diagnostics = [], []
    for index in range(config.tasks):
        carry, score, diag = step(carry, task_keys, jnp.int32(index))
        scores.append(np.asarray(score))  # [seeds, task_steps]
        diagnostics.append({k: np.asarray(v) for k, v in diag.items()})
        if progress is not None:
            progress(index)
    return ProbeResult(
        config,
        "accuracy" if config.problem == "digits" else "error",
        np.stack([s.mean(axis=1) for s in scores], axis=1),
        np.concatenate(scores, axis=1),
        {k: np.stack([d[k] for d in diagnostics], axis=1) for k in diagnostics[0]},
    )
