import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import optim
from plastix.agents import SAC, SACConfig
from plastix.envs.spaces import Box
from plastix.errors import ConfigError
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
    with pytest.raises(
        ConfigError, match="valid choices: all, encoder, no-encoder, all-but-encoder, last:K"
    ):
        select(state.params, "critc")


# REDO
def conv_dqn():
    from plastix.agents import DQN, DQNConfig
    from plastix.envs.spaces import Discrete

    return DQN(
        DQNConfig(
            hidden_sizes=(6,), conv_channels=(3, 4), conv_kernel_sizes=(3, 3), conv_strides=(1, 1)
        ),
        Box.from_bounds(0, 1, (6, 6, 2)),
        Discrete(3),
        10,
    )


def with_dead_units(state):
    """Kills conv_0 channel 1, conv_1 channel 2 and dense unit 4 with a very negative bias."""
    p = state.params["critic"]
    p = {
        **p,
        "encoder": {
            "conv_0": {
                **p["encoder"]["conv_0"],
                "bias": p["encoder"]["conv_0"]["bias"].at[1].set(-1e3),
            },
            "conv_1": {
                **p["encoder"]["conv_1"],
                "bias": p["encoder"]["conv_1"]["bias"].at[2].set(-1e3),
            },
        },
        "torso": {
            "dense_0": {
                **p["torso"]["dense_0"],
                "bias": p["torso"]["dense_0"]["bias"].at[4].set(-1e3),
            }
        },
    }
    return state.replace(params={"critic": p})


def obs_batch(n=16):
    obs = jax.random.uniform(jax.random.key(1), (n, 6, 6, 2))
    return Batch(obs, jnp.zeros(n, jnp.int32), jnp.zeros(n), obs, jnp.zeros(n))


def test_redo_recycles_dead_units_with_exact_indexing():
    agent = conv_dqn()
    state = with_dead_units(agent.init(jax.random.key(0)))
    key = jax.random.key(5)
    new = interventions.redo(agent, state, key, obs_batch(), tau=0.0)
    old, p, fresh = state.params["critic"], new.params["critic"], agent.init(key).params["critic"]
    # incoming weights of the dead units are fresh (bias back to its initial 0)
    np.testing.assert_array_equal(
        p["encoder"]["conv_0"]["kernel"][..., 1], fresh["encoder"]["conv_0"]["kernel"][..., 1]
    )
    assert float(p["encoder"]["conv_0"]["bias"][1]) == 0.0
    # dense unit 4's incoming column is fresh, except the rows from dead channel 2: a weight
    # that is both incoming to a recycled unit and outgoing from another one is zero
    column = np.asarray(p["torso"]["dense_0"]["kernel"][:, 4])
    fresh_column = np.asarray(fresh["torso"]["dense_0"]["kernel"][:, 4])
    from_channel_2 = np.arange(column.shape[0]) % 4 == 2
    np.testing.assert_array_equal(column[~from_channel_2], fresh_column[~from_channel_2])
    assert not np.any(column[from_channel_2])
    # outgoing weights are zero: conv_1's input channel 1; the dense rows of flattened
    # channel 2 (rows r with r % 4 == 2); the head's row 4
    assert not np.any(p["encoder"]["conv_1"]["kernel"][:, :, 1, :])
    rows = np.arange(p["torso"]["dense_0"]["kernel"].shape[0])
    dense = np.asarray(p["torso"]["dense_0"]["kernel"])
    assert not np.any(dense[rows % 4 == 2])
    assert not np.any(p["head"]["kernel"][4])
    # nothing else changed (all other units were active)
    np.testing.assert_array_equal(
        p["encoder"]["conv_0"]["kernel"][..., 0], old["encoder"]["conv_0"]["kernel"][..., 0]
    )
    np.testing.assert_array_equal(
        dense[rows % 4 == 1][:, :4],
        np.asarray(old["torso"]["dense_0"]["kernel"])[rows % 4 == 1][:, :4],
    )
    np.testing.assert_array_equal(p["head"]["kernel"][:4], old["head"]["kernel"][:4])


def test_redo_keeps_outputs_and_zeroes_adam_moments_of_recycled_weights():
    agent = conv_dqn()
    state = with_dead_units(agent.init(jax.random.key(0)))
    batch = obs_batch()
    # move Adam's moments away from zero first
    update = jax.jit(agent.update)
    for i in range(2):
        state, _ = update(state, batch, jax.random.key(10 + i))
    state = with_dead_units(state)
    new = interventions.redo(agent, state, jax.random.key(5), batch, tau=0.0)
    q_before = agent.network.apply({"params": state.params["critic"]}, batch.obs)
    q_after = agent.network.apply({"params": new.params["critic"]}, batch.obs)
    np.testing.assert_allclose(q_before, q_after, rtol=1e-5, atol=1e-6)
    mu = adam(new, "critic").mu
    assert not np.any(mu["head"]["kernel"][4]) and np.any(mu["head"]["kernel"][:4])
    assert not np.any(mu["encoder"]["conv_1"]["kernel"][:, :, 1, :])
    assert not np.any(mu["torso"]["dense_0"]["kernel"][:, 4])


