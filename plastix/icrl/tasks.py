"""Task families for in-context RL, behind one interface.

A family knows its environment (the plastix protocol plus ``reset_to(key, task)``), how many
steps an episode has (``horizon``), its tasks per split, the source algorithms that write
learning histories on it and, where there is one, the optimal action in a state (DPT's label).

- ``bandit``: a task is the arm means (N(0, 1) or U[0, 1], ``--means``) of Gaussian or
  Bernoulli arms; the train and test tasks come from two separate random streams; sources
  ``thompson``, ``ucb``, ``random`` and ``dirichlet`` (a random policy per task whose action
  probabilities come from a flat Dirichlet: DPT's in-context datasets; ``--dirichlet-mix``
  mixes them with a one-hot on a random arm by a weight drawn from {0, 0.1, …, 1}, Lee et
  al.'s context distribution).
- ``darkroom``: the goal cell; 64 training and 17 held-out goals (index a multiple of 5);
  sources ``q-learning``, ``random``.
- ``keytodoor``: key and door cells, held out when the key's index is a multiple of 5;
  sources ``q-learning``, ``random``.
- ``xland``: XLand-MiniGrid rulesets (``plastix.icrl.xland``); source ``random``.

A source writes, per task, one history of ``episodes × horizon`` steps: ``obs [T, d]``,
``action [T]``, ``reward [T]``, ``done [T]``. Bandits have one episode of ``horizon`` pulls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from plastix.errors import ConfigError
from plastix.icrl import bandits
from plastix.icrl.bandits import BanditEnv
from plastix.icrl.gridworlds import DarkKeyToDoor, DarkRoom
from plastix.icrl.sources import QLearning, episode_ends, q_learning

FAMILIES = ("bandit", "darkroom", "keytodoor", "xland")
LABELLED = ("bandit", "darkroom")
"""the families whose optimal action is defined (DPT's label)."""


@dataclass(frozen=True)
class FamilyConfig:
    """What identifies a task family (written into datasets and checked by training)."""

    family: str = "bandit"
    """one of bandit, darkroom, keytodoor, xland."""
    arms: int = 5
    """bandit: number of arms."""
    kind: str = "gaussian"
    """bandit: gaussian or bernoulli."""
    sigma: float = 0.3
    """bandit: reward noise of Gaussian arms."""
    means: str = ""
    """bandit: how arm means are drawn, normal or uniform (in [0, 1]); empty: normal for
    gaussian arms, uniform for bernoulli arms."""
    horizon: int = 0
    """steps per episode (0: the family's default: bandit 100, darkroom 20, keytodoor 50,
    xland the environment's own)."""
    xland_env: str = "XLand-MiniGrid-R1-9x9"
    """xland: the xminigrid environment id."""
    xland_benchmark: str = ""
    """xland: a ruleset benchmark file (bz2 pickle) you already have; empty: rulesets are
    generated locally (see plastix.icrl.xland)."""
    xland_rulesets: int = 1000
    """xland, local generation: how many rulesets to generate."""


@dataclass(frozen=True)
class SourceConfig:
    """The algorithm whose learning histories are recorded."""

    source: str = ""
    """bandit: random, ucb, thompson, dirichlet; grids: q-learning, random; xland: random.
    Empty: the family's default (thompson, q-learning, random)."""
    episodes: int = 120
    """grids and xland: episodes per history (bandits: always one episode)."""
    q_learning: QLearning = field(default_factory=QLearning)
    """q-learning's settings."""
    subsample: int = 1
    """keep every n-th episode of each history (a faster learning pace in context)."""
    dirichlet_mix: bool = False
    """bandit dirichlet source: mix each history's probabilities with a one-hot on a random
    arm, by a weight drawn from {0, 0.1, …, 1} (Lee et al. 2023's context distribution)."""


SOURCES = {
    "bandit": ("thompson", "ucb", "random", "dirichlet"),
    "darkroom": ("q-learning", "random"),
    "keytodoor": ("q-learning", "random"),
    "xland": ("random",),
}


class Family:
    """A task family bound to its settings."""

    def __init__(self, config: FamilyConfig):
        if config.family not in FAMILIES:
            raise ConfigError(
                f"unknown task family {config.family!r}; valid choices: {', '.join(FAMILIES)}"
            )
        self.config = config
        self.name = config.family
        if config.family == "bandit":
            self.env = BanditEnv(
                config.arms, config.kind, config.sigma, config.horizon or 100, config.means
            )
        elif config.family == "darkroom":
            self.env = DarkRoom(horizon=config.horizon or 20)
        elif config.family == "keytodoor":
            self.env = DarkKeyToDoor(horizon=config.horizon or 50)
        else:
            from plastix.icrl.xland import XLandEnv

            self.env = XLandEnv.from_config(config)
        self.horizon = self.env.max_episode_steps
        self.num_actions = self.env.action_space.n
        self.obs_dim = int(np.prod(self.env.observation_space.shape))

    @classmethod
    def from_settings(cls, settings: dict) -> Family:
        """The family a dataset's meta names (``settings``: ``Family.settings``)."""
        settings = dict(settings)
        try:
            return cls(FamilyConfig(family=settings.pop("family"), **settings))
        except (TypeError, KeyError) as e:
            raise ConfigError(f"family settings {settings!r} are not valid ({e})") from None

    @property
    def settings(self) -> dict:
        from dataclasses import asdict

        keep = {"bandit": ("arms", "kind", "sigma"), "xland": ("xland_env", "xland_benchmark")}
        out = {k: v for k, v in asdict(self.config).items() if k in keep.get(self.name, ())}
        if self.name == "bandit" and self.env.means != (
            "normal" if self.env.kind == "gaussian" else "uniform"
        ):
            out["means"] = self.env.means  # written only where it differs from the default
        if self.name == "xland" and not self.config.xland_benchmark:
            out["xland_rulesets"] = self.config.xland_rulesets
        return {"family": self.name, "horizon": self.horizon, **out}

    @property
    def has_optimal_action(self) -> bool:
        return self.name in LABELLED

    @property
    def episodic(self) -> bool:
        """Whether histories span several episodes (False for bandits)."""
        return self.name != "bandit"

    def check_source(self, source: str) -> str:
        source = source or SOURCES[self.name][0]
        if source not in SOURCES[self.name]:
            raise ConfigError(
                f"source {source!r} does not run on {self.name}; valid choices: "
                f"{', '.join(SOURCES[self.name])}"
            )
        return source

    def tasks(self, split: str, count: int, seed: int) -> np.ndarray:
        """``count`` tasks of ``split`` (train or test). Bandits draw them from the split's own
        random stream; finite families cycle through their split's list in a seeded order."""
        if split not in ("train", "test"):
            raise ConfigError(f"split must be one of train, test; got {split!r}")
        if self.name == "bandit":
            key = jax.random.fold_in(jax.random.key(seed), 0 if split == "train" else 1)
            return np.asarray(self.env.sample_tasks(key, count))
        pool = np.asarray(self.env.tasks(split))
        order = np.random.default_rng([seed, 0 if split == "train" else 1]).permutation(len(pool))
        return pool[np.resize(order, count)]

    def optimal_action(self, obs, task):
        """The optimal action in ``obs`` for ``task`` (DPT's label), where defined."""
        if self.name == "bandit":
            return jnp.argmax(task).astype(jnp.int32)
        if self.name == "darkroom":
            pos = obs.astype(jnp.int32)
            dx, dy = task[0] - pos[0], task[1] - pos[1]
            # 0 stay, 1 up (y − 1), 2 down (y + 1), 3 left (x − 1), 4 right (x + 1)
            return jnp.where(
                dx > 0, 4, jnp.where(dx < 0, 3, jnp.where(dy > 0, 2, jnp.where(dy < 0, 1, 0)))
            ).astype(jnp.int32)
        raise ConfigError(
            f"DPT needs the optimal action, defined for {', '.join(LABELLED)}, not {self.name}"
        )

    def history_fn(self, source: str, config: SourceConfig):
        """``(task, key) -> (obs, action, reward, done)`` of one learning history."""
        if config.dirichlet_mix and not (self.name == "bandit" and source == "dirichlet"):
            raise ConfigError("--dirichlet-mix applies to the bandit family's dirichlet source")
        env, h = self.env, self.horizon
        if self.name == "bandit":
            if source == "dirichlet":

                def run(task, key):
                    p_key, a_key, r_key, m_key = jax.random.split(key, 4)
                    probs = jax.random.dirichlet(p_key, jnp.ones(env.num_arms))
                    if config.dirichlet_mix:
                        w_key, i_key = jax.random.split(m_key)
                        weight = jax.random.randint(w_key, (), 0, 11) / 10.0
                        arm = jax.random.randint(i_key, (), 0, env.num_arms)
                        one_hot = jax.nn.one_hot(arm, env.num_arms)
                        probs = (1 - weight) * probs + weight * one_hot
                    actions = jax.random.categorical(a_key, jnp.log(probs), shape=(h,))
                    rewards = jax.vmap(env.pull, in_axes=(0, None, 0))(
                        jax.random.split(r_key, h), task, actions
                    )
                    return actions.astype(jnp.int32), rewards

            else:
                fn = bandits.BASELINES[source]

                def run(task, key):
                    actions, rewards, _ = fn(env, task, key)
                    return actions, rewards

            def bandit_history(task, key):
                actions, rewards = run(task, key)
                return jnp.ones((h, 1), jnp.float32), actions, rewards, episode_ends(1, h)

            return bandit_history
        if source == "q-learning":
            return lambda task, key: q_learning(env, config.q_learning, config.episodes, task, key)
        return lambda task, key: random_history(env, task, key, config.episodes)


def random_history(env, task, key, episodes: int):
    """A uniform random policy's history on ``task``: ``episodes × horizon`` steps."""
    n = env.action_space.n
    return episodes_history(
        env, task, key, episodes, lambda key, obs: jax.random.randint(key, (), 0, n)
    )


def episodes_history(env, task, key, episodes: int, policy):
    """``episodes`` episodes of exactly ``horizon`` steps of a memoryless ``policy(key, obs)``;
    each starts with ``reset_to(task)``; after a termination the rest of the episode's steps
    are recorded with reward 0 (so every history has the same layout)."""
    h = env.max_episode_steps

    def episode(key, _):
        key, reset_key = jax.random.split(key)
        obs, state = env.reset_to(reset_key, task)

        def step(carry, key):
            obs, state, finished = carry
            act_key, step_key = jax.random.split(key)
            action = policy(act_key, obs)
            ts, state = env.step(step_key, state, action)
            reward = jnp.where(finished, 0.0, ts.reward)
            out = (obs.astype(jnp.float32), action.astype(jnp.int32), reward)
            return (ts.obs, state, finished | ts.terminated), out

        init = (obs, state, jnp.bool_(False))
        key, run_key = jax.random.split(key)
        _, out = jax.lax.scan(step, init, jax.random.split(run_key, h))
        return key, out

    _, (obs, actions, rewards) = jax.lax.scan(episode, key, None, episodes)
    return (
        obs.reshape(episodes * h, -1),
        actions.reshape(-1),
        rewards.reshape(-1),
        episode_ends(episodes, h),
    )
