"""``plastix experiment continual``: its claims read the task-end returns (checked on made-up
scores), and at a test budget its cells train through task switches and its report says each
verdict."""

import numpy as np
import pandas as pd
import pytest

from plastix import runs
from plastix.experiments import get_experiment, run_experiment
from plastix.experiments.continual import CONTINUAL_CURES, continual_claims
from plastix.experiments.results import Results


def made_up(first: dict, late: dict) -> Results:
    """Five seeds per group, three tasks; task-end returns ``first[g]`` on the first task and
    ``late[g]`` on the other two (plus seed noise)."""
    rows, finals, groups = [], [], {}
    for group in first:
        run = f"out/CartPole-v1/{group}"
        groups[run] = ("CartPole-v1", group)
        for seed in range(5):
            values = [first[group] + seed, late[group] + seed, late[group] + seed]
            for task, value in enumerate(values):
                rows.append((run, "CartPole-v1", seed, 100 * (task + 1), "task_end_return", value))
            finals.append((run, "CartPole-v1", seed, np.mean(values[-3:])))
    table = pd.DataFrame(rows, columns=["run", "env", "seed", "step", "metric", "value"])
    finals = pd.DataFrame(finals, columns=["run", "env", "seed", "score"])
    return Results(finals, groups, table)


def test_the_claims_follow_the_task_end_returns():
    cures = [c for c, _ in CONTINUAL_CURES]
    # vanilla falls from 400 to 100; every cure holds 300; seeds spread by 0..4
    r = made_up(
        {"vanilla": 400, **dict.fromkeys(cures, 400)}, {"vanilla": 100, **dict.fromkeys(cures, 300)}
    )
    claims = continual_claims(r)
    assert [c.verdict for c in claims] == ["supported"] * 6
    assert "P(first task > last tasks) = 1.00" in claims[0].evidence
    # a decline, and every cure worse still: contradicted
    worse = made_up(
        {"vanilla": 400, **dict.fromkeys(cures, 400)}, {"vanilla": 300, **dict.fromkeys(cures, 100)}
    )
    assert [c.verdict for c in continual_claims(worse)] == ["supported"] + ["contradicted"] * 5
    # no decline: nothing for a cure to keep, so the cure claims cannot be tested
    flat = made_up(
        {"vanilla": 300, **dict.fromkeys(cures, 300)}, {"vanilla": 400, **dict.fromkeys(cures, 100)}
    )
    claims = continual_claims(flat)
    assert [c.verdict for c in claims] == ["contradicted"] + ["not testable"] * 5
    assert "precondition not met" in claims[1].evidence


@pytest.mark.slow
def test_the_continual_experiment_runs_at_a_tiny_budget_and_judges_per_task_scores(tmp_path):
    experiment = get_experiment("continual")
    out = tmp_path / "continual"
    path = run_experiment(experiment, "small", seeds=2, out=out, progress=False, test_budget=True)
    text = path.read_text()
    claims = [line for line in text.splitlines() if line.startswith("- ") and "**" in line]
    assert len(claims) == 6  # the decline, then five cures against vanilla
    assert "P(first task > last tasks)" in claims[0]
    assert all("P(" in line and "vs vanilla" in line for line in claims[1:])
    for cell in experiment.cells("small"):
        summary = runs.load_summary(out / cell.directory)
        assert summary["scenario"].startswith("permuted")
        for per_seed in summary["per_seed"]:
            assert len(per_seed["task_end_returns"]) == 3  # tiny: 3 tasks of 512 steps
            assert np.isfinite(per_seed["task_end_returns"]).all()
