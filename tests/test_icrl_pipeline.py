"""End to end at tiny budgets: data -> train -> eval for AD and DPT, through the command line;
checkpoint resumption; XLand-MiniGrid rulesets and histories."""

import json
import signal
import subprocess
import sys
import time

import flax.serialization
import jax
import numpy as np
import pytest

from plastix.cli import main
from plastix.icrl import data, training

SMALL = ["--dim", "16", "--layers", "1", "--heads", "2", "--batch-size", "16"]


def run(*argv):
    assert main(list(argv)) == 0


def test_bandit_ad_and_dpt_end_to_end(tmp_path):
    d, dpt_data = tmp_path / "data", tmp_path / "dpt-data"
    common = ["--arms", "3", "--horizon", "20", "--tasks", "256"]
    run("icrl", "data", "--source", "thompson", *common, "--out", str(d))
    run("icrl", "data", "--source", "dirichlet", *common, "--out", str(dpt_data))
    for method, dataset in (("ad", d), ("dpt", dpt_data)):
        out = tmp_path / method
        run(
            "icrl",
            "train",
            "--data",
            str(dataset),
            "--method",
            method,
            "--steps",
            "150",
            "--learning-rate",
            "3e-3",
            *SMALL,
            "--out",
            str(out),
        )
        losses = __import__("pandas").read_parquet(out / "metrics.parquet")["value"].to_numpy()
        assert losses[-1] < losses[0] - 0.1  # it learns its labels
        run("icrl", "eval", str(out), "--tasks", "50", "--out", str(out / "eval"))
        results = json.loads((out / "eval" / "results.json").read_text())
        regret = {k: v["mean"] for k, v in results["final_regret"].items()}
        assert set(regret) == {method.upper(), "UCB", "Thompson", "random"}
        assert regret[method.upper()] < regret["random"]  # even a tiny model beats random
        assert (out / "eval" / "curve.png").stat().st_size > 0
        assert "cumulative regret" in (out / "eval" / "report.md").read_text()


def test_darkroom_ad_end_to_end(tmp_path):
    d, out = tmp_path / "data", tmp_path / "ad"
    run(
        "icrl",
        "data",
        "--family",
        "darkroom",
        "--source",
        "q-learning",
        "--episodes",
        "12",
        "--tasks",
        "64",
        "--out",
        str(d),
    )
    run(
        "icrl",
        "train",
        "--data",
        str(d),
        "--context-episodes",
        "2",
        "--steps",
        "40",
        *SMALL,
        "--out",
        str(out),
    )
    run("icrl", "eval", str(out), "--episodes", "6", "--tasks", "17", "--out", str(out / "e"))
    results = json.loads((out / "e" / "results.json").read_text())
    assert results["context_episodes"] == 2 and results["source"]["episodes"] == 12
    curves = (out / "e" / "curves.csv").read_text().splitlines()
    assert curves[0] == "episode,AD,random,source" and len(curves) == 13  # source: 12 episodes


