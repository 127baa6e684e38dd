"""A cell's seeds split into groups that train apart (``--seeds-per-task``) merge into the run
the cell gives with all its seeds vmapped together; groups a stopped driver finished are kept."""

import json

import pandas as pd
from rich.console import Console

import plastix
from plastix import api
from plastix.config import RunConfig
from plastix.experiments import seedgroups
from plastix.experiments.cluster import Job, run_jobs, train

QUIET = Console(quiet=True)


def job(out, seeds=4) -> Job:
    agent = dict(hidden_sizes=(16,), learning_starts=100, batch_size=16)
    run = RunConfig(
        env="CartPole-v1",
        steps=1200,
        seeds=seeds,
        eval_every=400,
        eval_episodes=2,
        log_every=400,
        out=str(out),
        overwrite=True,
    )
    return Job("dqn CartPole-v1", "dqn", api.agent_config("dqn", agent), run)


def metrics(run_dir) -> pd.DataFrame:
    frame = pd.read_parquet(run_dir / "metrics.parquet")
    frame = frame[frame.metric != "steps_per_second"]
    return frame.sort_values(["seed", "step", "metric"], kind="stable").reset_index(drop=True)


def test_seed_groups_merge_into_the_vmapped_run_and_finished_groups_are_kept(tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    run_jobs([job(whole)], "local", QUIET, progress=False)
    parts = seedgroups.split(job(split), 2)
    assert [(p.run.seed, p.run.seeds) for p in parts] == [(0, 2), (2, 2)]
    train(parts[0])  # a driver stopped after the first group finished
    done = run_jobs([job(split)], "local", QUIET, progress=False, seeds_per_task=2)
    assert done["tasks"] == 1 and done["seed_groups_kept"] == 1
    assert not seedgroups.groups_folder(split).exists()

    ca, cb = (json.loads((d / "config.json").read_text()) for d in (whole, split))
    assert ca["run"].pop("out") != cb["run"].pop("out")
    assert ca == cb
    pd.testing.assert_frame_equal(metrics(whole), metrics(split))
    assert (whole / "params.msgpack").read_bytes() == (split / "params.msgpack").read_bytes()
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (whole, split))
    assert sb["status"] == "completed" and sb["seeds"] == [0, 1, 2, 3]
    assert sa["per_seed"] == sb["per_seed"]
    assert sa["steps_per_seed"] == sb["steps_per_seed"]
    assert sb["final_eval_return_mean"] == sa["final_eval_return_mean"]
    assert [g["seeds"] for g in sb["seed_groups"]] == [[0, 1], [2, 3]]
    assert not (split / "checkpoint.msgpack").exists()
    # the merged run is one run of 4 seeds to every reader
    assert api.read_record(split).run.seeds == 4
    policy, reference = plastix.load_policy(split), plastix.load_policy(whole)
    assert policy.num_seeds == 4
    obs = [[0.01, -0.02, 0.03, 0.0], [0.1, 0.3, -0.05, -0.4]]
    for seed in range(4):
        assert (policy.predict(obs, seed) == reference.predict(obs, seed)).all()


def test_summaries_of_groups_join_per_seed_sum_timings_and_keep_the_worst_status():
    a = dict(
        status="completed",
        seeds=[0, 1],
        per_seed=[{"seed": 0, "final_eval_return": 1.0}, {"seed": 1, "final_eval_return": 3.0}],
        steps_per_seed=[100, 100],
        train_seconds=2.0,
        wall_seconds=3.0,
        host="a",
        pid=1,
        env="CartPole-v1",
        final_eval_return_mean=2.0,
        replay_ratio_switch_steps=[None, 400],
    )
    b = dict(
        a,
        status="diverged",
        seeds=[2],
        per_seed=[{"seed": 2, "final_eval_return": 8.0}],
        steps_per_seed=[50],
        train_seconds=1.0,
        wall_seconds=1.5,
        host="b",
        pid=2,
        final_eval_return_mean=8.0,
        replay_ratio_switch_steps=[300],
    )
    out = seedgroups.merge_summaries([a, b], [2, 1])
    assert out["status"] == "diverged"
    assert out["seeds"] == [0, 1, 2] and out["replay_ratio_switch_steps"] == [None, 400, 300]
    assert out["final_eval_return_mean"] == 4.0
    assert out["train_seconds"] == 3.0 and out["wall_seconds"] == 4.5
    assert out["steps_done"] == 50 and out["steps_per_second"] == 250 / 3.0
    assert out["env"] == "CartPole-v1" and "host" not in out and "pid" not in out
    assert [(g["host"], g["pid"]) for g in out["seed_groups"]] == [("a", 1), ("b", 2)]
