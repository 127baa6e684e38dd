"""Continual scenarios: tasks switch inside the compiled loop at exactly the step asked for, on
every vmapped seed and copy; evaluation runs on the current task; per-task metrics are stored."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import plastix
from plastix import runs
from plastix.cli import main
from plastix.envs import make_env
from plastix.envs.continual import MINATAR_ACTIONS, _minatar_action, make_scenario
from plastix.errors import ConfigError

TINY_DQN = dict(hidden_sizes=(16,), batch_size=16, learning_starts=100)
QUIET = dict(eval_episodes=2, progress=False)


def test_a_switch_lands_on_exactly_step_n_for_every_seed_and_copy():
    """DQN's compiled chunk, 3 seeds vmapped × 2 copies: every copy is in task 0 up to step
    N and in task 1 from it; the step that crosses N ends every copy's episode (truncated
    unless it terminated), and the buffer's transition of that step says so."""
    n, copies, seeds = 300, 2, 3
    run = plastix.RunConfig(
        steps=600, seeds=seeds, num_envs=copies, scenario="permuted", switch_every=n
    )
    config = plastix.DQNConfig(**TINY_DQN)
    runner = plastix.api.prepare("dqn", config, run, progress=False)
    learner = runner.program.learner
    state = jax.jit(jax.vmap(learner.init))(plastix.keys.seed_keys(0, seeds))
    chunk = jax.jit(jax.vmap(lambda s, k: learner.chunk(s, k), in_axes=(0, None)), static_argnums=1)
    before, out_before, *_ = chunk(state, n // copies - 1)
    assert np.all(np.asarray(before.env_state.task) == 0)
    assert np.all(np.asarray(before.env_state.clock) == n - copies)
    after, out, *_ = chunk(before, 1)
    assert np.all(np.asarray(after.env_state.task) == 1)
    assert np.all(np.asarray(after.env_state.clock) == n)
    assert np.all(np.asarray(out.done)[:, -1])  # [seeds, 1 iteration, copies]
    buffer = after.buffer
    last = int(np.asarray(buffer.position)[0]) - 1  # the row of the switching step
    ended = np.asarray(buffer.data.truncated)[:, last] | np.asarray(buffer.data.terminated)[:, last]
    assert ended.all()
    # the steps before: only ends of real episodes (CartPole has no time limit this early)
    assert not np.asarray(buffer.data.truncated)[:, :last].any()


def test_evaluation_runs_on_the_current_task_and_per_task_metrics_are_stored(tmp_path):
    """Task 1 makes CartPole end at once (x_threshold 0: terminal from the reset, reward 0):
    every evaluation inside task 1 returns exactly 0, those in tasks 0 and 2 more; task ends,
    task indices and the per-seed task-end returns are in the run store, and the record reads
    back."""
    out = tmp_path / "run"
    result = plastix.train(
        "dqn",
        "CartPole-v1",
        steps=1500,
        seeds=2,
        scenario="dynamics",
        scenario_tasks=("x_threshold=0.0", "length=0.5"),
        switch_every=500,
        eval_every=250,
        log_every=250,
        out=out,
        **QUIET,
        **TINY_DQN,
    )
    m = runs.load_metrics(out)
    evals = m[m.metric == "eval_return"].pivot_table(index="step", columns="seed", values="value")
    tasks = m[m.metric == "task"].pivot_table(index="step", columns="seed", values="value")
    assert list(tasks.index) == [250, 500, 750, 1000, 1250, 1500]
    np.testing.assert_array_equal(tasks[0].to_numpy(), [0, 0, 1, 1, 2, 2])
    in_task_1 = evals.loc[[750, 1000]].to_numpy()
    np.testing.assert_array_equal(in_task_1, 0.0)
    assert (evals.loc[[250, 500, 1250, 1500]].to_numpy() > 1.0).all()
    ends = m[m.metric == "task_end_return"].pivot_table(
        index="step", columns="seed", values="value"
    )
    assert list(ends.index) == [500, 1000, 1500]
    np.testing.assert_array_equal(ends.loc[1000].to_numpy(), 0.0)
    summary = runs.load_summary(out)
    assert summary["scenario"].startswith("dynamics: CartPole-v1 → CartPole-v1 x_threshold=0.0")
    for k, per_seed in enumerate(summary["per_seed"]):
        assert per_seed["task_end_returns"] == list(ends[k].to_numpy())
    record = plastix.api.read_record(out)
    assert record.run.scenario_tasks == ("x_threshold=0.0", "length=0.5")
    assert result.summary["per_seed"] == summary["per_seed"]


@pytest.mark.parametrize(
    "agent, every, options",
    [
        ("ppo", 256, dict(parallel_envs=2, rollout_steps=64, minibatches=2, epochs=1)),
        ("reinforce", 512, dict(episodes_per_iteration=1)),  # longest batch: 500 steps
    ],
)
def test_on_policy_agents_train_on_scenarios(agent, every, options):
    """PPO's copies switch inside the roll-out at the exact step; REINFORCE's batches run in
    the task of their first step, a seed that reaches a switch waiting for the others; both
    evaluate each task at its end, on every seed."""
    result = plastix.train(
        agent,
        "CartPole-v1",
        steps=4 * every,
        seeds=2,
        scenario="dynamics",
        scenario_tasks=("x_threshold=0.0",),
        switch_every=every,
        eval_every=every,
        log_every=every,
        hidden_sizes=(8,),
        **QUIET,
        **options,
    )
    m = result.metrics
    ends = m[m.metric == "task_end_return"]
    assert ends.step.nunique() >= 3
    for per_seed in result.summary["per_seed"]:
        returns = per_seed["task_end_returns"]
        assert returns[1] == 0.0 and returns[0] > 1.0  # task 1 ends at once
    assert ends.groupby("seed").size().tolist() == [4, 4]
    if agent == "ppo":
        assert sorted(ends.step.unique()) == [256, 512, 768, 1024]
        assert np.all(np.asarray(result.state.envs.state.clock) == 1024)
    else:  # every seed waited at each switch: its task ends lie within one batch after it
        for k in range(4):
            at = ends.groupby("seed").step.nth(k).to_numpy()
            assert ((at >= (k + 1) * every) & (at < (k + 1) * every + 500)).all()


def test_a_minatar_sequence_pads_channels_and_shares_the_full_action_set():
    env = make_scenario("sequence", "Breakout-MinAtar", 100, ("Freeway-MinAtar",), 1)
    assert env.observation_space.shape == (10, 10, 7)
    assert env.action_space.n == MINATAR_ACTIONS
    obs, state = env.reset(jax.random.key(0))
    assert obs.shape == (10, 10, 7) and not np.asarray(obs[..., 4:]).any()  # Breakout: 4 channels
    breakout, freeway = env.envs
    # Breakout's set is (no-op, left, right): up, down and fire do nothing there
    np.testing.assert_array_equal(
        [int(_minatar_action(breakout, a)) for a in range(6)], [0, 1, 0, 2, 0, 0]
    )
    np.testing.assert_array_equal(  # Freeway's is (no-op, up, down)
        [int(_minatar_action(freeway, a)) for a in range(6)], [0, 0, 1, 0, 2, 0]
    )
    step = jax.jit(env.step)
    for t in range(100):
        ts, state = step(jax.random.key(t), state, jnp.int32(t % 6))
    assert int(state.task) == 1 and bool(ts.truncated | ts.terminated)
    assert np.asarray(ts.obs).shape == (10, 10, 7)
    assert np.asarray(ts.obs[..., 4:]).any()  # Freeway's cars and speeds


def test_permuted_observations():
    """Task 0 as it is; task k a fixed permutation, the same in every run: vector features
    permuted, image positions permuted with the channels kept together."""
    env = make_scenario("permuted", "CartPole-v1", 10, (), 1)
    inner = make_env("CartPole-v1")
    key = jax.random.key(3)
    plain, _ = inner.reset(key)
    for task, same in ((0, True), (1, False), (2, False)):
        obs, state = env.pinned(task * 10).reset(key)
        assert int(state.task) == task
        np.testing.assert_array_equal(np.sort(np.asarray(obs)), np.sort(np.asarray(plain)))
        assert np.array_equal(np.asarray(obs), np.asarray(plain)) == same
    again, _ = make_scenario("permuted", "CartPole-v1", 10, (), 1).pinned(10).reset(key)
    np.testing.assert_array_equal(env.pinned(10).reset(key)[0], again)
    image = make_scenario("permuted", "Breakout-MinAtar", 10, (), 1)
    raw, _ = make_env("Breakout-MinAtar").reset(key)
    obs, _ = image.pinned(10).reset(key)
    pixels = lambda o: sorted(map(tuple, np.asarray(o).reshape(100, 4).tolist()))  # noqa: E731
    assert pixels(obs) == pixels(raw) and not np.array_equal(obs, raw)


def test_a_pinned_scenario_never_switches():
    env = make_scenario("permuted", "CartPole-v1", 12, (), 4).pinned(25)
    obs, state = env.reset(jax.random.key(0))
    for t in range(30):
        ts, state = env.step(jax.random.key(t), state, jnp.int32(0))
    assert int(state.task) == 2 and int(state.clock) == 25


def test_dynamics_overrides_recompute_cartpole_s_derived_parameters():
    env = make_scenario("dynamics", "CartPole-v1", 10, ("length=2.0,masspole=0.3",), 1)
    params = jax.tree.map(lambda p: np.asarray(p)[1], env.params)
    assert params.length == 2.0 and params.masspole == pytest.approx(0.3)
    assert params.polemass_length == pytest.approx(0.6)
    assert params.total_mass == pytest.approx(1.3)
    default = jax.tree.map(lambda p: np.asarray(p)[0], env.params)
    assert default.length == 0.5 and default.polemass_length == pytest.approx(0.05)


@pytest.mark.parametrize(
    "args, message",
    [
        (("dynamics", "CartPole-v1", 10, ("lenght=2",), 1), "its parameters: force_mag"),
        (("dynamics", "CartPole-v1", 10, ("length=big",), 1), "'big' is not a number"),
        (("dynamics", "CartPole-v1", 10, (), 1), "needs scenario_tasks"),
        (("permuted", "CartPole-v1", 10, ("Acrobot-v1",), 1), "takes no scenario_tasks"),
        (("sequence", "CartPole-v1", 10, ("Breakout-MinAtar",), 1), "same shape except"),
        (("sequence", "CartPole-v1", 10, ("Acrobot-v1",), 1), "one action space"),
        (("sequence", "Breakout-MinAtar", 10, ("Pong-MinAtar",), 1), "unknown: Pong-MinAtar"),
        (("permuted", "CartPole-v1", 10, (), 4), "multiple of the 4 environment copies"),
        (("permuted", "gymnasium:CartPole-v1", 10, (), 1), "jittable environments"),
    ],
)
def test_bad_scenarios_are_refused_by_name(args, message):
    with pytest.raises(ConfigError, match=message):
        make_scenario(*args)


def test_the_cli_trains_on_a_scenario_and_refuses_bad_ones(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "dqn", "--steps", "400", "--scenario", "permuted", "--switch-every", "200"]
    argv += ["--eval-every", "200", "--eval-episodes", "1", "--hidden-sizes", "8"]
    argv += ["--learning-starts", "100", "--batch-size", "8", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    assert len(runs.load_summary(out)["per_seed"][0]["task_end_returns"]) == 2
    bad = [
        (["--scenario", "permuted"], "1 <= switch_every"),
        (["--switch-every", "100"], "set scenario too"),
        (["--scenario", "shuffled", "--switch-every", "100"], "valid choices: none, permuted"),
    ]
    for extra, message in bad:
        with pytest.raises(SystemExit) as e:
            main(["train", "dqn", "--steps", "400", *extra])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert message in " ".join(err.replace("│", " ").split())
    assert main(["train", "ppo", "--scenario", "permuted", "--switch-every", "100"]) == 2
    assert "multiple of 512" in capsys.readouterr().err
    assert main(["train", "es", "--scenario", "permuted", "--switch-every", "100"]) == 2
    assert "does not run continual scenarios" in capsys.readouterr().err
