"""The intervention protocol: what a cure is, when it acts, and what it may ask of a program.

An intervention is a class with a frozen ``Config`` (its CLI flags: ``--<name>.<field>``) and
three duties, called by the scheduler between compiled chunks of the training loop:

- ``intervals()``: the environment steps it needs chunk boundaries at (so it acts on the exact
  step);
- ``due(moment) -> [seeds] bool``: whether it acts now, per seed;
- ``act(state, key) -> AgentState``: the pure, per-seed edit of the networks (vmapped over the
  seeds it is due for; the others keep theirs). Its key is its own stream: the n-th application
  uses ``fold_in(fold_in(seed key, salt), n)``.

Switches that set a value of the loop rather than edit networks (augmentation on/off, the
replay ratio) override ``apply``. ``scaled`` says how an experiment's test budget shrinks it.

An intervention sees the program through the ``Target`` protocol below, structurally: the
training programs (``plastix.training``) implement it; this layer never imports them. What a
target cannot do is named by its ``capabilities``; an intervention that needs another is refused
before anything is compiled, naming the algorithms that can.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from plastix import optim
from plastix.errors import ConfigError, require
from plastix.keys import derive_keys, salt_for

# What a program may offer (``Target.capabilities``).
NETWORKS = "networks"  # named networks with an optimizer state, and fresh initial values
REPLAY = "replay"  # a replay buffer: extra updates on it (priming)
REPLAY_RATIO = "replay_ratio"  # a replay ratio in the loop state
AUGMENT = "augment"  # update batches that can be randomly shifted


class Target(Protocol):
    """What a training program offers the interventions (per seed unless said)."""

    algorithm: str
    capabilities: frozenset[str]
    networks: tuple[str, ...]
    """the networks with layers."""
    injection: tuple[str, ...]
    """the networks built with plasticity-injection branches."""
    model: Any
    """agent-like: ``init(key).params`` (fresh values of every network) and
    ``activations(agent_state, batch)``."""

    def param_shapes(self) -> dict: ...

    def agent_state(self, state) -> Any:
        """The named-network view (``AgentState``: params, target_params, opt_state)."""
        ...

    def with_agent_state(self, state, agent_state) -> Any: ...

    def inputs(self, state, key, size: int) -> Any:
        """A batch of ``size`` inputs the networks see (``batch.obs``, ...)."""
        ...


@dataclass
class Context:
    """What the scheduler tells every intervention about the run."""

    seeds: int
    replay_ratio: float
    """the run's replay ratio (off-policy) or 0."""
    max_updates_per_step: float
    """an upper bound of gradient updates per environment step (intervals in updates)."""
    measure: Callable[[Any, jax.Array], dict] | None = None
    """the program's diagnostics of a batched state with per-seed keys (numpy per seed)."""
    options: dict = field(default_factory=dict)
    """objects given in Python that a config cannot hold (a replay-ratio schedule)."""
    algorithms_with: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """capability -> the algorithms that have it (for error messages)."""


@dataclass(frozen=True)
class Moment:
    """A chunk boundary: the run's progress now and at the previous boundary.

    ``now``/``before`` are in the program's clock units (iterations for programs whose
    iterations have a fixed length, environment steps otherwise) and ``units`` converts
    environment steps to them; ``step`` is the run's progress in environment steps (the
    fewest any seed has taken); ``updates`` the gradient updates of every seed.
    """

    step: int
    now: int
    before: int
    updates: np.ndarray
    units: Callable[[int], int]

    @property
    def seeds(self) -> int:
        return len(self.updates)

    def every(self, steps: int) -> bool:
        """Whether a multiple of ``steps`` environment steps was passed since the previous
        boundary (for fixed-length iterations: this boundary is one)."""
        unit = self.units(steps)
        return self.now // unit > self.before // unit

    def reached(self, step: int) -> bool:
        """Whether environment step ``step`` was passed since the previous boundary."""
        return self.before < self.units(step) <= self.now

    def all(self, value: bool) -> np.ndarray:
        return np.full(self.seeds, bool(value))


def where(mask, new, old):
    return jax.tree.map(lambda m, a, b: jnp.where(m, a, b), mask, new, old)


