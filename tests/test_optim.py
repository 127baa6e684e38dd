import jax
import jax.numpy as jnp
import numpy as np
import optax

from plastix import optim


def params():
    k1, k2 = jax.random.split(jax.random.key(0))
    return {"a": jax.random.normal(k1, (3, 2)), "b": jax.random.normal(k2, (2,))}


def test_matches_optax_adam():
    p_ours, p_optax = params(), params()
    ours, reference = optim.adam(1e-2), optax.adam(1e-2)
    s_ours, s_ref = ours.init(p_ours), reference.init(p_optax)
    for i in range(5):
        g = jax.tree.map(lambda x, i=i: jnp.sin(x + i), p_ours)
        u1, s_ours = ours.update(g, s_ours)
        u2, s_ref = reference.update(g, s_ref)
        for x, y in zip(jax.tree.leaves(u1), jax.tree.leaves(u2), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-8)


def test_scale_by_adam_chained_with_a_schedule_matches_optax_adam():
    schedule = optax.linear_schedule(2.5e-3, 0.0, 20)
    ours = optax.chain(optim.scale_by_adam(eps=1e-5), optax.scale_by_learning_rate(schedule))
    reference = optax.adam(schedule, eps=1e-5)
    p = params()
    s_ours, s_ref = ours.init(p), reference.init(p)
    step_ours, step_ref = jax.jit(ours.update), jax.jit(reference.update)
    for i in range(20):
        g = jax.tree.map(lambda x, i=i: 3 * jnp.sin(x * (i + 1)), p)
        u1, s_ours = step_ours(g, s_ours)
        u2, s_ref = step_ref(g, s_ref)
        for x, y in zip(jax.tree.leaves(u1), jax.tree.leaves(u2), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-12)


def test_reset_where_restarts_only_the_selected_statistics():
    p = params()
    opt = optax.chain(optax.clip_by_global_norm(1.0), optim.adam(1e-2))
    state = opt.init(p)
    for _ in range(3):
        _, state = opt.update(jax.tree.map(jnp.ones_like, p), state)
    mask = {"a": jnp.array([[True, False]] * 3), "b": True}  # column 0 of "a", all of "b"
    reset = optim.reset_where(state, mask)
    (adam_state,) = optim.find_adam_states(reset)
    assert int(adam_state.count["b"]) == 0  # wholly reset array: count restarts
    assert int(adam_state.count["a"]) == 3  # partly reset array: count kept
    assert np.all(adam_state.mu["a"][:, 0] == 0) and np.all(adam_state.mu["a"][:, 1] != 0)
    assert np.all(adam_state.nu["b"] == 0)
    # The first step after a full reset is a bias-corrected Adam step of size lr.
    updates, _ = opt.update(jax.tree.map(jnp.ones_like, p), reset)
    np.testing.assert_allclose(updates["b"], -1e-2, rtol=1e-4)


def test_freezable_stops_frozen_arrays_and_keeps_them_out_of_the_clip():
    p = params()
    inner = optax.chain(optax.clip_by_global_norm(1.0), optim.adam(1e-2))
    opt = optim.freezable(inner, frozen_at_init=lambda path: path == "b")
    state = opt.init(p)
    assert not bool(state.trainable["b"]) and bool(state.trainable["a"])
    g = {"a": jnp.full((3, 2), 0.1), "b": jnp.full((2,), 100.0)}
    updates, state = opt.update(g, state)
    np.testing.assert_array_equal(updates["b"], 0.0)
    # "b"'s huge gradient did not count in the global-norm clip: "a" moves as if alone
    alone, _ = inner.update({"a": g["a"], "b": jnp.zeros(2)}, inner.init(p))
    np.testing.assert_allclose(updates["a"], alone["a"], rtol=1e-6)
    # unfrozen later, it moves; frozen later, momentum alone cannot move it
    state = optim.set_trainable(state, {"a": False, "b": True})
    updates, state = opt.update(g, state)
    np.testing.assert_array_equal(updates["a"], 0.0)
    assert np.all(np.asarray(updates["b"]) != 0.0)
