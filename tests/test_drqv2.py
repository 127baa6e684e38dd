"""DrQ-v2 and pixel SAC: one encoder, trained by the critic loss only, shared with the actor."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.agents import SAC, DrQV2, DrQV2Config, SACConfig
from plastix.agents.drqv2 import clamp
from plastix.envs.spaces import Box
from plastix.plasticity.diagnostics import measure
from plastix.plasticity.selectors import select
from plastix.replay import Batch

PIXELS = Box.from_bounds(0, 255, (16, 16, 3), np.uint8)
ACTIONS = Box.from_bounds(-2.0, 2.0, (2,))
SMALL = dict(
    hidden_sizes=(16, 16),
    feature_dim=8,
    conv_channels=(4, 4),
    conv_kernel_sizes=(3, 3),
    conv_strides=(2, 1),
)


def make(agent: str):
    if agent == "drqv2":
        return DrQV2(DrQV2Config(**SMALL), PIXELS, ACTIONS, 1000)
    return SAC(SACConfig(**SMALL), PIXELS, ACTIONS, 1000)


def batch(key, discount: float, n: int = 8) -> Batch:
    obs_key, next_key, action_key, reward_key = jax.random.split(key, 4)
    images = lambda k: jax.random.randint(k, (n, 16, 16, 3), 0, 256).astype(jnp.uint8)  # noqa: E731
    return Batch(
        obs=images(obs_key),
        action=jax.random.uniform(action_key, (n, 2), minval=-2.0, maxval=2.0),
        reward=jax.random.normal(reward_key, (n,)),
        next_obs=images(next_key),
        discount=jnp.full((n,), discount),
    )


@pytest.mark.parametrize("agent", ["drqv2", "sac"])
def test_the_networks_share_one_encoder_and_each_has_a_trunk(agent):
    model = make(agent)
    params = model.init(jax.random.key(0)).params
    assert set(params["encoder"]) == {"encoder"}
    assert set(params["encoder"]["encoder"]) == {"conv_0", "conv_1"}
    for net in ("actor", "critic"):
        assert "encoder" not in params[net]
        assert set(params[net]["trunk"]) == {"dense_0", "norm_0"}
    assert params["critic"]["trunk"]["dense_0"]["kernel"].shape[0] == 2  # one trunk per twin
    # selectors: "encoder" is the shared encoder, "no-encoder" everything else with layers
    chosen = select(params, "encoder")
    assert all(jax.tree.leaves(chosen["encoder"]))
    assert not any(jax.tree.leaves(chosen["critic"]) + jax.tree.leaves(chosen["actor"]))
    rest = select(params, "no-encoder")
    assert not any(jax.tree.leaves(rest["encoder"]))
    assert all(jax.tree.leaves(rest["critic"]) + jax.tree.leaves(rest["actor"]))


@pytest.mark.parametrize("agent", ["drqv2", "sac"])
def test_the_actor_loss_leaves_the_encoder_untouched(agent):
    """With terminal transitions the critic's target is the reward alone, so the critic loss
    does not depend on the actor: the encoder must then come out of an update the same whatever
    the actor's parameters — while the actor does learn."""
    model = make(agent)
    state = model.init(jax.random.key(0))
    other_actor = model.init(jax.random.key(1)).params["actor"]
    other = state.replace(params=state.params | {"actor": other_actor})
    data = batch(jax.random.key(2), discount=0.0)
    update = jax.jit(model.update)
    one, _ = update(state, data, jax.random.key(3), 100)
    two, _ = update(other, data, jax.random.key(3), 100)
    for a, b in zip(
        jax.tree.leaves(one.params["encoder"]), jax.tree.leaves(two.params["encoder"]), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert any(changed(one.params["encoder"], state.params["encoder"]).values())  # critic-trained
    assert any(changed(one.params["actor"], state.params["actor"]).values())


def test_the_update_uses_the_noise_schedule_at_the_current_step():
    model = make("drqv2")
    state = model.init(jax.random.key(0))
    data = batch(jax.random.key(2), discount=0.9)
    new, metrics = model.update(state, data, jax.random.key(3), 0)
    assert np.isfinite(float(metrics["critic_loss"]))
    assert float(metrics["stddev"]) == pytest.approx(1.0)
    _, later = model.update(state, data, jax.random.key(3), 250_000)
    assert float(later["stddev"]) == pytest.approx(0.55)


def test_noise_schedule_and_clamped_actions():
    model = make("drqv2")
    assert float(model.stddev(0)) == pytest.approx(1.0)
    assert float(model.stddev(500_000)) == pytest.approx(0.1)
    assert float(model.stddev(10**7)) == pytest.approx(0.1)
    state = model.init(jax.random.key(0))
    obs = batch(jax.random.key(1), 0.9).obs
    explored = model.act(state, obs, jax.random.key(2), 0)
    assert explored.shape == (8, 2)
    assert bool(jnp.all(jnp.abs(explored) <= 2.0))
    greedy = model.act(state, obs, jax.random.key(2), 0, deterministic=True)
    np.testing.assert_array_equal(greedy, model.act(state, obs, jax.random.key(5), 0, True))
    # the clamp: values in [-1, 1], gradient of the identity
    x = jnp.array([-3.0, 0.2, 1.5])
    np.testing.assert_allclose(clamp(x), [-1.0, 0.2, 1.0])
    np.testing.assert_allclose(jax.grad(lambda v: clamp(v).sum())(x), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("agent", ["drqv2", "sac"])
def test_diagnostics_keep_the_encoder_and_the_critics_mlp_apart(agent):
    model = make(agent)
    state = model.init(jax.random.key(0))
    data = batch(jax.random.key(1), 0.9)
    activations = model.activations(state, data)
    assert set(activations) == {"encoder", "actor", "critic"}
    assert set(activations["encoder"][0]) == {"encoder/conv_0", "encoder/conv_1"}
    assert set(activations["critic"][0]) == {"torso/dense_0", "torso/dense_1"}
    assert len(activations["critic"]) == 2
    out = measure(activations, state.params, state.params, 0.025)
    assert {"encoder/fau", "critic/fau", "actor/fau", "encoder/weight_norm"} <= set(out)
    assert not any(k.startswith(("critic/encoder/", "encoder/encoder/")) for k in out)
    critic_fau = np.mean(
        [np.mean(np.asarray(h) > 0) for m in activations["critic"] for h in m.values()]
    )
    np.testing.assert_allclose(float(out["critic/fau"]), critic_fau, rtol=1e-5)


def test_state_observations_have_no_encoder():
    model = DrQV2(DrQV2Config(hidden_sizes=(8,)), Box.from_bounds(-1, 1, (5,)), ACTIONS, 10)
    params = model.init(jax.random.key(0)).params
    assert set(params) == {"actor", "critic"}
    assert set(params["actor"]) == {"torso", "head"}


def changed(a, b) -> dict:
    flat = lambda t: {  # noqa: E731
        "/".join(str(getattr(k, "key", k)) for k in path): leaf
        for path, leaf in jax.tree_util.tree_flatten_with_path(t)[0]
    }
    old = flat(b)
    return {p: bool(np.any(np.asarray(x) != np.asarray(old[p]))) for p, x in flat(a).items()}


def test_the_drq_reset_keeps_the_encoder_and_injection_keeps_the_trunk_learning():
    from plastix.plasticity import interventions
    from plastix.plasticity.interventions.reset import reset

    model = DrQV2(DrQV2Config(**SMALL), PIXELS, ACTIONS, 1000, injection=("actor", "critic"))
    update = jax.jit(model.update)
    state = model.init(jax.random.key(0))
    state, _ = update(state, batch(jax.random.key(1), 0.9), jax.random.key(2), 0)
    fresh = reset(model, state, jax.random.key(3), select(state.params, "no-encoder"))
    assert not any(changed(fresh.params["encoder"], state.params["encoder"]).values())
    for net in ("actor", "critic"):
        moved = changed(fresh.params[net], state.params[net])
        assert all(v for p, v in moved.items() if p.endswith("kernel")), net
    # injection: outputs unchanged; afterwards the torso and head stay, the trunk, the encoder
    # and the new copy learn
    injected = interventions.inject(model, state, jax.random.key(4), ["actor", "critic"])
    probe = batch(jax.random.key(5), 0.9)
    np.testing.assert_array_equal(
        model.act(state, probe.obs, jax.random.key(6), 0, True),
        model.act(injected, probe.obs, jax.random.key(6), 0, True),
    )
    after, _ = update(injected, batch(jax.random.key(7), 0.9), jax.random.key(8), 0)
    assert any(changed(after.params["encoder"], injected.params["encoder"]).values())
    for net in ("actor", "critic"):
        for path, moved in changed(after.params[net], injected.params[net]).items():
            learns = path.startswith(("injected/", "trunk/"))
            assert moved == learns, (net, path)


def test_the_papers_reset_recipes():
    from plastix.errors import ConfigError
    from plastix.plasticity.interventions.reset import ResetConfig

    assert ResetConfig(recipe="primacy-sac") == ResetConfig(
        every=200_000, layers="all", recipe="primacy-sac"
    )
    drq = ResetConfig(recipe="drq")
    assert (drq.every, drq.unit, drq.layers) == (100_000, "steps", "all-but-encoder")
    assert ResetConfig(recipe="spr", every=10_000).every == 10_000  # the interval scales
    with pytest.raises(ConfigError, match="sets reset.layers"):
        ResetConfig(recipe="drq", layers="critic")
    with pytest.raises(ConfigError, match="primacy-sac, spr"):
        ResetConfig(recipe="nope")
    # the DrQ recipe on pixel SAC: everything but the shared encoder, the temperature too
    params = make("sac").init(jax.random.key(0)).params
    mask = select(params, drq.layers)
    assert not any(jax.tree.leaves(mask["encoder"]))
    assert all(jax.tree.leaves(mask["temperature"]) + jax.tree.leaves(mask["critic"]))
    # the SPR recipe on a dueling network: the heads of both streams
    from plastix.agents import DrQEps, DrQEpsConfig
    from plastix.envs.spaces import Discrete

    dueling = DrQEps(
        DrQEpsConfig(
            hidden_sizes=(8,), conv_channels=(4,), conv_kernel_sizes=(3,), conv_strides=(1,)
        ),
        PIXELS,
        Discrete(3),
        10,
    )
    critic = select(dueling.init(jax.random.key(0)).params, ResetConfig(recipe="spr").layers)
    assert all(jax.tree.leaves(critic["critic"]["head"]))
    assert all(jax.tree.leaves(critic["critic"]["value"]["head"]))
    assert not any(jax.tree.leaves(critic["critic"]["torso"]))
    assert not any(jax.tree.leaves(critic["critic"]["value"]["torso"]))
    assert not any(jax.tree.leaves(critic["critic"]["encoder"]))
