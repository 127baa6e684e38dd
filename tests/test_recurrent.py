"""PPO with a memory (``ppo-gru``): the roll-out and the training unroll agree, memories reset
at episode starts, and on a partially observed task it learns what memory-free PPO cannot."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cli import main
from plastix.envs import make_env
from plastix.onpolicy import RecurrentPPO, RecurrentPPOConfig


def method(cell="gru", **kw):
    config = RecurrentPPOConfig(
        hidden_sizes=(16,), memory_size=8, cell=cell, rollout_steps=32, bptt=8, **kw
    )
    return RecurrentPPO(config, make_env("pomdp:CartPole-v1"), 10_000)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_step_at_a_time_equals_the_unroll_and_starts_reset_the_memory(cell):
    m = method(cell)
    policy, params = m.policy, m.policy.init(jax.random.key(0))["actor"]
    obs = jax.random.normal(jax.random.key(1), (10, 3, 2))
    start = jnp.zeros((10, 3), bool).at[6, 1].set(True)  # copy 1 starts an episode at step 6
    memory = jax.tree.map(lambda z: z + 0.5, policy.zero_memory(3))  # some earlier memory
    unrolled = policy.unroll(policy.actor, params, memory, obs, start)
    mem, stepped = memory, []
    for t in range(10):
        mem, out = policy.step(policy.actor, params, mem, obs[t], start[t])
        stepped.append(out)  # logits (CartPole's actions are discrete)
    np.testing.assert_allclose(unrolled, jnp.stack(stepped), rtol=1e-6, atol=1e-6)
    # from its start on, copy 1 acts as a fresh episode whatever came before
    fresh = policy.unroll(
        policy.actor, params, policy.zero_memory(3), obs[6:], jnp.zeros((4, 3), bool)
    )
    np.testing.assert_allclose(unrolled[6:, 1], fresh[:, 1], rtol=1e-6, atol=1e-6)
    assert not np.allclose(unrolled[6:, 0], fresh[:, 0])  # the others remember


def test_training_sequences_reproduce_the_roll_out_log_probabilities():
    """Each training sequence unrolls from the memory stored at its first step, with the
    episode starts of the roll-out: the log-probabilities are the roll-out's, so PPO's ratio
    starts at 1 (the roll-out runs past several episode ends)."""
    m = method()
    state = m.init(jax.random.key(0))
    carry, (traj, start, *_rest, actor, _) = m.rollout(state.params, state.envs, jax.random.key(1))
    assert traj.done.sum() > 2
    n, length = 4, m.config.bptt
    for k in range(m.config.rollout_steps // length):
        seq = slice(k * length, (k + 1) * length)
        memory = jax.tree.map(lambda x, k=k: x[k * length], actor)
        actor_params = state.params["actor"]
        dist = m.policy.unroll(m.policy.actor, actor_params, memory, traj.obs[seq], start[seq])
        logp = m.policy.log_prob(dist, traj.action[seq])
        np.testing.assert_allclose(logp, traj.log_prob[seq], rtol=1e-5, atol=1e-6)
    assert carry.start.shape == (n,)


def test_ppo_gru_trains_with_a_cure_and_refuses_bad_settings(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "ppo-gru", "--env", "pomdp:CueRoom-9x9", "--steps", "1024", "--seeds", "2"]
    argv += ["--hidden-sizes", "16", "--memory-size", "8", "--rollout-steps", "32"]
    assert main([*argv, "--reset.every", "512", "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and len(summary["per_seed"]) == 2
    capsys.readouterr()
    for bad, message in (
        (["--bptt", "5"], "bptt must be >= 1 and divide rollout_steps (32), got 5"),
        (["--cell", "rnn"], "cell must be one of gru, lstm; got 'rnn'"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main([*argv, *bad, "--out", str(tmp_path / "b")])
        assert exit_info.value.code == 2
        assert message in " ".join(capsys.readouterr().err.replace("│", " ").split())
    assert not (tmp_path / "b").exists()


@pytest.mark.slow  # about 2 minutes: two PPO runs
def test_memory_learns_cartpole_without_velocities(tmp_path):
    def train(agent):
        out = tmp_path / agent
        argv = ["train", agent, "--env", "pomdp:CartPole-v1", "--steps", "100000", "--seeds", "2"]
        assert main([*argv, "--out", str(out), "--no-progress"]) == 0
        summary = json.loads((out / "summary.json").read_text())
        return np.array([s["final_eval_return"] for s in summary["per_seed"]])

    assert (train("ppo") <= 150).all()
    assert (train("ppo-gru") >= 300).all()


def test_redo_marks_the_memory_cells_input_rows_of_a_dormant_torso_unit():
    from plastix.plasticity.interventions.redo import redo_masks

    m = method()  # a 16-unit torso, an 8-unit GRU
    params = m.policy.init(jax.random.key(0))
    h = jnp.ones((32, 16)).at[:, 3].set(0.0)  # unit 3 of the torso never fires
    incoming, outgoing = redo_masks(params, {"actor": [{"torso/dense_0": h}]}, 0.0, ("actor",))
    assert incoming["actor"]["torso"]["dense_0"]["kernel"][:, 3].all()
    assert incoming["actor"]["torso"]["dense_0"]["kernel"].sum() == 2  # CartPole's 2 inputs
    cell = outgoing["actor"]["memory"]
    for gate in ("ir", "iz", "in"):
        assert cell[gate]["kernel"][3].all() and cell[gate]["kernel"].sum() == 8
    for gate in ("hr", "hz", "hn"):
        assert not cell[gate]["kernel"].any()
    assert not outgoing["actor"]["head"]["kernel"].any()
