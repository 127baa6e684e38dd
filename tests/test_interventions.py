import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import optim
from plastix.agents import SAC, ConfigError, SACConfig
from plastix.envs.spaces import Box
from plastix.plasticity import interventions
from plastix.plasticity.selectors import select
from plastix.replay import Batch


@pytest.fixture(scope="module")
def trained_sac():
    """A small SAC after a few updates: parameters, targets and Adam state all moved."""
    agent = SAC(
        SACConfig(hidden_sizes=(8, 8), learning_rate=1e-2),
        Box.from_bounds(0, 1, (3,)),
        Box.from_bounds(-1, 1, (1,)),
        10,
    )
    state = agent.init(jax.random.key(0))
    batch = Batch(
        obs=jnp.ones((4, 3)),
        action=jnp.zeros((4, 1)),
        reward=jnp.ones(4),
        next_obs=jnp.ones((4, 3)),
        discount=jnp.full((4,), 0.9),
    )
    update = jax.jit(agent.update)
    for i in range(3):
        state, _ = update(state, batch, jax.random.key(i + 1))
    return agent, state


def flat(tree):
    return {
        "/".join(str(getattr(k, "key", k)) for k in path): leaf
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]
    }


def adam(state, network):
    (s,) = optim.find_adam_states(state.opt_state[network])
    return s


def test_reset_replaces_exactly_the_selected_layers(trained_sac):
    agent, state = trained_sac
    key = jax.random.key(42)
    mask = select(state.params, "critic/last:1,actor")
    new = interventions.reset(agent, state, key, mask)
    fresh = agent.init(key).params
    for path, value in flat(new.params).items():
        touched = path.startswith("critic/head") or path.startswith("actor/")
        expected = flat(fresh)[path] if touched else flat(state.params)[path]
        np.testing.assert_array_equal(value, expected, err_msg=path)


def test_reset_restarts_adam_and_targets_of_touched_parameters_only(trained_sac):
    agent, state = trained_sac
    new = interventions.reset(agent, state, jax.random.key(7), select(state.params, "critic/head"))
    before, after = adam(state, "critic"), adam(new, "critic")
    for path in flat(after.mu):
        touched = path.startswith("head")
        assert int(flat(after.count)[path]) == (0 if touched else int(flat(before.count)[path]))
        if touched:
            assert not np.any(flat(after.mu)[path]) and not np.any(flat(after.nu)[path])
        else:
            np.testing.assert_array_equal(flat(after.mu)[path], flat(before.mu)[path])
    # the target critic's head follows the new online head; the rest of the target is kept
    np.testing.assert_array_equal(
        new.target_params["critic"]["head"]["kernel"], new.params["critic"]["head"]["kernel"]
    )
    np.testing.assert_array_equal(
        new.target_params["critic"]["torso"]["dense_0"]["kernel"],
        state.target_params["critic"]["torso"]["dense_0"]["kernel"],
    )
    # the actor's optimizer state is untouched
    np.testing.assert_array_equal(
        adam(new, "actor").mu["head"]["kernel"], adam(state, "actor").mu["head"]["kernel"]
    )


def test_shrink_and_perturb_formula(trained_sac):
    agent, state = trained_sac
    key = jax.random.key(3)
    mask = select(state.params, "actor")
    new = interventions.shrink_perturb(agent, state, key, mask, alpha=0.8, sigma=0.1)
    fresh = agent.init(key).params
    expected = (
        0.8 * state.params["actor"]["torso"]["dense_0"]["kernel"]
        + 0.1 * fresh["actor"]["torso"]["dense_0"]["kernel"]
    )
    np.testing.assert_allclose(
        new.params["actor"]["torso"]["dense_0"]["kernel"], expected, rtol=1e-6
    )
    np.testing.assert_array_equal(
        new.params["critic"]["head"]["kernel"], state.params["critic"]["head"]["kernel"]
    )
    assert int(adam(new, "actor").count["head"]["kernel"]) == 0


def test_reset_all_equals_a_fresh_agent_with_the_same_key(trained_sac):
    agent, state = trained_sac
    key = jax.random.key(9)
    new = interventions.reset(agent, state, key, select(state.params, "all"))
    fresh = agent.init(key)
    for x, y in zip(
        jax.tree.leaves(new),
        jax.tree.leaves(fresh.replace(num_updates=state.num_updates)),
        strict=True,
    ):
        np.testing.assert_array_equal(x, y)


def test_unknown_selector_names_the_choices(trained_sac):
    _, state = trained_sac
    with pytest.raises(ConfigError, match="valid choices: all, encoder, no-encoder, last:K"):
        select(state.params, "critc")
