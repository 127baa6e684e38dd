import json
import os
import shutil

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import plastix
from plastix import runs
from plastix.envs import probes
from plastix.training.checkpoint import CHECKPOINT_FILE

TINY = dict(
    steps=600,
    eval_every=300,
    eval_episodes=2,
    log_every=300,
    progress=False,
    hidden_sizes=(16,),
    batch_size=16,
    learning_starts=100,
)


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "dqn-cartpole"
    result = plastix.train("dqn", "CartPole-v1", seeds=2, out=out, **TINY)
    return out, result


def test_run_directory_holds_config_metrics_summary(stored_run):
    out, result = stored_run
    assert {p.name for p in out.iterdir()} == {
        runs.CONFIG_FILE,
        runs.METRICS_FILE,
        runs.SUMMARY_FILE,
        runs.PARAMS_FILE,
        runs.LOCK_FILE,
        CHECKPOINT_FILE,
    }
    config = json.loads((out / runs.CONFIG_FILE).read_text())
    assert config["agent"] == "dqn"
    assert config["run"]["env"] == "CartPole-v1" and config["run"]["seeds"] == 2
    assert config["agent_config"]["hidden_sizes"] == [16]
    assert "gamma" in config["agent_config"] and "replay_ratio" in config["run"]
    summary = json.loads((out / runs.SUMMARY_FILE).read_text())
    assert summary["status"] == "completed" and summary["steps_done"] == 600
    assert [s["seed"] for s in summary["per_seed"]] == [0, 1]
    assert summary["steps_per_second"] > 0 and summary["compile_seconds"] > 0
    stored = pd.read_parquet(out / runs.METRICS_FILE)
    pd.testing.assert_frame_equal(stored, result.metrics, check_dtype=False)


def test_rerun_from_config_reproduces_the_run(stored_run, tmp_path):
    out, result = stored_run
    again = plastix.rerun(out, out=tmp_path / "again", progress=False)
    keep = lambda m: m[m.metric != "steps_per_second"].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(keep(again.metrics), keep(result.metrics))


def test_load_policy_predicts_like_the_trained_agent(stored_run):
    out, result = stored_run
    policy = plastix.load_policy(out)
    obs = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    for seed in (0, 1):
        np.testing.assert_array_equal(
            policy.predict(obs, seed=seed), result.predict(obs, seed=seed)
        )
    with pytest.raises(IndexError, match="2 seeds"):
        policy.predict(obs, seed=2)


def test_load_runs_gives_one_table_for_a_folder_of_runs(stored_run):
    out, _ = stored_run
    second = out.parent / "sac-probe"
    plastix.train("sac", "Pendulum-v1", out=second, **TINY)
    table = plastix.load_runs(out.parent)
    assert set(table.run) == {str(out), str(second)}
    assert set(table.agent) == {"dqn", "sac"}
    assert list(table.columns) == [
        "run",
        "agent",
        "env",
        "replay_ratio",
        "status",
        "seed",
        "step",
        "metric",
        "value",
    ]
    assert len(plastix.load_runs(out)) == len(pd.read_parquet(out / runs.METRICS_FILE))


def test_existing_run_is_never_overwritten_unless_asked(stored_run):
    out, _ = stored_run
    before = (out / runs.METRICS_FILE).read_bytes()
    with pytest.raises(runs.RunExistsError, match="--overwrite"):
        plastix.train("dqn", "CartPole-v1", out=out, **TINY)
    assert (out / runs.METRICS_FILE).read_bytes() == before


def test_overwrite_replaces_a_run_and_nothing_else(stored_run, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with pytest.raises(runs.RunExistsError, match="only replaces a plastix run"):
        plastix.train("dqn", "CartPole-v1", out=out, overwrite=True, **TINY)
    assert (out / "stale.txt").read_text() == "old"
    copy = tmp_path / "copy"
    shutil.copytree(stored_run[0], copy)
    plastix.train("dqn", "CartPole-v1", out=copy, overwrite=True, seed=7, **TINY)
    assert runs.load_summary(copy)["seeds"] == [7]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    runs.atomic_write_json(target, {"a": 1})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        runs.atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temp file left


class NaNReward(probes.OneStep):
    """Pays NaN: the first update makes the loss NaN."""

    def reward(self, t, action):
        return jnp.float32(jnp.nan)


def test_nan_loss_stops_the_run_and_keeps_what_was_written(tmp_path):
    out = tmp_path / "nan"
    with pytest.raises(plastix.TrainingDiverged, match="critic_loss = nan"):
        plastix.train("dqn", NaNReward(), out=out, **TINY)
    summary = json.loads((out / runs.SUMMARY_FILE).read_text())
    assert summary["status"] == "diverged"
    assert summary["steps_done"] == 300  # stopped after the first logging interval
    metrics = pd.read_parquet(out / runs.METRICS_FILE)
    assert "episode_return" in set(metrics.metric)
    assert (out / runs.CONFIG_FILE).exists()


def test_atomic_writes_get_an_ordinary_file_mode(tmp_path):
    runs.atomic_write_bytes(tmp_path / "x", b"data")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "x").stat().st_mode & 0o777 == 0o666 & ~umask