@pytest.mark.parametrize("seed", range(4))
def test_redo_with_tau_zero_never_changes_a_random_networks_outputs(trained_sac, seed):
    agent, state = trained_sac
    obs = jax.random.uniform(jax.random.key(seed), (32, 3)) * 4 - 2
    batch = Batch(obs, jnp.zeros((32, 1)), jnp.zeros(32), obs, jnp.zeros(32))
    new = interventions.redo(agent, state, jax.random.key(seed), batch, tau=0.0)
    for net, args in (("critic", (obs, jnp.zeros((32, 1)))), ("actor", (obs,))):
        module = agent.critic if net == "critic" else agent.actor
        before = module.apply({"params": state.params[net]}, *args)
        after = module.apply({"params": new.params[net]}, *args)
        for x, y in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_selectors_keep_layernorm_with_its_layer():
    from plastix.agents import DQN, DQNConfig
    from plastix.envs.spaces import Discrete

    agent = DQN(
        DQNConfig(hidden_sizes=(4, 4), layer_norm=True, conv_channels=(2,)),
        Box.from_bounds(0, 1, (5, 5, 1)),
        Discrete(2),
        10,
    )
    params = jax.eval_shape(agent.init, jax.random.key(0)).params
    chosen = {p for p, v in flat(select(params, "critic/last:2")).items() if v}
    assert chosen == {
        "critic/head/bias",
        "critic/head/kernel",
        "critic/torso/dense_1/bias",
        "critic/torso/dense_1/kernel",
        "critic/torso/norm_1/bias",
        "critic/torso/norm_1/scale",
    }
    chosen = {p for p, v in flat(select(params, "critic/encoder/conv_0")).items() if v}
    assert chosen == {"critic/encoder/conv_0/bias", "critic/encoder/conv_0/kernel"}
    chosen = {p for p, v in flat(select(params, "last:4")).items() if v}
    assert "critic/encoder/norm_0/scale" in chosen  # the conv's LayerNorm goes with it


@pytest.fixture(scope="module")
def injectable_sac():
    agent = SAC(
        SACConfig(hidden_sizes=(8, 8), learning_rate=1e-2),
        Box.from_bounds(0, 1, (3,)),
        Box.from_bounds(-1, 1, (1,)),
        10,
        injection=("actor", "critic"),
    )
    return agent, jax.jit(agent.update)


def sac_batch(key, n=6):
    k1, k2, k3 = jax.random.split(key, 3)
    return Batch(
        obs=jax.random.uniform(k1, (n, 3)),
        action=jnp.tanh(jax.random.normal(k2, (n, 1))),
        reward=jax.random.normal(k3, (n,)),
        next_obs=jax.random.uniform(k1, (n, 3)),
        discount=jnp.full((n,), 0.9),
    )


def outputs(agent, state, batch):
    q = agent.critic.apply({"params": state.params["critic"]}, batch.obs, batch.action)
    mean, log_std = agent.actor.apply({"params": state.params["actor"]}, batch.obs)
    return q, mean, log_std


@pytest.mark.parametrize("seed", range(3))
def test_injection_keeps_outputs_and_only_the_new_copy_learns(injectable_sac, seed):
    agent, update = injectable_sac
    keys = jax.random.split(jax.random.key(seed), 5)
    state = agent.init(keys[0])
    for k in keys[1:3]:
        state, _ = update(state, sac_batch(k), k)  # θ trains, the branches do not
    probe = sac_batch(keys[3], 32)
    before = outputs(agent, state, probe)
    injected = interventions.inject(agent, state, keys[4], ["critic", "actor"])
    for x, y in zip(before, outputs(agent, injected, probe), strict=True):
        np.testing.assert_array_equal(x, y)  # exactly: h + (h1 - h2) with h1 == h2
    for net in ("critic", "actor"):
        new, frozen = injected.params[net]["injected"], injected.params[net]["injected_frozen"]
        old = flat(state.params[net]["injected"])
        for path, x in flat(new).items():
            np.testing.assert_array_equal(x, flat(frozen)[path])  # θ1′ = θ2′ ...
            if path.endswith("kernel"):  # ... a fresh initialisation (biases start at 0)
                assert np.any(np.asarray(x) != np.asarray(old[path]))
    after, _ = update(injected, sac_batch(keys[1]), keys[1])
    for net in ("critic", "actor"):
        for path, value in flat(after.params[net]).items():
            moved = bool(np.any(np.asarray(value) != np.asarray(flat(injected.params[net])[path])))
            assert moved == path.startswith("injected/"), (net, path)
    # the critic's target copy of θ1′ starts from the injected values
    for x, y in zip(
        jax.tree.leaves(injected.target_params["critic"]["injected"]),
        jax.tree.leaves(injected.params["critic"]["injected"]),
        strict=True,
    ):
        np.testing.assert_array_equal(x, y)


def test_before_injection_the_branches_neither_learn_nor_change_outputs(injectable_sac):
    agent, update = injectable_sac
    plain = SAC(agent.config, agent.observation_space, agent.action_space, 10)
    state = agent.init(jax.random.key(7))
    probe = sac_batch(jax.random.key(8), 16)
    # the same θ in a network without branches gives the same outputs
    plain_state = plain.init(jax.random.key(7))
    plain_state = plain_state.replace(
        params={
            net: {k: v for k, v in p.items() if not k.startswith("injected")}
            if isinstance(p, dict)
            else p
            for net, p in state.params.items()
        }
    )
    for x, y in zip(outputs(agent, state, probe), outputs(plain, plain_state, probe), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)
    new, _ = update(state, probe, jax.random.key(9))
    for net in ("critic", "actor"):
        for path, value in flat(new.params[net]).items():
            if path.startswith("injected"):
                np.testing.assert_array_equal(value, flat(state.params[net])[path])


def test_injection_into_an_unknown_network_names_the_choices():
    with pytest.raises(ConfigError, match="valid choices: actor, critic"):
        SAC(
            SACConfig(hidden_sizes=(8,)),
            Box.from_bounds(0, 1, (3,)),
            Box.from_bounds(-1, 1, (1,)),
            10,
            injection=("critc",),
        )
