"""XLand-MiniGrid (the pip package ``xminigrid``) as an in-context RL task family.

A task is a *ruleset* (a goal, rules, the objects placed in the room); a history is many
episodes of the same ruleset (object and agent positions are drawn afresh at every reset).
``XLandEnv`` wraps an ``XLand-MiniGrid-*`` environment in the plastix protocol: the observation
is the agent's 5×5 egocentric view (tile and colour ids, flattened and scaled to [0, 1]), six
actions, reward ``1 − 0.9 · t / max_steps`` when the goal is met, which ends the episode.
Because the view is partial, DPT's Markov-state assumption does not hold; AD is the method
that fits.

Rulesets. xminigrid's ready-made benchmarks (``trivial-21k``, ``small-1m``, …) are fetched from
a hub by ``xminigrid.load_benchmark``, which cannot work offline. plastix therefore

- reads a benchmark file you already have (``--xland-benchmark PATH``: the bz2 pickle that
  ``xminigrid.load_benchmark`` caches in ``~/.xland_minigrid``), or
- generates rulesets locally (``generate_rulesets``): *trivial* rulesets in the sense of the
  ``trivial`` benchmark — no rules, the goal "stand next to object X" (``AgentNearGoal``; an
  object is a tile kind and a colour), X placed with ``distractors`` other distinct objects.

Split: rulesets whose index is a multiple of 5 are held out (``tasks("test")``).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from plastix.envs.base import TimeStep
from plastix.envs.spaces import Box, Discrete
from plastix.errors import ConfigError
from plastix.icrl.gridworlds import held_out

# tile kinds usable as goal objects or distractors (xminigrid Tiles ids)
OBJECTS = (3, 4, 5, 7, 11, 12)  # ball, square, pyramid, key, hex, star
COLORS = tuple(range(1, 12))  # red .. pink
NUM_TILES, NUM_COLORS = 13, 12


def _xminigrid():
    try:
        import xminigrid
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the xland family needs the xminigrid package: pip install 'plastix[xland]'"
        ) from e
    return xminigrid


def generate_rulesets(count: int, seed: int = 0, distractors: int = 2) -> dict[str, np.ndarray]:
    """``count`` trivial rulesets as xminigrid benchmark arrays (``goals``, ``rules``,
    ``init_tiles``, ``num_rules``): goal ``AgentNearGoal(X)``, one empty rule, the objects
    X and ``distractors`` other distinct objects."""
    if count < 1:
        raise ConfigError(f"the number of rulesets must be >= 1, got {count}")
    rng = np.random.default_rng(seed)
    pairs = np.array([(t, c) for t in OBJECTS for c in COLORS], np.uint8)
    goals = np.zeros((count, 5), np.uint8)
    init = np.zeros((count, 1 + distractors, 2), np.uint8)
    for i in range(count):
        chosen = pairs[rng.choice(len(pairs), 1 + distractors, replace=False)]
        goals[i, 0] = 3  # AgentNearGoal's id in xminigrid's goal encoding
        goals[i, 1:3] = chosen[0]
        init[i] = chosen
    return {
        "goals": goals,
        "rules": np.zeros((count, 1, 7), np.uint8),
        "init_tiles": init,
        "num_rules": np.zeros(count, np.uint8),
    }


@dataclass(frozen=True, eq=False)
class XLandEnv:
    env_id: str
    rulesets: dict
    horizon: int

    @classmethod
    def from_config(cls, config) -> XLandEnv:
        xminigrid = _xminigrid()
        if not config.xland_env.startswith("XLand-MiniGrid"):
            xland = [e for e in xminigrid.registered_environments() if e.startswith("XLand")]
            raise ConfigError(
                f"xland_env must be an XLand-MiniGrid id (rulesets are its tasks); got "
                f"{config.xland_env!r}; valid choices: {', '.join(xland)}"
            )
        if config.xland_env not in xminigrid.registered_environments():
            raise ConfigError(f"unknown xminigrid environment {config.xland_env!r}")
        if config.xland_benchmark:
            from pathlib import Path

            from xminigrid.benchmarks import load_bz2_pickle

            if not Path(config.xland_benchmark).is_file():
                raise ConfigError(
                    f"xland benchmark file {config.xland_benchmark} does not exist (a bz2 "
                    "pickle as xminigrid caches in ~/.xland_minigrid); leave "
                    "--xland-benchmark empty to generate rulesets locally"
                )

            rulesets = {
                k: np.asarray(v) for k, v in load_bz2_pickle(config.xland_benchmark).items()
            }
        else:
            rulesets = generate_rulesets(config.xland_rulesets)
        _, params = xminigrid.make(config.xland_env)
        return cls(config.xland_env, rulesets, config.horizon or int(params.max_steps))

    def _make(self):
        xminigrid = _xminigrid()
        env, params = xminigrid.make(self.env_id)
        return env, params.replace(max_steps=self.horizon)

    @property
    def name(self) -> str:
        return self.env_id

    @property
    def observation_space(self):
        return Box.from_bounds(0.0, 1.0, (50,))

    @property
    def action_space(self):
        return Discrete(6)

    @property
    def max_episode_steps(self) -> int:
        return self.horizon

    def tasks(self, split: str = "train") -> np.ndarray:
        n = len(self.rulesets["goals"])
        idx = np.arange(n)
        keep = held_out(idx) == (split == "test")
        if not keep.any():
            raise ConfigError(f"no {split} rulesets among {n}; generate at least 5")
        return idx[keep].astype(np.int32)

    def _params(self, task):
        from xminigrid.types import RuleSet

        env, params = self._make()
        r = {k: jnp.asarray(v) for k, v in self.rulesets.items()}
        ruleset = RuleSet(
            goal=r["goals"][task], rules=r["rules"][task], init_tiles=r["init_tiles"][task]
        )
        return env, params.replace(ruleset=ruleset)

    @staticmethod
    def observe(ts):
        view = ts.observation.astype(jnp.float32)
        return (view / jnp.array([NUM_TILES - 1, NUM_COLORS - 1], jnp.float32)).reshape(-1)

    def reset_to(self, key, task):
        env, params = self._params(task)
        ts = env.reset(params, key)
        return self.observe(ts), (ts, jnp.asarray(task, jnp.int32))

    def step(self, key, state, action):
        ts, task = state
        env, params = self._params(task)
        ts = env.step(params, ts, action)
        terminated = ts.discount == 0
        truncated = ts.last() & ~terminated
        reward = ts.reward
        final_obs = self.observe(ts)
        ts = jax.lax.cond(ts.last(), lambda: env.reset(params, key), lambda: ts)
        return TimeStep(self.observe(ts), reward, terminated, truncated, final_obs), (ts, task)
