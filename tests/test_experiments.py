from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plastix import api
from plastix.analysis import stats
from plastix.cli import main
from plastix.envs import check_env_name
from plastix.experiments import EXPERIMENTS, get_experiment, run_experiment
from plastix.experiments.base import tiny
from plastix.experiments.results import Results, verdict_of


@pytest.mark.parametrize("scale", ["small", "medium", "paper"])
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_cell_of_every_experiment_is_a_valid_configuration(name, scale, monkeypatch):
    # agent, environment, agent options and interventions are checked together, as a run
    # checks them before compiling (the program and its interventions are built; nothing is
    # compiled or trained). Paper budgets are sized for a GPU's memory (a 10⁶-frame pixel
    # buffer is ~21 GB per seed): the check against this machine's free memory is left out.
    if scale == "paper":
        monkeypatch.setattr("plastix.training.offpolicy.available_memory", lambda: None)
    built = set()
    for cell in get_experiment(name).cells(scale):
        # one program per agent, domain and configuration (the 26 Atari games share one);
        # every other environment id is checked by name
        kind = (cell.agent, cell.env.split(":")[0], cell.group, cell.replay_ratio)
        if kind in built:
            check_env_name(cell.env)
            continue
        built.add(kind)
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


def test_paper_scale_is_the_papers_protocol():
    # a few of the values the protocols take from the papers and their code
    rr = {(c.env, c.group): c for c in get_experiment("replay-ratio-resets").cells("paper")}
    sac = rr[("dmc:quadruped-run", "rr32-reset")]
    assert sac.agent == "sac" and sac.steps == 2_000_000 and sac.replay_ratio == 32
    assert sac.plasticity.reset.recipe == "primacy-sac" and sac.plasticity.reset.every == 200_000
    assert len({env for env, _ in rr}) == 10 + 26
    arr = {c.group: c for c in get_experiment("adaptive-replay-ratio").cells("paper")}
    schedule = arr["arr"].plasticity.replay_schedule
    assert arr["arr"].agent == "drqv2" and arr["arr"].env.startswith("dmc-pixels:")
    assert (schedule.low, schedule.high, schedule.check_episodes) == (0.5, 2.0, 50)
    assert schedule.threshold == 0.001 and schedule.window == "last-episode"
    assert get_experiment("adaptive-replay-ratio").default_seeds["paper"] == 5
    for name, experiment in EXPERIMENTS.items():
        assert experiment.default_seeds["small"] >= 10, name
        assert {"medium", "paper"} <= set(experiment.protocols), name


