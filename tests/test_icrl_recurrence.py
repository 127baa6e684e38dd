"""S5 and LRU for in-context RL: the resettable scan, step = scan, resets inside the scan,
causality, and the CLI's --model choice end to end."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cli import main
from plastix.icrl import evaluation, training
from plastix.icrl.recurrence import HistoryRecurrence, hippo_n_eigens, resettable_scan
from plastix.icrl.tasks import Family, FamilyConfig

T = 24
OBS = jax.random.normal(jax.random.key(1), (2, T, 3))
PREV_A = jax.random.randint(jax.random.key(2), (2, T), -1, 3)
PREV_R = jax.random.normal(jax.random.key(3), (2, T))
KINDS = ("s5", "lru")


def model_and_params(kind):
    model = HistoryRecurrence(3, T, kind, dim=16, layers=2, state_size=8)
    return model, model.init(jax.random.key(0), OBS, PREV_A, PREV_R)


def test_the_resettable_scan_is_the_recurrence_written_as_a_loop():
    keys = jax.random.split(jax.random.key(0), 5)
    a = jax.random.uniform(keys[0], (3, 17, 4)) * jnp.exp(1j * jax.random.normal(keys[1], (4,)))
    b = jax.random.normal(keys[2], (3, 17, 4)) + 1j * jax.random.normal(keys[3], (3, 17, 4))
    reset = jax.random.bernoulli(keys[4], 0.2, (3, 17))
    state = jnp.full((3, 4), 0.5 + 0.5j)
    xs = resettable_scan(a, b, reset, state)
    x, expected = np.asarray(state), []
    for t in range(17):
        x = np.where(np.asarray(reset[:, t])[:, None], 0, np.asarray(a[:, t]) * x)
        x = x + np.asarray(b[:, t])
        expected.append(x)
    np.testing.assert_allclose(xs, np.stack(expected, 1), rtol=1e-5, atol=1e-5)


def test_hippo_n_gives_the_s5_initial_eigenvalues():
    eigen, vectors = hippo_n_eigens(8)
    np.testing.assert_allclose(eigen.real, -0.5)
    # the eigenvalues come in conjugate pairs and V is unitary
    np.testing.assert_allclose(np.sort(eigen.imag), np.sort(-eigen.imag), atol=1e-6)
    np.testing.assert_allclose(vectors.conj().T @ vectors, np.eye(8), atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_a_step_at_a_time_equals_the_parallel_scan(kind):
    model, params = model_and_params(kind)
    full = model.apply(params, OBS, PREV_A, PREV_R)
    decode = jax.jit(lambda *a: model.apply(params, *a, method="decode"))
    _, cache = model.apply(params, OBS[:, :5], PREV_A[:, :5], PREV_R[:, :5], method="prefill")
    for t in range(5, T):
        logits, cache = decode(OBS[:, t], PREV_A[:, t], PREV_R[:, t], cache)
        np.testing.assert_allclose(logits, full[:, t], rtol=1e-4, atol=1e-5)
    # from an empty cache too
    logits, _ = decode(OBS[:, 0], PREV_A[:, 0], PREV_R[:, 0], model.empty_cache(2))
    np.testing.assert_allclose(logits, full[:, 0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_a_reset_inside_the_scan_starts_a_fresh_history(kind):
    model, params = model_and_params(kind)
    reset = jnp.zeros((2, T), bool).at[0, 9].set(True)
    joined = model.apply(params, OBS, PREV_A, PREV_R, reset)
    before = model.apply(params, OBS[:, :9], PREV_A[:, :9], PREV_R[:, :9])
    after = model.apply(params, OBS[:, 9:], PREV_A[:, 9:], PREV_R[:, 9:])
    np.testing.assert_allclose(joined[0, :9], before[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(joined[0, 9:], after[0], rtol=1e-4, atol=1e-5)
    # the second sequence has no reset and still remembers
    assert not np.allclose(joined[1, 9:], after[1], atol=1e-3)
    np.testing.assert_allclose(joined[1], model.apply(params, OBS, PREV_A, PREV_R)[1], rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_outputs_depend_on_the_past_and_the_current_token_only(kind):
    model, params = model_and_params(kind)
    base = model.apply(params, OBS, PREV_A, PREV_R)
    changed = model.apply(params, OBS.at[0, 7].add(1.0), PREV_A, PREV_R)
    np.testing.assert_allclose(base[0, :7], changed[0, :7], rtol=1e-5, atol=1e-6)
    assert not np.allclose(base[0, 7:], changed[0, 7:])
    # and far back: the state carries step 0 to the end of the window
    changed = model.apply(params, OBS, PREV_A, PREV_R.at[0, 0].add(5.0))
    assert np.abs(base[0, -1] - changed[0, -1]).max() > 1e-4


def test_the_roll_out_runs_a_recurrent_model_with_a_sliding_context():
    fam = Family(FamilyConfig(family="darkroom", horizon=5))
    model = HistoryRecurrence(5, 10, "lru", dim=16, layers=1, state_size=4)
    params = model.init(
        jax.random.key(0), jnp.zeros((1, 10, 2)), jnp.zeros((1, 10), int), jnp.zeros((1, 10))
    )
    rewards, regret = evaluation.rollout(
        model, params, fam, jnp.array([4, 3]), jax.random.key(1), episodes=4
    )
    assert rewards.shape == (4, 5) and (regret == 0).all()


def test_model_choice_on_the_command_line(tmp_path, capsys):
    d = tmp_path / "data"
    common = ["--arms", "3", "--horizon", "20", "--tasks", "256"]
    assert main(["icrl", "data", "--source", "thompson", *common, "--out", str(d)]) == 0
    small = ["--dim", "16", "--layers", "1", "--state-size", "8", "--batch-size", "16"]
    out = tmp_path / "s5"
    argv = ["icrl", "train", "--data", str(d), "--model", "s5", "--steps", "150", *small]
    assert main([*argv, "--learning-rate", "3e-3", "--out", str(out)]) == 0
    losses = __import__("pandas").read_parquet(out / "metrics.parquet")["value"].to_numpy()
    assert losses[-1] < losses[0] - 0.1
    assert json.loads((out / "config.json").read_text())["model"]["model"] == "s5"
    model, _, _ = training.load_trained(out)
    assert isinstance(model, HistoryRecurrence) and model.kind == "s5"
    assert main(["icrl", "eval", str(out), "--tasks", "50", "--out", str(out / "eval")]) == 0
    regret = json.loads((out / "eval" / "results.json").read_text())["final_regret"]
    assert regret["AD"]["mean"] < regret["random"]["mean"]
    with pytest.raises(SystemExit) as e:
        main([*argv[:-4], "--model", "mamba", "--out", str(tmp_path / "x")])
    assert e.value.code == 2 and not (tmp_path / "x").exists()
    assert "transformer, s5, lru" in capsys.readouterr().err
