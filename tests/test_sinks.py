"""``--log csv,tensorboard,wandb``: the same rows as the run store, under the same names."""

import struct
import sys
import types

import numpy as np
import pandas as pd
import pytest

import plastix
from plastix import runs
from plastix.cli import main
from plastix.errors import ConfigError
from plastix.training.sinks import CSV_FILE, Sinks

TINY = dict(
    steps=600,
    seeds=2,
    eval_every=200,
    eval_episodes=1,
    log_every=200,
    hidden_sizes=(8,),
    batch_size=8,
    learning_starts=100,
    progress=False,
)


def events(path):
    """``(tag, step, value)`` of every scalar in a folder's TensorBoard event files (TFRecord:
    length, its CRC, the Event proto, its CRC)."""
    from tensorboardX.proto import event_pb2

    out = []
    for file in sorted(path.glob("events.out.tfevents.*")):
        data = file.read_bytes()
        i = 0
        while i < len(data):
            (length,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event.FromString(data[i + 12 : i + 12 + length])
            i += 12 + length + 4
            for v in event.summary.value:
                out.append((v.tag, event.step, v.simple_value))
    return out


def test_csv_and_tensorboard_hold_the_run_store_s_rows(tmp_path):
    out = tmp_path / "run"
    plastix.train("dqn", "CartPole-v1", out=out, log=("csv", "tensorboard"), **TINY)
    stored = runs.load_metrics(out)
    csv = pd.read_csv(out / CSV_FILE)
    pd.testing.assert_frame_equal(
        csv, stored[["seed", "step", "metric", "value"]], check_dtype=False
    )
    for seed in (0, 1):
        scalars = events(out / "tensorboard" / f"seed_{seed}")
        mine = stored[stored.seed == seed]
        assert len(scalars) == len(mine)
        got = sorted((t, s) for t, s, _ in scalars)
        assert got == sorted(zip(mine.metric, mine.step, strict=True))
        evals = sorted((s, v) for t, s, v in scalars if t == "eval_return")
        want = mine[mine.metric == "eval_return"].sort_values("step")
        np.testing.assert_allclose([v for _, v in evals], want.value, rtol=1e-6)


def test_wandb_gets_one_offline_run_per_seed_with_every_row(tmp_path, monkeypatch):
    calls = []

    class Run:
        def __init__(self, **kwargs):
            self.kwargs, self.rows, self.finished = kwargs, [], False
            calls.append(self)

        def log(self, values, step):
            self.rows.append((step, *values.items()))

        def finish(self):
            self.finished = True

    fake = types.SimpleNamespace(init=lambda **kwargs: Run(**kwargs))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    out = tmp_path / "run"
    plastix.train("dqn", "CartPole-v1", out=out, log=("wandb",), **TINY)
    stored = runs.load_metrics(out)
    assert [c.kwargs["name"] for c in calls] == ["run-seed0", "run-seed1"]
    for seed, run in enumerate(calls):
        assert run.kwargs["mode"] == "offline" and run.kwargs["group"] == "run"
        assert run.kwargs["config"]["agent"] == "dqn" and run.finished
        mine = stored[stored.seed == seed]
        assert [(s, (m, v)) for s, (m, v) in run.rows] == list(
            zip(mine.step, zip(mine.metric, mine.value, strict=True), strict=True)
        )


def test_the_real_wandb_writes_offline_runs(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    out = tmp_path / "run"
    plastix.train("dqn", "CartPole-v1", out=out, log=("wandb",), **TINY)
    assert len(list((out / "wandb").glob("offline-run-*"))) == 2


def test_a_resumed_run_sends_on_from_its_checkpoint(tmp_path):
    log = runs.MetricLog()
    for step in range(5):
        log.add(0, step, "x", float(step))
    sinks = Sinks(tmp_path, ("csv",), [0])
    sinks.skip(3)
    sinks.send(log)
    assert sinks.sent == 5
    assert len(pd.read_csv(tmp_path / CSV_FILE)) == 5  # the csv is always the whole table


def test_bad_sinks_are_refused_before_anything_runs(tmp_path, capsys, monkeypatch):
    with pytest.raises(ConfigError, match="set out"):
        plastix.train("dqn", "CartPole-v1", log=("csv",), **TINY)
    with pytest.raises(SystemExit) as e:
        main(["train", "dqn", "--log", "mlflow", "--out", str(tmp_path / "x")])
    assert e.value.code == 2
    assert "valid choices: csv, tensorboard, wandb" in " ".join(capsys.readouterr().err.split())
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if not installed
    out = tmp_path / "y"
    assert main(["train", "dqn", "--log", "tensorboard", "--out", str(out)]) == 2
    assert "pip install 'plastix[tensorboard]'" in capsys.readouterr().err
    assert not out.exists()
