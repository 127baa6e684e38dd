"""MuJoCo Playground's DM Control on MJX (``mjx:``): jittable, time limit as truncation, and
trained inside the compiled, seed-vmapped loop with its state checkpointed."""

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import plastix
from plastix.envs import is_jittable, make_env
from plastix.errors import ConfigError
from plastix.training import checkpoint


def test_episodes_end_as_truncations_after_the_time_limit():
    env = make_env("mjx:CartpoleSwingup,repeat=4")
    assert is_jittable(env) and env.max_episode_steps == 250
    assert env.observation_space.shape == (5,) and env.action_space.shape == (1,)
    _, state = env.reset(jax.random.key(0))

    def body(state, key):
        ts, state = env.step(key, state, jnp.full((1,), 0.5))
        return state, (ts.truncated, ts.terminated, ts.reward, ts.obs, ts.final_obs)

    keys = jax.random.split(jax.random.key(1), 501)
    _, (truncated, terminated, reward, obs, final_obs) = jax.jit(
        lambda s: jax.lax.scan(body, s, keys)
    )(state)
    assert list(np.flatnonzero(np.asarray(truncated))) == [249, 499]
    assert not np.asarray(terminated).any()
    assert np.isfinite(np.asarray(reward)).all() and (np.asarray(reward) >= 0).all()
    # the step that ends an episode returns the next one's first observation
    assert not np.allclose(obs[249], final_obs[249])
    np.testing.assert_array_equal(obs[248], final_obs[248])


@pytest.mark.parametrize(
    "name, message",
    [("mjx:CartpoleSwingupp", "CartpoleSwingup"), ("mjx:CartpoleSwingup,stack=3", "repeat")],
)
def test_a_bad_mjx_name_names_the_choices(name, message):
    with pytest.raises(ConfigError, match=message):
        make_env(name)


def test_sac_trains_on_mjx_inside_the_compiled_loop_with_a_checkpoint(tmp_path):
    out = tmp_path / "run"
    result = plastix.train(
        "sac",
        "mjx:CartpoleSwingup,repeat=8",
        steps=400,
        seeds=2,
        learning_starts=100,
        eval_every=200,
        eval_episodes=1,
        log_every=100,
        hidden_sizes=(16,),
        batch_size=16,
        out=out,
        progress=False,
    )
    assert result.summary["status"] == "completed" and "not_written" not in result.summary
    evals = result.metrics.query("metric == 'eval_return'")
    assert list(evals.step.unique()) == [200, 400] and np.isfinite(evals.value).all()
    assert result.metrics.query("metric == 'critic_loss'")["value"].notna().all()
    # the environments' MJX state is in the checkpoint, as arrays, and reads back exactly
    data = flax.serialization.msgpack_restore((out / checkpoint.CHECKPOINT_FILE).read_bytes())
    restored = checkpoint._restore(result.state, data["state"])
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(result.state), strict=True):
        if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
