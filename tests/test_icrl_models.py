"""Mechanics of the in-context models: token layout, causal masking, the KV cache, windows,
checkpoints, online roll-outs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.icrl import evaluation, training
from plastix.icrl.tasks import Family, FamilyConfig
from plastix.icrl.transformer import HistoryTransformer, pad_cache

MODEL = HistoryTransformer(num_actions=3, max_len=12, dim=16, layers=2, heads=2)
OBS = jax.random.normal(jax.random.key(1), (2, 12, 3))
PREV_A = jax.random.randint(jax.random.key(2), (2, 12), -1, 3)
PREV_R = jax.random.normal(jax.random.key(3), (2, 12))
PARAMS = MODEL.init(jax.random.key(0), OBS, PREV_A, PREV_R)


def test_outputs_depend_on_the_past_and_the_current_observation_only():
    base = MODEL.apply(PARAMS, OBS, PREV_A, PREV_R)
    assert base.shape == (2, 12, 3)
    # step 5's token holds obs_5 and the action and reward of step 4
    changed = MODEL.apply(PARAMS, OBS.at[0, 5].add(1.0), PREV_A, PREV_R)
    np.testing.assert_allclose(base[0, :5], changed[0, :5], rtol=1e-5, atol=1e-6)
    assert not np.allclose(base[0, 5:], changed[0, 5:])
    changed = MODEL.apply(PARAMS, OBS, PREV_A.at[0, 5].set((PREV_A[0, 5] + 1) % 3), PREV_R)
    np.testing.assert_allclose(base[0, :5], changed[0, :5], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(base[1], changed[1], rtol=1e-5, atol=1e-6)


def test_kv_cache_decoding_equals_the_full_pass():
    full = MODEL.apply(PARAMS, OBS, PREV_A, PREV_R)
    _, cache = MODEL.apply(PARAMS, OBS[:, :4], PREV_A[:, :4], PREV_R[:, :4], method="prefill")
    cache = pad_cache(cache, 12)
    for t in range(4, 12):
        logits, cache = MODEL.apply(
            PARAMS, OBS[:, t], PREV_A[:, t], PREV_R[:, t], cache, t, method="decode"
        )
        np.testing.assert_allclose(logits, full[:, t], rtol=1e-4, atol=1e-5)


def test_windows_start_at_episode_boundaries_and_carry_the_previous_step():
    n, episodes, h = 3, 5, 4
    actions = np.arange(n * episodes * h).reshape(n, -1) % 7
    rewards = np.arange(n * episodes * h, dtype=np.float32).reshape(n, -1)
    arrays = {"obs": np.zeros((n, episodes * h, 1)), "action": actions, "reward": rewards}
    data = training.training_arrays(arrays, "ad")
    w = training.sample_windows(data, jax.random.key(0), 64, 2 * h, h)
    step = np.asarray(w["prev_reward"][:, 1]).astype(int) % (episodes * h)
    assert (step % h == 0).all()  # the token after the first is step 1 of an episode
    np.testing.assert_array_equal(w["label"][:, :-1], w["prev_action"][:, 1:])  # AD's labels
    first = step == 0  # windows at a history's start
    assert (np.asarray(w["prev_action"][first, 0]) == -1).all()
    with pytest.raises(Exception, match="shorter than a context"):
        training.sample_windows(data, jax.random.key(0), 4, 6 * h, h)


def test_rollout_context_grows_then_slides():
    fam = Family(FamilyConfig(family="darkroom", horizon=5))
    model = HistoryTransformer(5, 10, 16, 1, 2)  # two episodes of context
    params = model.init(
        jax.random.key(0), jnp.zeros((1, 10, 2)), jnp.zeros((1, 10), int), jnp.zeros((1, 10))
    )
    rewards, regret = evaluation.rollout(
        model, params, fam, jnp.array([4, 3]), jax.random.key(1), episodes=4
    )
    assert rewards.shape == (4, 5) and (regret == 0).all()
    # the goal is one step above the centre: a reward of 1 per step spent there
    assert set(np.unique(rewards)) <= {0.0, 1.0}
