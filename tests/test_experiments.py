from pathlib import Path

import pytest

from plastix import api
from plastix.analysis import stats
from plastix.cli import main
from plastix.experiments import EXPERIMENTS, get_experiment, run_experiment
from plastix.experiments.base import tiny, verdict_of


@pytest.mark.parametrize("scale", ["small", "paper"])
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_cell_of_every_experiment_is_a_valid_configuration(name, scale):
    # agent, environment, agent options and interventions are checked together, as a run
    # checks them before compiling (the program and its interventions are built; nothing is
    # compiled or trained)
    for cell in get_experiment(name).cells(scale):
        for checked in (cell, tiny(cell)):
            config = api.agent_config(checked.agent, dict(checked.options))
            runner = api.prepare(
                checked.agent,
                config,
                checked.run_config(2, Path("unused")),
                progress=False,
                plasticity=checked.plasticity,
            )
            runner.program.close()
            # the test budget keeps every intervention inside the shortened run
            assert all(0 < i <= checked.steps for i in runner.scheduler.intervals()), checked


def check_report(experiment, path):
    text = path.read_text()
    assert text.startswith(f"# {experiment.title}")
    assert "## Claims" in text
    verdicts = [line for line in text.splitlines() if line.startswith("- ") and "**" in line]
    assert len(verdicts) >= 1
    assert all(
        any(v in line for v in ("supported", "contradicted", "inconclusive")) for line in verdicts
    )


def run_tiny(name, tmp_path):
    experiment = get_experiment(name)
    path = run_experiment(
        experiment, "small", seeds=2, out=tmp_path / name, progress=False, test_budget=True
    )
    check_report(experiment, path)
    cells = experiment.cells("small")
    for cell in cells:
        stored = (tmp_path / name / cell.directory / "config.json").exists()
        assert stored == (cell.env == cells[0].env)


def test_heavy_priming_runs_at_a_tiny_budget_and_reports_its_claims(tmp_path):
    run_tiny("heavy-priming", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in EXPERIMENTS if n != "heavy-priming"])
def test_every_experiment_runs_at_a_tiny_budget_and_reports_its_claims(name, tmp_path):
    run_tiny(name, tmp_path)


def test_verdicts_follow_the_interval():
    assert verdict_of(stats.Interval(0.8, 0.6, 0.95)) == "supported"
    assert verdict_of(stats.Interval(0.2, 0.05, 0.4)) == "contradicted"
    assert verdict_of(stats.Interval(0.55, 0.3, 0.8)) == "inconclusive"


def test_bad_experiment_arguments_exit_2(capsys):
    assert main(["experiment", "heavy-primng"]) == 2
    assert "valid choices: heavy-priming, replay-ratio-resets" in capsys.readouterr().err
    assert main(["experiment", "heavy-priming", "--scale", "huge"]) == 2
    assert "valid choices: small, paper" in capsys.readouterr().err
    assert main(["experiment", "heavy-priming", "--seeds", "1"]) == 2
    assert "at least 2 seeds" in capsys.readouterr().err
