"""Load a stored run's final policy and act with it."""

from __future__ import annotations

from pathlib import Path

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from plastix import runs
from plastix.envs import make_env


class Policy:
    """The final policy of each seed of a run: ``predict(obs, seed=0)``."""

    def __init__(self, agent, agent_states):
        self.agent = agent
        self.agent_states = agent_states
        self.num_seeds = int(jax.tree.leaves(agent_states.params)[0].shape[0])

    def predict(self, obs, seed: int = 0, deterministic: bool = True, key=None) -> np.ndarray:
        from plastix.train import _predict

        if not 0 <= seed < self.num_seeds:
            raise IndexError(f"seed index {seed} out of range: this run has {self.num_seeds} seeds")
        state = jax.tree.map(lambda x: x[seed], self.agent_states)
        return _predict(self.agent, state, obs, deterministic, key)


def load_policy(run_dir: str | Path) -> Policy:
    from plastix.train import configs_from_record

    record = runs.load_config(run_dir)
    agent_name, agent_config, run_config, _, plasticity = configs_from_record(record)
    from plastix.agents import get_agent

    env = make_env(run_config.env)
    agent = get_agent(agent_name)(
        agent_config,
        env.observation_space,
        env.action_space,
        run_config.steps,
        injection=plasticity.injected_networks(),
    )
    keys = jnp.stack([jax.random.key(s) for s in range(run_config.seeds)])
    # Only the parameters are stored; the rest of the state (optimizer, targets) is not needed
    # to act and stays zeros.
    template = jax.tree.map(
        lambda s: np.zeros(s.shape, s.dtype), jax.eval_shape(jax.vmap(agent.init), keys)
    )
    raw = (Path(run_dir) / runs.PARAMS_FILE).read_bytes()
    state = template.replace(params=flax.serialization.from_bytes(template.params, raw))
    return Policy(agent, state)
