import pytest

from plastix.analysis import stats
from plastix.cli import main
from plastix.experiments import EXPERIMENTS, get_experiment, run_experiment
from plastix.experiments.base import verdict_of


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_experiment_runs_at_a_tiny_budget_and_reports_its_claims(name, tmp_path):
    experiment = get_experiment(name)
    path = run_experiment(
        experiment, "small", seeds=2, out=tmp_path / name, progress=False, test_budget=True
    )
    text = path.read_text()
    assert text.startswith(f"# {experiment.title}")
    assert "## Claims" in text
    verdicts = [line for line in text.splitlines() if line.startswith("- ") and "**" in line]
    assert len(verdicts) >= 1
    assert all(
        any(v in line for v in ("supported", "contradicted", "inconclusive")) for line in verdicts
    )
    cells = experiment.cells("small")
    for cell in cells:
        stored = (tmp_path / name / cell.directory / "config.json").exists()
        assert stored == (cell.env == cells[0].env)


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