def test_resumed_training_equals_an_uninterrupted_one(tmp_path):
    from plastix.icrl.tasks import Family, FamilyConfig, SourceConfig

    arrays, meta = data.generate(
        Family(FamilyConfig(arms=3, horizon=10)), SourceConfig(source="ucb"), 32, seed=0
    )
    model = training.ModelConfig(dim=16, layers=1, heads=2)
    config = training.TrainConfig(steps=30, batch_size=8, checkpoint_every=10)
    whole, _ = training.train(arrays, meta, model, config, tmp_path / "a")

    def stop(step, loss):
        if step == 15:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        training.train(arrays, meta, model, config, tmp_path / "b", progress=stop)
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert (summary["status"], summary["steps_done"], summary["signal"]) == (
        "interrupted",
        15,
        "SIGINT",
    )
    state = flax.serialization.msgpack_restore((tmp_path / "b" / "checkpoint.msgpack").read_bytes())
    assert int(state["step"]) == 15  # the steps since the checkpoint at 10 are kept
    resumed, losses = training.train(arrays, meta, model, config, tmp_path / "b", resume=True)
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert (summary["status"], summary["steps_done"]) == ("completed", 30)
    for x, y in zip(jax.tree.leaves(whole), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(x, y)
    assert [s for s, _ in losses] == [0, 29]
    state = flax.serialization.msgpack_restore((tmp_path / "b" / "checkpoint.msgpack").read_bytes())
    assert int(state["step"]) == 30


def test_bad_requests_fail_before_any_work(tmp_path, capsys):
    assert main(["icrl", "data", "--family", "maze", "--out", str(tmp_path / "x")]) == 2
    assert "bandit, darkroom, keytodoor, xland" in capsys.readouterr().err
    assert (
        main(
            [
                "icrl",
                "data",
                "--family",
                "keytodoor",
                "--source",
                "ucb",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "q-learning, random" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    assert main(["icrl", "data", "--out", str(tmp_path / "full")]) == 2
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert main(["icrl", "eval", str(tmp_path / "nothing"), "--out", str(tmp_path / "e")]) == 2
    assert main(["icrl", "frobnicate"]) == 2


def test_xland_rulesets_and_histories():
    pytest.importorskip("xminigrid")
    from plastix.icrl.tasks import Family, FamilyConfig, SourceConfig
    from plastix.icrl.xland import generate_rulesets

    rulesets = generate_rulesets(20, seed=1, distractors=2)
    assert rulesets["goals"].shape == (20, 5) and rulesets["init_tiles"].shape == (20, 3, 2)
    # the goal object is among the placed objects, and the objects are distinct
    assert (rulesets["goals"][:, 1:3] == rulesets["init_tiles"][:, 0]).all()
    assert all(len({tuple(t) for t in r}) == 3 for r in rulesets["init_tiles"])
    fam = Family(FamilyConfig(family="xland", horizon=20, xland_rulesets=20))
    assert set(fam.env.tasks("train")).isdisjoint(fam.env.tasks("test"))
    arrays, meta = data.generate(fam, SourceConfig(source="random", episodes=3), 8, seed=0, chunk=8)
    assert arrays["obs"].shape == (8, 60, 50) and 0 <= arrays["obs"].min() <= 1
    assert not set(arrays["task"]) & set(fam.env.tasks("test"))
    assert meta["family"]["xland_rulesets"] == 20


def test_xland_reads_a_benchmark_file_the_user_has(tmp_path):
    pytest.importorskip("xminigrid")
    from xminigrid.benchmarks import save_bz2_pickle

    from plastix.errors import ConfigError
    from plastix.icrl.tasks import Family, FamilyConfig
    from plastix.icrl.xland import generate_rulesets

    save_bz2_pickle(generate_rulesets(12, seed=4), str(tmp_path / "mine"))
    fam = Family(FamilyConfig(family="xland", xland_benchmark=str(tmp_path / "mine")))
    assert len(fam.env.tasks("train")) + len(fam.env.tasks("test")) == 12
    assert fam.settings["xland_benchmark"] == str(tmp_path / "mine")
    with pytest.raises(ConfigError, match="does not exist"):
        Family(FamilyConfig(family="xland", xland_benchmark=str(tmp_path / "nothing")))
    with pytest.raises(ConfigError, match="XLand-MiniGrid id"):
        Family(FamilyConfig(family="xland", xland_env="MiniGrid-Empty-8x8"))


def test_sigterm_stops_training_with_a_true_status(tmp_path):
    """``plastix icrl train`` stopped by SIGTERM exits 143 with status ``interrupted`` and a
    checkpoint of the step it reached (resuming from one: the test above)."""
    from plastix.icrl.tasks import Family, FamilyConfig, SourceConfig

    arrays, meta = data.generate(
        Family(FamilyConfig(arms=3, horizon=10)), SourceConfig(source="ucb"), 32, seed=0
    )
    data.save(tmp_path / "d", arrays, meta)
    out = tmp_path / "run"
    argv = ["icrl", "train", "--data", str(tmp_path / "d"), "--method", "ad", *SMALL]
    argv += ["--checkpoint-every", "5", "--out", str(out)]
    child = subprocess.Popen([sys.executable, "-m", "plastix", *argv, "--steps", "1000000"])
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.msgpack").exists():
            assert child.poll() is None and time.monotonic() < deadline, "no checkpoint written"
            time.sleep(0.2)
        assert json.loads((out / "summary.json").read_text())["status"] == "running"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 143
    finally:
        child.kill()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["steps_done"] >= 5
    assert summary["signal"] == "SIGTERM"
    state = flax.serialization.msgpack_restore((out / "checkpoint.msgpack").read_bytes())
    assert int(state["step"]) == summary["steps_done"]
