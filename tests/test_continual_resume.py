"""A scenario run stopped by SIGTERM resumes to the uninterrupted result: the tasks' clock
lives in the environment state of the checkpoint, the task-end returns in the metrics."""

import signal

from test_resume import COMMON, same_run, start_and_stop

import plastix
from plastix import runs


def test_a_scenario_run_resumes_to_the_uninterrupted_result(tmp_path):
    options = dict(env="CartPole-v1", steps=4000, eval_every=1000, hidden_sizes=(16,))
    options = dict(COMMON, **options, learning_starts=100, batch_size=16)
    scenario = dict(scenario="dynamics", switch_every=1000)
    extra = ["--scenario", "dynamics", "--switch-every", "1000"]
    extra += ["--scenario-tasks", "length=2.0", "gravity=15.0"]
    out = tmp_path / "dqn"
    assert start_and_stop("dqn", options, out, signal.SIGTERM, 1200, extra) == 128 + signal.SIGTERM
    assert 0 < runs.load_summary(out)["steps_done"] < 4000
    resumed = plastix.resume(out, progress=False)
    reference = plastix.train(
        "dqn", **options, **scenario, scenario_tasks=("length=2.0", "gravity=15.0")
    )
    same_run(resumed, reference)
    assert resumed.summary["per_seed"] == reference.summary["per_seed"]
    assert len(reference.summary["per_seed"][0]["task_end_returns"]) == 4