def consistent(state, params: dict, mask: dict):
    """Targets follow the online networks and Adam restarts, on the touched parameters.

    ``state.opt_state`` is either one state per network (``{network: state}``) or one state
    over every network's parameters together (the on-policy methods clip their gradients by one
    global norm)."""
    target_params = {
        net: where(mask[net], params[net], target) for net, target in state.target_params.items()
    }
    if isinstance(state.opt_state, dict):
        opt_state = {net: optim.reset_where(s, mask[net]) for net, s in state.opt_state.items()}
    else:
        opt_state = optim.reset_where(state.opt_state, mask)
    return state.replace(params=params, target_params=target_params, opt_state=opt_state)


def update_steps(every: int, unit: str, max_updates_per_step: float) -> int:
    """The environment-step interval of ``every`` ``unit`` (steps, or gradient updates at the
    highest rate the run can reach: rounded down, so a boundary is there when it is due)."""
    if unit == "steps":
        return every
    return max(1, int(np.floor(every / max(max_updates_per_step, 1e-12))))


class Intervention:
    """Base class of every intervention; a subclass is one cure."""

    name: ClassVar[str]
    Config: ClassVar[type]
    salt: ClassVar[int | None] = None
    """its key stream (``None``: a stable hash of the name)."""
    requires: ClassVar[tuple[str, ...]] = (NETWORKS,)
    key_base: ClassVar[int] = 1
    """the n-th application (n from 1) uses index ``n - 1 + key_base`` of its stream."""
    ambient: ClassVar[bool] = False
    """on in every run whose program supports it, even when not asked for."""
    step_fields: ClassVar[tuple[str, ...]] = ()
    """config fields counted in environment steps (``scaled`` shrinks them)."""

    # before the program exists ----------------------------------------------------------------

    @classmethod
    def wanted(cls, config) -> bool:
        """Whether ``config`` turns it on (by default: any step field is set)."""
        return any(getattr(config, f) for f in cls.step_fields)

    @classmethod
    def build_options(cls, config) -> dict:
        """Options the program must be built with (``injection``, ``augment_pad``, ...)."""
        return {}

    @classmethod
    def max_updates_per_step(cls, config, replay_ratio: float, options: dict) -> float | None:
        """The highest replay ratio it can set (None: it does not set one); ``options``: the
        objects given in Python (``Context.options``)."""
        return None

    @classmethod
    def scaled(cls, config, scale: Callable[[int], int]):
        """``config`` for a run whose budget is scaled: ``scale(steps)`` maps its step fields."""
        changes = {
            f: scale(getattr(config, f))
            for f in cls.step_fields
            if isinstance(getattr(config, f), int) and getattr(config, f) > 0
        }
        return dataclasses.replace(config, **changes) if changes else config

    # with the program ----------------------------------------------------------------------

    def __init__(self, config, target: Target, context: Context):
        missing = [c for c in self.requires if c not in target.capabilities]
        if missing:
            able = sorted(
                set.intersection(*(set(context.algorithms_with.get(c, ())) for c in missing))
            )
            raise ConfigError(
                f"{self.name} needs {' and '.join(DESCRIPTIONS.get(c, c) for c in missing)}, "
                f"which {target.algorithm} does not have"
                + (f"; it applies to {', '.join(able)}" if able else "")
            )
        self.config = config
        self.target = target
        self.context = context
        self.applications = 0
        self._compiled = None
        self.check()

    def check(self) -> None:
        """Validates the config against the target (selectors, networks); raises ConfigError."""

    def intervals(self) -> list[int]:
        return []

    def initialize(self, state):
        """The batched state at the start of the run, before the first chunk."""
        return state

    def due(self, moment: Moment) -> np.ndarray:
        return moment.all(False)

    def act(self, state, key):
        """The new agent state (named networks) of one seed."""
        raise NotImplementedError

    def observe(self, chunk) -> None:
        """Sees every chunk's log (``training.program.ChunkLog``) before the boundary's
        ``apply``; what it gathers must be in ``state_dict``."""

    def summary(self) -> dict:
        """Entries for the run's ``summary.json`` (e.g. where each seed switched)."""
        return {}

    def note(self, moment: Moment) -> str | None:
        """A note for the progress display while it acts (when that takes long)."""
        return None

    def keys(self, seed_keys: jax.Array) -> jax.Array:
        return derive_keys(seed_keys, self.stream, self.applications - 1 + self.key_base)

    @property
    def stream(self) -> int:
        return self.salt if self.salt is not None else salt_for(self.name)

    def apply(self, state, moment: Moment, seed_keys: jax.Array):
        """Acts where due; returns the new batched state and ``{metric: per-seed values}``."""
        due = np.asarray(self.due(moment), bool)
        if not due.any():
            return state, {}
        self.applications += 1
        if self._compiled is None:
            target = self.target

            def per_seed(state, key, apply):
                new = self.act(state, key)
                old = target.agent_state(state)
                chosen = jax.tree.map(lambda a, b: jnp.where(apply, a, b), new, old)
                return target.with_agent_state(state, chosen)

            self._compiled = jax.jit(jax.vmap(per_seed))
        state = self._compiled(state, self.keys(seed_keys), jnp.asarray(due))
        return state, {f"intervention/{self.name}": due.astype(float)}

    def state_dict(self) -> dict:
        """What a checkpoint must hold to continue exactly (counts, per-seed progress)."""
        return {"applications": self.applications}

    def load_state_dict(self, data: dict) -> None:
        self.applications = int(data["applications"])


