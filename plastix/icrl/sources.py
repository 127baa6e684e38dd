"""Source algorithms whose learning histories in-context models distil.

``q_learning``: tabular Q-learning for the grid tasks (the state is the agent's cell, plus
whether it holds the key on Key-to-Door), ε-greedy with ε annealed linearly from ``eps_start``
to ``eps_end`` over ``anneal_episodes``, ties broken at random. It runs one task per call and
is vmapped over tasks and seeds, so thousands of learning histories are one compiled program.
A history records, per step, the observation the agent acted on, its action and the reward.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from plastix.errors import require


@dataclass(frozen=True)
class QLearning:
    lr: float = 1.0
    """step size."""
    gamma: float = 0.9
    """discount."""
    eps_start: float = 1.0
    eps_end: float = 0.05
    anneal_episodes: int = 60
    """episodes over which ε falls from eps_start to eps_end."""

    def __post_init__(self):
        require(0 < self.lr <= 1, f"lr must be in (0, 1], got {self.lr}")
        require(0 <= self.gamma < 1, f"gamma must be in [0, 1), got {self.gamma}")
        require(
            0 <= self.eps_end <= self.eps_start <= 1,
            f"need 0 <= eps_end <= eps_start <= 1, got {self.eps_end}, {self.eps_start}",
        )
        require(self.anneal_episodes >= 1, "anneal_episodes must be >= 1")


def grid_state_index(env, obs, state):
    """The tabular state of a grid task: cell index, doubled for holding the key."""
    cell = obs[1].astype(jnp.int32) * env.size + obs[0].astype(jnp.int32)
    return cell + env.size**2 * state.has_key.astype(jnp.int32)


def episode_ends(episodes: int, horizon: int):
    """``done [episodes · horizon]``: True on the last step of every episode."""
    return jnp.zeros((episodes, horizon), bool).at[:, -1].set(True).reshape(-1)


def q_learning(env, config: QLearning, episodes: int, task, key):
    """One task's learning history: ``obs [E·H, d]``, ``action [E·H]``, ``reward [E·H]``,
    ``done [E·H]`` (the last step of each episode) for ``E = episodes`` episodes of
    ``H = env.horizon`` steps (episodes that end early are padded by the environment's
    automatic reset, so every episode has ``H`` recorded steps)."""
    num_states = 2 * env.size**2
    num_actions = env.action_space.n
    h = env.horizon

    def episode(carry, e):
        q, key = carry
        key, reset_key = jax.random.split(key)
        obs, state = env.reset_to(reset_key, task)
        frac = jnp.minimum(e / config.anneal_episodes, 1.0)
        eps = config.eps_start + frac * (config.eps_end - config.eps_start)

        def step(carry, _):
            q, obs, state, key, finished = carry
            key, explore_key, tie_key, random_key, step_key = jax.random.split(key, 5)
            s = grid_state_index(env, obs, state)
            values = q[s]
            best = values >= jnp.max(values) - 1e-8
            greedy = jax.random.choice(tie_key, num_actions, p=best / jnp.sum(best))
            explore = jax.random.uniform(explore_key) < eps
            action = jnp.where(explore, jax.random.randint(random_key, (), 0, num_actions), greedy)
            ts, next_state = env.step(step_key, state, action)
            # after an episode's end the environment has reset itself: the value of the final
            # state is read from final_obs and the key flag it had (before the reset: held
            # before, or picked up now — a reward without termination is the key's)
            ended = ts.terminated | ts.truncated
            final_key = state.has_key | ((ts.reward > 0) & ~ts.terminated & env.uses_key)
            s_next = jnp.where(
                ended,
                grid_state_index(env, ts.final_obs, state.replace(has_key=final_key)),
                grid_state_index(env, ts.final_obs, next_state),
            )
            target = ts.reward + config.gamma * jnp.max(q[s_next]) * (1.0 - ts.terminated)
            live = ~finished
            q = q.at[s, action].add(live * config.lr * (target - q[s, action]))
            reward = jnp.where(finished, 0.0, ts.reward)
            out = (obs, action.astype(jnp.int32), reward)
            finished = finished | ts.terminated
            return (q, ts.obs, next_state, key, finished), out

        init = (q, obs, state, key, jnp.bool_(False))
        (q, _, _, key, _), (obs_seq, actions, rewards) = jax.lax.scan(step, init, None, h)
        return (q, key), (obs_seq, actions, rewards)

    q0 = jnp.zeros((num_states, num_actions))
    _, (obs, actions, rewards) = jax.lax.scan(episode, (q0, key), jnp.arange(episodes))
    return (
        obs.reshape(episodes * h, -1),
        actions.reshape(-1),
        rewards.reshape(-1),
        episode_ends(episodes, h),
    )
