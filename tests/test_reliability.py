"""Nothing lost, nothing misleading: every way a run can end leaves a consistent folder and a
true status; overwriting never destroys a run before its replacement exists; one writer per
run; readers name corrupt runs instead of failing; bad input is refused before any work.

Each case here is a row of docs/reliability.md."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import gymnasium
import jax.numpy as jnp
import numpy as np
import pytest

import plastix
from plastix import runs
from plastix.cli import main
from plastix.envs import probes
from plastix.envs.spaces import Box, Discrete
from plastix.training.checkpoint import CHECKPOINT_FILE

TINY = ["--hidden-sizes", "16", "--batch-size", "16", "--learning-starts", "100", "--no-progress"]
TINY += ["--eval-every", "1000", "--eval-episodes", "2", "--log-every", "250", "--seeds", "2"]


def train_argv(out, steps=1000, *extra):
    base = ["train", "dqn", "--env", "CartPole-v1", "--steps", str(steps), "--out", str(out)]
    return base + TINY + list(extra)


def snapshot(path):
    """Every file's bytes (the lock aside: each claim writes its holder's pid into it)."""
    files = [p for p in sorted(path.rglob("*")) if p.is_file() and p.name != runs.LOCK_FILE]
    return {p.relative_to(path): p.read_bytes() for p in files}


def err(capsys) -> str:
    return " ".join(capsys.readouterr().err.replace("│", " ").split())


@pytest.fixture(scope="module")
def completed(tmp_path_factory):
    """A finished run, copied by tests that need one."""
    out = tmp_path_factory.mktemp("done") / "run"
    assert main(train_argv(out)) == 0
    return out


def copy_of(run, tmp_path, name="run"):
    target = tmp_path / name
    shutil.copytree(run, target)
    return target


def spawn(argv):
    return subprocess.Popen(
        [sys.executable, "-m", "plastix", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(condition, proc, timeout=300):
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline
        time.sleep(0.02)


# overwriting ------------------------------------------------------------------------------


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("x")
    assert main(train_argv(folder, 1000, "--overwrite")) == 2
    assert "only replaces a plastix run directory" in err(capsys)
    assert (folder / "a.txt").read_text() == "x"


def test_overwrite_refuses_the_current_folder(completed, tmp_path, capsys, monkeypatch):
    run = copy_of(completed, tmp_path)
    before = snapshot(run)
    monkeypatch.chdir(run)
    assert main(train_argv(".", 1000, "--overwrite")) == 2
    assert "current folder" in err(capsys)
    assert snapshot(run) == before


def test_overwrite_killed_while_compiling_keeps_the_old_run(completed, tmp_path):
    run = copy_of(completed, tmp_path)
    before = snapshot(run)
    proc = spawn(train_argv(run, 1000, "--overwrite"))
    staging = tmp_path / f".run.new-{proc.pid}"
    wait_for(lambda: (staging / runs.CONFIG_FILE).exists(), proc)
    proc.kill()
    proc.wait()
    assert snapshot(run) == before  # the old run, whole
    assert runs.find_runs(tmp_path) == [run]  # the staging folder is not a run
    # the next overwrite clears the dead staging folder and replaces the run
    assert main(train_argv(run, 500, "--overwrite")) == 0
    assert not staging.exists()
    assert runs.load_summary(run)["steps"] == 500


def test_overwrite_replaces_a_completed_run_once_the_new_one_has_files(completed, tmp_path):
    run = copy_of(completed, tmp_path)
    assert main(train_argv(run, 500, "--overwrite")) == 0
    summary = runs.load_summary(run)
    assert summary["status"] == "completed" and summary["steps"] == 500
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# one writer ------------------------------------------------------------------------------


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path, capsys):
    out = tmp_path / "shared"
    first = spawn(train_argv(out, 40_000, "--checkpoint-seconds", "0"))
    wait_for(lambda: (out / CHECKPOINT_FILE).exists(), first)
    assert main(train_argv(out, 1000)) == 2
    assert "already exists" in err(capsys)
    assert main(train_argv(out, 1000, "--overwrite")) == 2
    assert "being written by" in err(capsys)
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=120)
    assert runs.load_config(out)["run"]["steps"] == 40_000


# endings ------------------------------------------------------------------------------------


def test_ctrl_c_on_a_jittable_run_ends_interrupted_with_parameters(tmp_path):
    out = tmp_path / "ctrl-c"
    proc = spawn(train_argv(out, 40_000, "--checkpoint-seconds", "0"))
    wait_for(lambda: (out / CHECKPOINT_FILE).exists(), proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    summary = runs.load_summary(out)
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGINT"
    assert 0 < summary["steps_done"] < 40_000
    assert (out / runs.PARAMS_FILE).exists() and "state_lost" not in summary
    policy = plastix.load_policy(out)
    assert policy.predict(np.zeros(4, np.float32)) in (0, 1)
    assert main(["ls", str(out)]) == 0


class NaNReward(probes.OneStep):
    """Pays NaN: the first update makes the loss NaN."""

    def reward(self, t, action):
        return jnp.float32(jnp.nan)


def test_a_second_ctrl_c_stops_at_once_and_leaves_a_true_status(tmp_path):
    out = tmp_path / "twice"
    proc = spawn(train_argv(out, 40_000, "--checkpoint-seconds", "0", "--log-every", "10000"))
    wait_for(lambda: (out / CHECKPOINT_FILE).exists(), proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    stderr = proc.stderr.read().decode()
    assert "Traceback" not in stderr and "has been deleted" not in stderr
    summary = runs.load_summary(out)
    assert summary["status"] == "interrupted"
    assert plastix.resume(out, progress=False).summary["status"] == "completed"


def test_a_divergence_ends_diverged(tmp_path):
    with pytest.raises(plastix.TrainingDiverged):
        plastix.train(
            "dqn",
            NaNReward(),
            steps=600,
            out=tmp_path / "nan",
            progress=False,
            learning_starts=100,
            batch_size=16,
        )
    assert runs.run_status(tmp_path / "nan") == "diverged"


def test_a_full_disk_ends_the_run_with_a_message_and_a_readable_folder(tmp_path, capsys):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        out = disk / "run"
        code = main(train_argv(out, 20_000, "--buffer-size", "20000", "--checkpoint-seconds", "0"))
        assert code == 2
        assert "No space left on device" in err(capsys)
        summary = runs.load_summary(out)  # still whole JSON
        assert summary["status"] == "failed" and "No space left" in summary["error"]
        assert runs.run_status(out) == "failed"
        assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_state_that_cannot_be_serialised_still_leaves_a_true_summary(tmp_path, monkeypatch):
    from plastix.training.book import Writer

    def refuse(*args, **kwargs):
        raise TypeError("can not serialize 'Data' object")

    monkeypatch.setattr(Writer, "checkpoint", refuse)
    out = tmp_path / "run"
    assert main(train_argv(out, 500)) == 0
    summary = runs.load_summary(out)
    assert summary["status"] == "completed" and runs.run_status(out) == "completed"
    assert summary["not_written"] == ["checkpoint: TypeError: can not serialize 'Data' object"]
    assert plastix.load_runs(out).query("metric == 'eval_return'").shape[0] > 0


# readers ------------------------------------------------------------------------------------


def test_readers_name_corrupt_runs_and_read_the_rest(completed, tmp_path, capsys):
    folder = tmp_path / "runs"
    good = copy_of(completed, folder, "good")
    empty_config = copy_of(completed, folder, "empty-config")
    (empty_config / runs.CONFIG_FILE).write_text("{}")
    garbage = copy_of(completed, folder, "garbage-summary")
    (garbage / runs.SUMMARY_FILE).write_text("{not json")
    truncated = copy_of(completed, folder, "truncated-metrics")
    data = (truncated / runs.METRICS_FILE).read_bytes()
    (truncated / runs.METRICS_FILE).write_bytes(data[: len(data) // 2])
    dead = copy_of(completed, folder, "dead")
    summary = json.loads((dead / runs.SUMMARY_FILE).read_text())
    (dead / runs.SUMMARY_FILE).write_text(json.dumps(dict(summary, status="running")))

    assert main(["ls", str(folder)]) == 0
    output = capsys.readouterr()
    assert "dead" in output.out and "good" in output.out
    for name in ("empty-config", "garbage-summary"):
        assert name in output.err
    with pytest.warns(UserWarning, match="truncated-metrics"):
        table = plastix.load_runs(folder)
    assert set(table.run) == {str(good), str(dead)}
    assert set(table[table.run == str(dead)].status) == {"dead"}
    with pytest.warns(UserWarning):
        assert main(["report", str(folder), "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "(dead)" in report and "truncated-metrics" in report
    assert str(dead) not in report.split("## Runs")[1].split("Left out")[0]
    with pytest.raises(plastix.ConfigError, match="not a complete run record"):
        plastix.load_policy(empty_config)


def test_a_stored_config_is_read_strictly(completed, tmp_path):
    run = copy_of(completed, tmp_path)
    config = json.loads((run / runs.CONFIG_FILE).read_text())
    del config["run"]["env"]
    config["agent_config"]["learning_rte"] = 0.1
    (run / runs.CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(plastix.ConfigError, match="unknown field.*learning_rte"):
        plastix.rerun(run, progress=False)
    config["agent_config"].pop("learning_rte")
    (run / runs.CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(plastix.ConfigError, match=r"run: missing field\(s\) env"):
        plastix.load_policy(run)
    config["run"]["env"] = "CartPole-v1"
    config["plastix_version"] = "0.1.0"
    (run / runs.CONFIG_FILE).write_text(json.dumps(config))
    assert "recorded by plastix 0.1.0" in plastix.read_record(run).version_note
    with pytest.warns(UserWarning, match="recorded by plastix 0.1.0"):
        plastix.load_policy(run)
    # a record from before the ARR counted episodes holds check_every and none of its new
    # fields: it is read (with the version note); a current record with check_every is not
    schedule = config["plasticity"]["replay_schedule"]
    for name in ("check_episodes", "poll_every", "window"):
        schedule.pop(name)
    schedule["check_every"] = 10_000
    (run / runs.CONFIG_FILE).write_text(json.dumps(config))
    assert plastix.read_record(run).plasticity.replay_schedule.check_episodes == 50
    (run / runs.CONFIG_FILE).write_text(json.dumps(dict(config, plastix_version="0.7.0")))
    with pytest.raises(plastix.ConfigError, match="unknown field.*check_every"):
        plastix.read_record(run)
    (run / runs.CONFIG_FILE).write_text(json.dumps(dict(config, agent="trpo")))
    with pytest.raises(plastix.ConfigError, match="unknown agent 'trpo'. Valid choices: dqn"):
        plastix.rerun(run, progress=False)


class OutOfBox(gymnasium.Env):
    """A Gymnasium environment whose first observation is outside its box."""

    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        return np.array([0.5, 3.0], np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, True, False, {}


def test_observations_outside_their_box_are_refused(tmp_path):
    with pytest.raises(plastix.ConfigError, match=r"entry \(1,\): 3.0 not in \[-1.0, 1.0\]"):
        plastix.train("dqn", OutOfBox(), steps=100, out=tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()


def test_a_damaged_checkpoint_is_refused_and_nothing_is_rewritten(completed, tmp_path, capsys):
    run = copy_of(completed, tmp_path)
    data = (run / CHECKPOINT_FILE).read_bytes()
    (run / CHECKPOINT_FILE).write_bytes(data[: len(data) // 3])
    summary = json.loads((run / runs.SUMMARY_FILE).read_text())
    (run / runs.SUMMARY_FILE).write_text(json.dumps(dict(summary, status="interrupted")))
    before = snapshot(run)
    assert main(["resume", str(run)]) == 2
    assert "damaged" in err(capsys)
    assert snapshot(run) == before


# bad input ----------------------------------------------------------------------------------

BAD_INPUTS = [
    (["--replay-ratio", "1e9"], "replay_ratio must be > 0 and <= 1024"),
    (["--replay-ratio", "inf"], "replay_ratio must be > 0 and <= 1024"),
    (["--steps", "3000000000"], "up to 2,000,000,000"),
    (["--steps", "400", "--batch-size", "5000"], "larger than the replay buffer"),
    (["--buffer-size", "3000000000", "--steps", "2000000000", "--seeds", "8"], "GiB free"),
    (["--steps", "1000000000", "--replay-ratio", "16"], "32-bit update counter"),
    (["--env", "gymnasium:Blackjack-v1"], "observation space Tuple is not supported"),
    (["--env", "CartPol-v1"], "Did you mean: CartPole-v1"),
    (["--seeds", "0"], "seeds must be in 1..100,000"),
]


@pytest.mark.parametrize("argv, message", BAD_INPUTS)
def test_bad_input_exits_2_naming_the_problem_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "never"
    base = ["train", "dqn", "--out", str(out), "--no-progress"]
    try:
        code = main(base + argv)
    except SystemExit as e:  # refused while parsing
        code = e.code
    assert code == 2
    assert message in err(capsys)
    assert not out.exists() or not any(out.iterdir())


def test_a_read_only_folder_is_refused_with_a_message(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere; the permission check cannot be seen")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    assert main(train_argv(folder / "run")) == 2
    assert "cannot" in err(capsys)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(steps="abc"), "steps must be an integer, got 'abc'"),
        (dict(hidden_sizes=0), "hidden_sizes must be a tuple of integers, got 0"),
        (dict(gamma="high"), "gamma must be a number"),
        (dict(double_dqn="yes"), "double_dqn must be true or false"),
    ],
)
def test_python_api_type_errors_name_the_field(kwargs, message):
    with pytest.raises(plastix.ConfigError, match=message):
        plastix.train("dqn", progress=False, **kwargs)


class WrongShape:
    """A jittable environment whose observations are not the shape it declares."""

    name = "wrong-shape"
    observation_space = Box.from_bounds(-1.0, 1.0, (3,))
    action_space = Discrete(2)
    max_episode_steps = 10

    def reset(self, key):
        return jnp.zeros(4), jnp.int32(0)

    def step(self, key, state, action):
        raise NotImplementedError


def test_an_environment_unlike_its_space_is_refused_before_the_folder(tmp_path):
    out = tmp_path / "x"
    with pytest.raises(plastix.ConfigError, match=r"shape \(4,\), but its observation space"):
        plastix.train("dqn", WrongShape(), steps=100, out=out, progress=False)
    assert not out.exists()


# in-context RL datasets ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def bandit_data(tmp_path_factory):
    from plastix.icrl.data import generate, save
    from plastix.icrl.tasks import Family, FamilyConfig, SourceConfig

    family = Family(FamilyConfig(arms=3, horizon=20))
    arrays, meta = generate(family, SourceConfig(source="random"), 8, seed=0)
    return save(tmp_path_factory.mktemp("icrl") / "d", arrays, meta)


def broken_copy(data, tmp_path, change):
    from plastix.icrl.data import load

    arrays, meta = load(data)
    change(arrays, meta)
    out = tmp_path / "broken"
    out.mkdir()
    np.savez(out / "data.npz", **arrays)
    (out / "meta.json").write_text(json.dumps(meta))
    return out


def nan_reward(arrays, meta):
    arrays["reward"][0, 3] = np.nan


def wrong_arms(arrays, meta):
    arrays["action"][1, 2] = 7


def fewer_tasks(arrays, meta):
    meta["num_tasks"] = 16


def other_family(arrays, meta):
    meta["family"] = {"family": "darkroom", "horizon": 20}


@pytest.mark.parametrize(
    "change, message",
    [
        (nan_reward, "reward holds 1 values that are NaN"),
        (wrong_arms, "outside bandit's 3 actions"),
        (fewer_tasks, "the meta says 16 tasks"),
        (other_family, "darkroom needs"),
    ],
)
def test_an_inconsistent_dataset_is_refused_before_training(
    bandit_data, tmp_path, capsys, change, message
):
    data = broken_copy(bandit_data, tmp_path, change)
    out = tmp_path / "model"
    argv = ["icrl", "train", "--data", str(data), "--method", "ad", "--out", str(out)]
    assert main([*argv, "--steps", "2"]) == 2
    assert message in err(capsys)
    assert not out.exists() or not any(out.iterdir())


def test_a_truncated_dataset_is_refused(bandit_data, tmp_path, capsys):
    data = tmp_path / "cut"
    shutil.copytree(bandit_data, data)
    raw = (data / "data.npz").read_bytes()
    (data / "data.npz").write_bytes(raw[: len(raw) // 2])
    argv = ["icrl", "train", "--data", str(data), "--method", "ad", "--out", str(tmp_path / "m")]
    assert main(argv) == 2
    assert "damaged or truncated" in err(capsys)