DESCRIPTIONS = {
    NETWORKS: "named networks with an optimizer state",
    REPLAY: "a replay buffer",
    REPLAY_RATIO: "a replay ratio",
    AUGMENT: "image observations in replay batches",
}


class Periodic(Intervention):
    """An intervention every ``every`` environment steps or gradient updates (``unit``)."""

    step_fields = ("every",)

    def intervals(self) -> list[int]:
        c = self.config
        return [update_steps(c.every, c.unit, self.context.max_updates_per_step)]

    def due(self, moment: Moment) -> np.ndarray:
        c = self.config
        if c.unit == "steps":
            return moment.all(moment.every(c.every))
        # counted per seed in its own updates: due once per interval passed
        done = getattr(self, "_intervals_done", np.zeros(moment.seeds, np.int64))
        intervals = np.asarray(moment.updates, np.int64) // c.every
        self._intervals_done = np.maximum(done, intervals)
        return intervals > done

    def state_dict(self) -> dict:
        done = getattr(self, "_intervals_done", None)
        return dict(super().state_dict(), intervals_done=None if done is None else done.tolist())

    def load_state_dict(self, data: dict) -> None:
        super().load_state_dict(data)
        if data.get("intervals_done") is not None:
            self._intervals_done = np.asarray(data["intervals_done"], np.int64)


class OneOff(Intervention):
    """An intervention once, after environment step ``at``."""

    step_fields = ("at",)
    key_base = 0

    def intervals(self) -> list[int]:
        return [self.config.at]

    def due(self, moment: Moment) -> np.ndarray:
        return moment.all(moment.reached(self.config.at))


def check_every(name: str, every: int | None) -> None:
    require(
        every is None or every >= 1,
        f"{name}.every must be a positive interval, got {every} (leave it unset for none)",
    )


class Cure(Intervention):
    """A cure that acts through how the program is built rather than between chunks: a change
    of the networks' body (``body``: the activation, normalisation) and/or a wrap of every
    network's optimizer (``wrap``: a regulariser's gradient, a projection after each update,
    an optimizer around the optimizer), so it is inside every compiled update. It is on when
    ``wanted``; the CLI flags are its config's fields, as for every intervention."""

    excludes: ClassVar[tuple[str, ...]] = ()
    """cures it cannot be combined with (refused before anything is built)."""

    @classmethod
    def body(cls, config) -> dict:
        """``NetSpec`` fields it sets on every network (e.g. ``{"activation": "crelu"}``)."""
        return {}

    @classmethod
    def wrap(cls, config) -> Callable | None:
        """``wrap(tx) -> tx`` for every network's optimizer (None: it leaves it alone)."""
        return None

    @classmethod
    def build_options(cls, config) -> dict:
        options: dict = {}
        if body := cls.body(config):
            options["body"] = body
        if (wrap := cls.wrap(config)) is not None:
            options["wraps"] = (wrap,)
        return options
