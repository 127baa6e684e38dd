import json

import numpy as np
import pytest

from plastix import runs
from plastix.analysis import stats
from plastix.analysis.report import comparisons, final_scores, write_report
from plastix.cli import main


def fake_run(path, env, offset, seeds=4, with_diagnostics=True):
    """A run directory with known evaluation scores: seed s scores offset + s at the end."""
    path.mkdir(parents=True)
    config = {"agent": "dqn", "run": {"env": env, "replay_ratio": 1.0, "seeds": seeds}}
    (path / runs.CONFIG_FILE).write_text(json.dumps(config))
    (path / runs.SUMMARY_FILE).write_text(json.dumps({"status": "completed"}))
    log = runs.MetricLog()
    for step in (100, 200, 300):
        for s in range(seeds):
            log.add(s, step, "eval_return", offset + s + step / 100 - 3)
            if with_diagnostics:
                log.add(s, step, "critic/fau", 0.5 - step / 1000)
                log.add(s, step, "critic/srank", 10 + s)
    log.write(path)
    return path


@pytest.fixture
def two_configs(tmp_path):
    fake_run(tmp_path / "runs" / "base", "CartPole-v1", 0.0)
    fake_run(tmp_path / "runs" / "better", "CartPole-v1", 10.0)
    return tmp_path / "runs"


def test_final_scores_and_comparison_use_each_seeds_last_values(two_configs):
    table = runs.load_runs(two_configs)
    finals = final_scores(table, last=1)
    base = finals[finals.run.str.endswith("base")].sort_values("seed").score.to_numpy()
    np.testing.assert_array_equal(base, [0, 1, 2, 3])
    two = final_scores(table, last=2)
    base2 = two[two.run.str.endswith("base")].sort_values("seed").score.to_numpy()
    np.testing.assert_array_equal(base2, [-0.5, 0.5, 1.5, 2.5])
    (comparison,) = comparisons(table, order=["base", "better"])
    assert comparison.names == ["base", "better"]
    assert comparison.interval("base").point == stats.iqm([0, 1, 2, 3])
    assert comparison.improvement("better", "base").point == 1.0


def test_report_writes_markdown_and_plots_and_never_overwrites(two_configs, tmp_path):
    out = tmp_path / "report"
    path = write_report(two_configs, out, order=["base", "better"])
    text = path.read_text()
    assert "| better | 4 | 11.5 [" in text  # IQM of 10..13
    assert "P(X > base)" in text and "1.00 [1.00, 1.00]" in text
    for name in ("curves-CartPole-v1.png", "final-CartPole-v1.png", "diagnostics-CartPole-v1.png"):
        assert (out / name).stat().st_size > 1000
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_report(two_configs, out)
    assert path.read_text() == text


def test_report_command_and_its_errors(two_configs, tmp_path, capsys):
    assert main(["report", str(two_configs), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report.md").exists()
    assert main(["report", str(two_configs), "--out", str(tmp_path / "s"), "--metric", "x"]) == 2
    assert "no 'x' values in these runs; logged metrics:" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nothing"), "--out", str(tmp_path / "t")]) == 2


def test_several_environments_are_pooled_only_as_normalised_scores(tmp_path):
    # seed s scores offset + s: CartPole 24 + 451 k is k of the way from random to reference
    for env, offset in (("CartPole-v1", 24.0), ("dmc:walker-walk", 0.0)):
        fake_run(tmp_path / "runs" / env / "a", env, offset, with_diagnostics=False)
    names = {str(p): "a" for p in (tmp_path / "runs").glob("*/a")}
    text = write_report(tmp_path / "runs", tmp_path / "out", names=names).read_text()
    assert "## Pooled over 2 environments (normalised scores)" in text
    pooled = np.concatenate([np.arange(4) / 451, np.arange(4) / 1000])
    assert f"| a | 4 × 2 | {stats.iqm(pooled):.3f} [" in text
    # MinAtar has no normalisation: nothing is pooled
    fake_run(tmp_path / "more" / "MinAtar-Breakout" / "a", "MinAtar-Breakout", 0.0)
    fake_run(tmp_path / "more" / "CartPole-v1" / "a", "CartPole-v1", 0.0)
    names = {str(p): "a" for p in (tmp_path / "more").glob("*/a")}
    text = write_report(tmp_path / "more", tmp_path / "out2", names=names).read_text()
    assert "Pooled" not in text
