"""``plastix sweep``: the grid is checked before anything starts; one run directory a point."""

import json

import pytest

from plastix.cli import main

BASE = [
    "--env",
    "CartPole-v1",
    "--steps",
    "300",
    "--learning-starts",
    "100",
    "--hidden-sizes",
    "16",
    "--eval-every",
    "300",
    "--seeds",
    "2",
]


@pytest.mark.parametrize(
    "grid, message",
    [
        (["learning_rat=1e-3"], "dqn has no option 'learning_rat'. Did you mean: learning_rate"),
        (["learning_rate=1e-3,oops"], "--grid point learning_rate=oops"),
        (["reset.every=100,-5"], "reset.every must be a positive interval, got -5"),
        (["learning_rate"], "write NAME=V1,V2"),
        (["out=a,b"], "cannot vary out"),
        (["learning_rate=1e-3", "--seeds-per-task", "x"], "--seeds-per-task must be a whole"),
        (["learning_rate=1e-3", "--seeds-per-task", "0"], "--seeds-per-task must be >= 1"),
        (["learning_rate=1e-3", "--backend", "slurm"], "unknown backend 'slurm'"),
    ],
)
def test_a_bad_grid_is_refused_before_any_point_starts(capsys, tmp_path, grid, message):
    code = main(["sweep", "dqn", "--grid", *grid, *BASE, "--out", str(tmp_path / "s")])
    assert code == 2
    assert message in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "s").exists()


def test_a_sweep_makes_one_run_directory_per_point(tmp_path, capsys):
    out = tmp_path / "s"
    grid = ["--grid", "learning_rate=1e-3,3e-4", "reset.every=200"]
    assert main(["sweep", "dqn", *grid, *BASE, "--out", str(out)]) == 0
    points = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert points == ["learning_rate=1e-3,reset.every=200", "learning_rate=3e-4,reset.every=200"]
    config = json.loads((out / points[0] / "config.json").read_text())
    assert config["agent_config"]["learning_rate"] == 1e-3
    assert config["plasticity"]["reset"]["every"] == 200
    assert json.loads((out / "sweep.json").read_text())["backend"] == "local"
    # the points exist now: a second sweep into the same folder is refused, nothing lost
    before = (out / points[0] / "metrics.parquet").read_bytes()
    assert main(["sweep", "dqn", *grid, *BASE, "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert (out / points[0] / "metrics.parquet").read_bytes() == before
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
