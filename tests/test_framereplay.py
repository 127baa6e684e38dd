"""The frame memory stores each frame once yet returns exactly the stacks and next observations
a buffer storing whole observations returns, across episode starts, truncations (bootstrapped
from their true final frame), terminations, lost lives and the ring's wrap-around."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import replay
from plastix.envs.spaces import Box
from plastix.framereplay import FrameStacks, memory_for

K, C, H = 3, 2, 2  # stack, channels per frame, frame side
LIMIT = 7  # time limit: truncation after this many steps


def frame(counter: int) -> np.ndarray:
    """A frame that names its own counter (two bytes), so a wrong frame cannot pass."""
    f = np.zeros((H, H, C), np.uint8)
    f[..., 0], f[..., 1] = counter % 256, counter // 256
    f[0, 0, 0] = (counter * 7 + 3) % 256
    return f


def history(steps: int, envs: int, seed: int):
    """Rows of a frame-stacked environment: (obs, action, reward, next_obs, terminated,
    truncated, first) per step, each ``[envs, ...]``, with random terminations, lost lives
    (terminal for learning, the episode goes on) and truncations at the time limit."""
    rng = np.random.default_rng(seed)
    counter = 1
    stacks, lengths = [], []
    for _ in range(envs):
        stacks.append([frame(counter)] * K)
        lengths.append(0)
        counter += 1
    rows = []
    for _ in range(steps):
        obs, nxt, term, trunc, first = [], [], [], [], []
        for e in range(envs):
            first.append(lengths[e] == 0)
            obs.append(np.concatenate(stacks[e], -1))
            new = frame(counter)
            counter += 1
            lengths[e] += 1
            ended = rng.random() < 0.12
            life = not ended and rng.random() < 0.1
            truncated = not ended and lengths[e] == LIMIT
            stacked = stacks[e][1:] + [new]
            nxt.append(np.concatenate(stacked, -1))
            term.append(ended or life)
            trunc.append(truncated)
            if ended or truncated:
                stacks[e] = [frame(counter)] * K  # the next episode's first frame
                counter += 1
                lengths[e] = 0
            else:
                stacks[e] = stacked
        rows.append(
            (
                replay.Transition(
                    obs=jnp.asarray(np.stack(obs)),
                    action=jnp.asarray(rng.integers(0, 5, envs), jnp.int32),
                    reward=jnp.asarray(rng.normal(size=envs), jnp.float32),
                    next_obs=jnp.asarray(np.stack(nxt)),
                    terminated=jnp.asarray(term),
                    truncated=jnp.asarray(trunc),
                ),
                jnp.asarray(first),
            )
        )
    return rows


@pytest.mark.parametrize("steps, capacity, n_step", [(40, 64, 1), (90, 32, 3), (70, 25, 2)])
def test_frame_memory_returns_what_a_whole_observation_buffer_returns(steps, capacity, n_step):
    envs = 2
    rows = history(steps, envs, seed=steps + n_step)
    plain, frames = replay.Transitions(), FrameStacks(K, C, LIMIT)
    example = rows[0][0]
    a, b = plain.init(example, capacity), frames.init(example, capacity)
    add_a, add_b = jax.jit(plain.add), jax.jit(frames.add)
    for row, first in rows:
        a, b = add_a(a, row, first), add_b(b, row, first)
    size = int(a.size)
    low = K - 1 if size == capacity else 0
    starts = np.arange(low, size - n_step)
    start = jnp.asarray(np.repeat(starts, envs), jnp.int32)
    env = jnp.asarray(np.tile(np.arange(envs), len(starts)), jnp.int32)
    want = replay.gather(a, start, env, n_step, 0.9)
    got = jax.jit(frames.gather, static_argnums=(3, 4))(b, start, env, n_step, 0.9)
    np.testing.assert_array_equal(got.obs, want.obs)
    np.testing.assert_array_equal(got.action, want.action)
    np.testing.assert_allclose(got.reward, want.reward, rtol=1e-6)
    np.testing.assert_allclose(got.discount, want.discount, rtol=1e-6)
    # the next observation matters wherever it is bootstrapped from
    live = np.asarray(want.discount) > 0
    assert live.sum() > len(live) // 2
    np.testing.assert_array_equal(np.asarray(got.next_obs)[live], np.asarray(want.next_obs)[live])
    # truncations, lost lives and terminations all occurred in the window
    d = a.data
    assert bool(d.truncated.any()) and bool(d.terminated.any())


def test_frame_memory_is_smaller_by_the_stack_and_samples_in_range():
    rows = history(30, 2, seed=1)
    frames = FrameStacks(K, C, LIMIT)
    b = frames.init(rows[0][0], 30)
    for row, first in rows:
        b = frames.add(b, row, first)
    plain = replay.Transitions().init(rows[0][0], 30)
    nbytes = lambda t: sum(x.nbytes for x in jax.tree.leaves(t))  # noqa: E731
    obs_bytes = nbytes(plain.data.obs) + nbytes(plain.data.next_obs)
    assert nbytes(b.data.frames) * 2 * K == obs_bytes
    batch = frames.sample(b, jax.random.key(0), 64, 3, 0.99)
    assert batch.obs.shape == (64, H, H, K * C) and batch.obs.dtype == jnp.uint8


def test_cut_turns_the_open_episode_into_a_truncation_with_its_true_next_frame():
    rows = history(12, 1, seed=3)
    frames, plain = FrameStacks(K, C, LIMIT), replay.Transitions()
    a, b = plain.init(rows[0][0], 16), frames.init(rows[0][0], 16)
    for row, first in rows:
        a, b = plain.add(a, row, first), frames.add(b, row, first)
    newest = rows[-1][0]
    a, b = plain.cut(a, newest.next_obs), frames.cut(b, newest.next_obs)
    assert bool(a.data.truncated[11, 0] | a.data.terminated[11, 0])
    start = jnp.asarray([10], jnp.int32)
    env = jnp.zeros(1, jnp.int32)
    want, got = replay.gather(a, start, env, 1, 0.9), frames.gather(b, start, env, 1, 0.9)
    np.testing.assert_array_equal(got.obs, want.obs)
    if float(want.discount[0]) > 0:
        np.testing.assert_array_equal(got.next_obs, want.next_obs)


def test_memory_for_picks_frames_only_for_stacked_bytes():
    image = Box.from_bounds(0, 255, (4, 4, 6), np.uint8)
    assert isinstance(memory_for(image, 3, 10), FrameStacks)
    assert isinstance(memory_for(image, None, 10), replay.Transitions)
    floats = Box.from_bounds(0, 1, (4, 4, 6))
    assert isinstance(memory_for(floats, 3, 10), replay.Transitions)
