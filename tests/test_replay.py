import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from plastix import replay


def row(t, num_envs=1, terminated=(), truncated=()):
    e = num_envs
    return replay.Transition(
        obs=jnp.full((e, 2), float(t)),
        action=jnp.full((e,), t, jnp.int32),
        reward=jnp.full((e,), float(t)),
        next_obs=jnp.full((e, 2), float(t) + 0.5),
        terminated=jnp.array([i in terminated for i in range(e)]),
        truncated=jnp.array([i in truncated for i in range(e)]),
    )


def filled(rows, capacity, num_envs=1):
    buffer = replay.init_buffer(rows[0], capacity)
    for r in rows:
        buffer = replay.add(buffer, r)
    return buffer


def test_ring_buffer_overwrites_oldest_rows():
    buffer = filled([row(t) for t in range(7)], capacity=5)
    assert int(buffer.size) == 5 and int(buffer.position) == 2
    np.testing.assert_array_equal(buffer.data.reward[:, 0], [5, 6, 2, 3, 4])


def test_one_step_sample_returns_stored_transitions():
    buffer = filled([row(t) for t in range(7)], capacity=5)
    batch = replay.sample(buffer, jax.random.key(0), 256, n_step=1, gamma=0.9)
    t = np.asarray(batch.obs[:, 0])
    assert set(t.tolist()) == {2.0, 3.0, 4.0, 5.0, 6.0}  # only the five rows still stored
    np.testing.assert_allclose(batch.reward, t)
    np.testing.assert_allclose(batch.next_obs[:, 0], t + 0.5)
    np.testing.assert_allclose(batch.discount, 0.9)
    np.testing.assert_array_equal(batch.action, t.astype(int))


def test_n_step_hand_computed_with_termination_and_truncation():
    # rewards 0..5; step 2 terminates, step 4 is truncated by a time limit.
    rows = [
        row(t, terminated=(0,) if t == 2 else (), truncated=(0,) if t == 4 else ())
        for t in range(6)
    ]
    buffer = filled(rows, capacity=8)
    batch = replay.sample(buffer, jax.random.key(1), 512, n_step=3, gamma=0.5)
    expected = {
        # start: (reward, next_obs, discount)
        0: (0 + 0.5 * 1 + 0.25 * 2, 2.5, 0.0),  # window 0,1,2 ends in a termination
        1: (1 + 0.5 * 2, 2.5, 0.0),  # stops at the termination at step 2
        2: (2.0, 2.5, 0.0),
        3: (3 + 0.5 * 4, 4.5, 0.25),  # truncation at 4: bootstrap from its final obs
    }
    starts = np.asarray(batch.obs[:, 0]).astype(int)
    assert set(starts.tolist()) == {0, 1, 2, 3}  # 4 and 5 lack three stored successors
    for i, s in enumerate(starts):
        reward, next_obs, discount = expected[s]
        assert float(batch.reward[i]) == reward
        assert float(batch.next_obs[i, 0]) == next_obs
        assert float(batch.discount[i]) == discount


def reference_n_step(rewards, terminated, truncated, start, n, gamma):
    total, k = 0.0, start
    for j in range(n):
        k = start + j
        total += gamma**j * rewards[k]
        if terminated[k] or truncated[k]:
            break
    return total, k, 0.0 if terminated[k] else gamma ** (k - start + 1)


@settings(max_examples=25, deadline=None)
@given(
    length=st.integers(3, 20),
    capacity=st.integers(3, 12),
    n_step=st.integers(1, 4),
    ends=st.lists(st.sampled_from(["none", "term", "trunc"]), min_size=20, max_size=20),
    seed=st.integers(0, 2**16),
)
def test_n_step_matches_reference_over_random_histories(length, capacity, n_step, ends, seed):
    rewards = np.random.default_rng(seed).normal(size=length).astype(np.float32)
    term = [e == "term" for e in ends[:length]]
    trunc = [e == "trunc" for e in ends[:length]]
    rows = [
        replay.Transition(
            jnp.full((1, 1), float(t)),
            jnp.zeros((1,), jnp.int32),
            jnp.array([rewards[t]]),
            jnp.full((1, 1), t + 0.5),
            jnp.array([term[t]]),
            jnp.array([trunc[t]]),
        )
        for t in range(length)
    ]
    buffer = filled(rows, capacity)
    if int(buffer.size) < n_step:
        return
    batch = replay.sample(buffer, jax.random.key(seed), 64, n_step=n_step, gamma=0.9)
    oldest = length - int(buffer.size)
    for i, s in enumerate(np.asarray(batch.obs[:, 0, ...]).reshape(-1).astype(int)):
        assert oldest <= s <= length - n_step
        reward, k, discount = reference_n_step(rewards, term, trunc, s, n_step, 0.9)
        np.testing.assert_allclose(batch.reward[i], reward, rtol=1e-5, atol=1e-5)
        assert float(batch.next_obs[i, 0]) == k + 0.5
        np.testing.assert_allclose(batch.discount[i], discount, rtol=1e-6)


def test_sampling_covers_every_environment_column():
    buffer = filled([row(t, num_envs=3, terminated=(1,)) for t in range(4)], capacity=4)
    batch = replay.sample(buffer, jax.random.key(0), 300, n_step=2, gamma=0.5)
    # Column 1 terminates every step: its windows stop after one step, with discount 0.
    one_step = np.asarray(batch.discount) == 0.0
    assert 0 < one_step.mean() < 1
    np.testing.assert_allclose(
        np.asarray(batch.reward)[one_step], np.asarray(batch.obs[:, 0])[one_step]
    )


def test_sample_cost_does_not_depend_on_buffer_size():
    # The compiled sampler gathers batch rows: its program holds no op over the whole buffer.
    small = replay.init_buffer(row(0), 10)
    large = replay.init_buffer(row(0), 100_000)
    cost = []
    for b in (small, large):
        compiled = (
            jax.jit(lambda b, k: replay.sample(b, k, 32, 3, 0.9))
            .lower(b, jax.random.key(0))
            .compile()
        )
        cost.append(compiled.cost_analysis()["flops"])
    assert cost[1] <= cost[0] * 1.01