def check_report(experiment, path):
    text = path.read_text()
    assert text.startswith(f"# {experiment.title}")
    assert "## Claims" in text
    verdicts = [line for line in text.splitlines() if line.startswith("- ") and "**" in line]
    assert len(verdicts) >= 1
    assert all(
        any(v in line for v in ("supported", "contradicted", "inconclusive", "not testable"))
        for line in verdicts
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


def synthetic(groups: dict) -> Results:
    """Results of made-up final scores ``{group: {env: [seeds]}}``."""
    finals, names = [], {}
    for group, per_env in groups.items():
        for env, scores in per_env.items():
            run = f"out/{env}/{group}"
            names[run] = (env, group)
            finals += [(run, env, seed, float(v)) for seed, v in enumerate(scores)]
    return Results(pd.DataFrame(finals, columns=["run", "env", "seed", "score"]), names)


def test_a_no_better_claim_needs_its_interval_inside_the_margin():
    rng = np.random.default_rng(0)
    noisy = {"A": {"e": rng.normal(0, 10, 5)}, "B": {"e": rng.normal(0, 10, 5)}}
    wide = synthetic(noisy).not_better("A", "B", "A adds little.")
    assert wide.verdict == "inconclusive" and "margin: P ≤ 0.7" in wide.evidence
    # A clearly worse: its advantage is below the margin -> supported
    worse = synthetic({"A": {"e": [0, 1, 2, 3, 4]}, "B": {"e": [10, 11, 12, 13, 14]}})
    assert worse.not_better("A", "B", "A adds little.").verdict == "supported"
    # A clearly better -> contradicted
    better = synthetic({"A": {"e": [10, 11, 12, 13, 14]}, "B": {"e": [0, 1, 2, 3, 4]}})
    assert better.not_better("A", "B", "A adds little.").verdict == "contradicted"
    # ties everywhere (identical scores): P = 0.5 exactly, inside the margin
    same = synthetic({"A": {"e": [1] * 8}, "B": {"e": [1] * 8}})
    assert same.not_better("A", "B", "A adds little.").verdict == "supported"


def test_a_claim_whose_precondition_fails_is_not_testable():
    r = synthetic({"A": {"e": [10, 11, 12, 13, 14]}, "B": {"e": [0, 1, 2, 3, 4]}})
    holds, fails = r.compare("A", "B", "A beats B."), r.compare("B", "A", "B beats A.")
    claim = r.compare("A", "B", "the claim")
    assert r.given(holds, claim) == claim
    untestable = r.given(fails, claim)
    assert untestable.verdict == "not testable" and "precondition not met" in untestable.evidence
    assert untestable.line.startswith("- ⚪ **not testable**")


def test_several_environments_are_not_pooled_in_the_evidence():
    r = synthetic(
        {
            "A": {"CartPole-v1": [400, 410, 420], "Pendulum-v1": [-150, -140, -145]},
            "B": {"CartPole-v1": [100, 110, 120], "Pendulum-v1": [-300, -310, -305]},
        }
    )
    claim = r.compare("A", "B", "A beats B.")
    assert claim.verdict == "supported"
    assert "CartPole-v1: 410.0 vs 110.0" in claim.evidence
    assert "Pendulum-v1: -145.0 vs -305.0" in claim.evidence


def test_pooled_iqm_of_normalised_scores_matches_a_hand_computed_value():
    # Atari: (s - random) / (human - random); DMC: s / 1000
    pong = [-20.7 + 0.5 * (14.6 + 20.7), -20.7, -20.7 + 0.25 * (14.6 + 20.7), -20.7 + (14.6 + 20.7)]
    r = synthetic(
        {
            "A": {"atari:Pong": pong, "dmc:walker-walk": [100, 200, 300, 400]},
            "B": {"atari:Pong": [-20.7] * 4, "dmc:walker-walk": [0, 0, 0, 0]},
        }
    )
    pooled = r.pooled("A", ["atari:Pong", "dmc:walker-walk"])
    np.testing.assert_allclose(pooled[:, 0], [0.5, 0.0, 0.25, 1.0], atol=1e-12)
    # the 8 normalised scores sorted: 0, .1, .2, .25, .3, .4, .5, 1; IQM = mean of the middle 4
    assert stats.iqm(pooled) == pytest.approx((0.2 + 0.25 + 0.3 + 0.4) / 4)
    claim = r.compare("A", "B", "A beats B.", ["atari:Pong", "dmc:walker-walk"])
    assert "pooled IQM of normalised scores (human-normalised, score/1000) A 0.28" in (
        claim.evidence
    )
    # an environment without a normalisation is not pooled
    assert r.pooled("A", ["atari:Pong", "MinAtar-Breakout"]) is None


def test_median_is_rliable_s_median_of_per_task_means():
    # rliable.metrics.aggregate_median: np.median(np.mean(scores, axis=0)) over [runs, tasks]
    scores = np.array([[1.0, 10.0, 100.0], [3.0, 30.0, 300.0]])  # task means 2, 20, 200
    assert stats.interval(scores, "median", reps=10).point == 20.0
    assert stats.interval([1.0, 2.0, 9.0], "median", reps=10).point == 4.0  # one task: its mean


def test_bad_experiment_arguments_exit_2(capsys):
    assert main(["experiment", "heavy-primng"]) == 2
    assert "valid choices: heavy-priming, replay-ratio-resets" in capsys.readouterr().err
    assert main(["experiment", "heavy-priming", "--scale", "huge"]) == 2
    assert "valid choices: small, medium, paper" in capsys.readouterr().err
    assert main(["experiment", "heavy-priming", "--seeds", "1"]) == 2
    assert "at least 2 seeds" in capsys.readouterr().err
